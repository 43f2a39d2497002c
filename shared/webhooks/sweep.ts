// The expiry sweep (EventBridge Scheduler in AWS, a timer in the local runtime): keys whose next
// notice is due are found through the sparse byNoticeDue index (never a table scan). For each, one
// conditional write records the notice and moves `noticeAt` on; only the writer whose condition
// held sends it (through the key's stream record), so every threshold goes out once however often
// and however concurrently the sweep runs.
import { NOTICE_SHARDS } from '../domain/key-mint.ts';
import type { ApiKeyItem } from '../domain/key-item.ts';
import { conditionalUpdate, queryAll } from '../db/client.ts';
import { iso } from '../domain/time.ts';
import { dueNotice } from '../domain/webhooks.ts';
import { tableName } from '../tables.ts';

function dueKeys(shard: string, now: Date): Promise<ApiKeyItem[]> {
  return queryAll<ApiKeyItem>({
    TableName: tableName('apiKeys'),
    IndexName: 'byNoticeDue',
    KeyConditionExpression: 'noticeShard = :s AND noticeAt <= :now',
    ExpressionAttributeValues: { ':s': shard, ':now': iso(now) },
  });
}

/** Record the due notice of one key; false when another sweep (or a change to the key) got there first. */
async function recordNotice(key: ApiKeyItem, now: Date): Promise<boolean> {
  const notice = dueNotice(new Date(key.expiresAt), now);
  const updated = await conditionalUpdate({
    TableName: tableName('apiKeys'),
    Key: { id: key.id },
    UpdateExpression: notice.next ? 'SET lastNotice = :notice, noticeAt = :next' : 'SET lastNotice = :notice REMOVE noticeAt, noticeShard',
    // The index is eventually consistent: the item must still be as the index showed it.
    ConditionExpression: 'noticeAt = :seen AND expiresAt = :expiresAt AND #status <> :revoked',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: {
      ':notice': notice.kind,
      ':seen': key.noticeAt,
      ':expiresAt': key.expiresAt,
      ':revoked': 'revoked',
      ...(notice.next ? { ':next': iso(notice.next) } : {}),
    },
  });
  return updated !== undefined;
}

/** Send every notice due at `now` (injectable for tests); returns how many were recorded. */
export async function sweepExpiringKeys(now: Date = new Date()): Promise<number> {
  let sent = 0;
  for (let shard = 0; shard < NOTICE_SHARDS; shard++) {
    for (const key of await dueKeys(`n${shard}`, now)) {
      if (await recordNotice(key, now)) sent++;
    }
  }
  return sent;
}
