// The one-off upgrade step for expiry notices (`keygate notices backfill`): keys stored before the
// sweep existed have no `noticeShard`/`noticeAt`, so the byNoticeDue index never shows them. This
// scans api-keys for such keys (a Scan, so an operator command, never a request path) and gives each
// the next notice a key created now would get (shared/domain/webhooks.ts noticeBackfill). Every write
// is conditional on the key being as it was read, so a revoke, roll or sweep meanwhile wins; running
// it again finds nothing to do. The write changes no field an event is made from: it sends nothing.
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { noticeBackfill, type NoticeFields } from '../domain/webhooks.ts';
import { iso } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import { noticeShard } from '../domain/key-mint.ts';
import { conditionalUpdate, db, pages } from './client.ts';

type ScannedKey = NoticeFields & { id: string; keyHash: string; organizationId: string };

export interface BackfillProgress {
  /** Scan pages read so far. */
  pages: number;
  /** Items DynamoDB read (what the scan costs). */
  scanned: number;
  /** Of those, keys without `noticeShard`. */
  unindexed: number;
  /** Keys given their next notice (or, with dryRun, that would be). */
  set: number;
  /** Keys left alone: revoked, expired, or already notified by the sweep. */
  skipped: { revoked: number; expired: number; notified: number };
  /** Keys that changed between the read and the write (left as the change made them; a re-run looks again). */
  changedMeanwhile: number;
}

export interface BackfillOptions {
  now?: Date;
  /** Read and count only; write nothing. */
  dryRun?: boolean;
  /** Only this organization's keys (to try the step on one first). */
  organizationId?: string;
  /** Items per Scan page (DynamoDB's Limit, before the filter). */
  pageSize?: number;
  /** Called after every page, for progress on long tables. */
  onPage?: (progress: BackfillProgress) => void;
}

/** Give it its next notice, if it is still exactly as scanned; false when something changed it. */
async function setNotice(key: ScannedKey, noticeAt: Date): Promise<boolean> {
  const updated = await conditionalUpdate({
    TableName: tableName('apiKeys'),
    Key: { id: key.id },
    UpdateExpression: 'SET noticeShard = :shard, noticeAt = :at',
    // expiresAt = :expiresAt also means the item still exists (an update would otherwise create one).
    ConditionExpression: [
      'expiresAt = :expiresAt',
      '#status <> :revoked',
      'attribute_not_exists(noticeShard)',
      'attribute_not_exists(lastNotice)',
      key.noticeAt === undefined ? 'attribute_not_exists(noticeAt)' : 'noticeAt = :seenAt',
    ].join(' AND '),
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: {
      ':shard': noticeShard(key.keyHash),
      ':at': iso(noticeAt),
      ':expiresAt': key.expiresAt,
      ':revoked': 'revoked',
      ...(key.noticeAt === undefined ? {} : { ':seenAt': key.noticeAt }),
    },
  });
  return updated !== undefined;
}

export async function backfillNotices(options: BackfillOptions = {}): Promise<BackfillProgress> {
  const now = options.now ?? new Date();
  const progress: BackfillProgress = { pages: 0, scanned: 0, unindexed: 0, set: 0, skipped: { revoked: 0, expired: 0, notified: 0 }, changedMeanwhile: 0 };
  const org = options.organizationId;
  const scan = (start: Record<string, unknown> | undefined) =>
    db.send(
      new ScanCommand({
        TableName: tableName('apiKeys'),
        // Only what the rule and the write need (never a publishable key's plaintext).
        ProjectionExpression: 'id, keyHash, organizationId, #status, expiresAt, noticeShard, noticeAt, lastNotice',
        FilterExpression: `attribute_not_exists(noticeShard)${org ? ' AND organizationId = :org' : ''}`,
        ExpressionAttributeNames: { '#status': 'status' },
        ...(org ? { ExpressionAttributeValues: { ':org': org } } : {}),
        Limit: options.pageSize ?? 500,
        ExclusiveStartKey: start,
      }),
    );
  for await (const page of pages(scan)) {
    progress.pages++;
    progress.scanned += page.ScannedCount ?? 0;
    for (const key of (page.Items ?? []) as ScannedKey[]) {
      progress.unindexed++;
      const decision = noticeBackfill(key, now);
      if (decision.action === 'skip') {
        if (decision.reason !== 'indexed') progress.skipped[decision.reason]++;
      } else if (options.dryRun || (await setNotice(key, decision.noticeAt))) {
        progress.set++;
      } else {
        progress.changedMeanwhile++;
      }
    }
    options.onPage?.({ ...progress, skipped: { ...progress.skipped } });
  }
  return progress;
}
