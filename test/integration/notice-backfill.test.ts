// The upgrade step for expiry notices against DynamoDB Local: keys stored as before notices existed
// (no noticeShard/noticeAt) get the next notice a key created now would get and show in byNoticeDue;
// revoked and expired keys, and keys that already have one, are left byte for byte; a dry run and a
// second run write nothing; a key revoked between the scan and the write stays revoked. Each test
// scopes the scan to its own organizations, because other files share this table.
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mintKey, noticeShard } from '../../shared/domain/key-mint.ts';
import { putNewKey, revokeKey, rollKey } from '../../shared/db/api-keys.ts';
import type { ApiKeyItem } from '../../shared/domain/key-item.ts';
import { db } from '../../shared/db/client.ts';
import { backfillNotices } from '../../shared/db/notice-backfill.ts';
import { createOrganization } from '../../shared/db/organizations.ts';
import { firstNoticeAt } from '../../shared/domain/webhooks.ts';
import { tableName } from '../../shared/tables.ts';
import { TEST_AUDIT } from '../support/audit.ts';
import { newKeySettings } from '../support/keys.ts';

const DAY = 86_400_000;
const PREFIXES = { secret: 'sk_', publishable: 'pk_' };
const now = new Date();

async function storedKey(organizationId: string, expiresInDays: number, createdAt = now): Promise<ApiKeyItem> {
  const { item } = mintKey(newKeySettings({ organizationId, name: 'legacy', expiresInDays }), PREFIXES, createdAt);
  await putNewKey(item, TEST_AUDIT, createdAt);
  return item;
}

/** A key as a version before expiry notices stored it: no noticeShard, no noticeAt. */
async function legacyKey(organizationId: string, expiresInDays: number, createdAt = now): Promise<ApiKeyItem> {
  const item = await storedKey(organizationId, expiresInDays, createdAt);
  await db.send(new UpdateCommand({ TableName: tableName('apiKeys'), Key: { id: item.id }, UpdateExpression: 'REMOVE noticeAt, noticeShard' }));
  return item;
}

async function read(id: string): Promise<ApiKeyItem> {
  return (await db.send(new GetCommand({ TableName: tableName('apiKeys'), Key: { id }, ConsistentRead: true }))).Item as ApiKeyItem;
}

async function inNoticeIndex(item: ApiKeyItem): Promise<boolean> {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: tableName('apiKeys'),
      IndexName: 'byNoticeDue',
      KeyConditionExpression: 'noticeShard = :s AND noticeAt = :at',
      ExpressionAttributeValues: { ':s': noticeShard(item.keyHash), ':at': item.noticeAt },
    }),
  );
  return (Items ?? []).some((i) => i.id === item.id);
}

describe('notice backfill', () => {
  let orgId: string;
  const keys: Record<string, ApiKeyItem> = {};
  beforeAll(async () => {
    orgId = (await createOrganization('Upgraded Co', 'owner-1', 100, TEST_AUDIT, now)).id;
    keys.year = await legacyKey(orgId, 365);
    keys.twentyDays = await legacyKey(orgId, 20);
    keys.disabled = await legacyKey(orgId, 100);
    await db.send(
      new UpdateCommand({ TableName: tableName('apiKeys'), Key: { id: keys.disabled.id }, UpdateExpression: 'SET #s = :d', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':d': 'disabled' } }),
    );
    keys.revoked = await legacyKey(orgId, 200);
    await revokeKey(orgId, keys.revoked.id, TEST_AUDIT, now);
    keys.expired = await legacyKey(orgId, 30, new Date(now.getTime() - 40 * DAY));
    keys.rolledOld = await legacyKey(orgId, 90);
    keys.rolledNew = (await rollKey(keys.rolledOld, 24, 'owner-1', PREFIXES, TEST_AUDIT, now)).item;
    keys.current = await storedKey(orgId, 60);
  });

  it('a dry run counts what it would do and writes nothing', async () => {
    const before = await Promise.all(Object.values(keys).map((k) => read(k.id)));
    const result = await backfillNotices({ now, dryRun: true, organizationId: orgId });
    expect(result).toMatchObject({ unindexed: 6, set: 4, skipped: { revoked: 1, expired: 1, notified: 0 }, changedMeanwhile: 0 });
    expect(await Promise.all(Object.values(keys).map((k) => read(k.id)))).toEqual(before);
  });

  it('gives each live legacy key the notice a new key would get, and the sweep index shows it', async () => {
    const untouched = await Promise.all([keys.revoked!, keys.expired!, keys.current!, keys.rolledNew!].map((k) => read(k.id)));
    const rolledBefore = await read(keys.rolledOld!.id);
    expect(rolledBefore.noticeShard).toBeUndefined(); // a roll of a legacy key sets noticeAt only

    const pages: number[] = [];
    const result = await backfillNotices({ now, organizationId: orgId, pageSize: 2, onPage: (p) => pages.push(p.pages) });
    expect(result).toMatchObject({ unindexed: 6, set: 4, skipped: { revoked: 1, expired: 1, notified: 0 }, changedMeanwhile: 0 });
    expect(pages.length).toBeGreaterThan(1); // paginated, with progress per page
    expect(pages).toEqual(pages.map((_, i) => i + 1));

    for (const name of ['year', 'twentyDays', 'disabled'] as const) {
      const item = await read(keys[name]!.id);
      // One of four shards, by the last byte of the key's hash (written out, not read from the code).
      expect(item.noticeShard).toBe(`n${parseInt(item.keyHash.slice(-2), 16) % 4}`);
      expect(item.noticeAt).toBe(firstNoticeAt(new Date(item.expiresAt), now).toISOString());
      expect(item.lastNotice).toBeUndefined(); // nothing is sent by the backfill itself
      expect(await inNoticeIndex(item)).toBe(true);
    }
    // 20 days left: the 30-day threshold is past and never sent; the 7-day one is next.
    expect((await read(keys.twentyDays!.id)).noticeAt).toBe(new Date(Date.parse(keys.twentyDays!.expiresAt) - 7 * DAY).toISOString());
    // The rolled key keeps its one notice left (expired, at the end of grace) and now has its shard.
    const rolled = await read(keys.rolledOld!.id);
    expect(rolled.noticeAt).toBe(rolledBefore.noticeAt);
    expect(rolled.noticeAt).toBe(rolled.expiresAt);
    expect(await inNoticeIndex(rolled)).toBe(true);

    expect(await Promise.all([keys.revoked!, keys.expired!, keys.current!, keys.rolledNew!].map((k) => read(k.id)))).toEqual(untouched);
    expect((await read(keys.revoked!.id)).noticeShard).toBeUndefined();
    expect((await read(keys.expired!.id)).noticeShard).toBeUndefined();
  });

  it('run again, it changes nothing', async () => {
    const before = await Promise.all(Object.values(keys).map((k) => read(k.id)));
    const result = await backfillNotices({ now: new Date(now.getTime() + 60_000), organizationId: orgId });
    expect(result).toMatchObject({ unindexed: 2, set: 0, skipped: { revoked: 1, expired: 1, notified: 0 }, changedMeanwhile: 0 });
    expect(await Promise.all(Object.values(keys).map((k) => read(k.id)))).toEqual(before);
  });
});

describe('notice backfill racing a change', () => {
  afterEach(() => vi.restoreAllMocks());

  it('a key revoked between the scan and the write stays revoked, without a notice', async () => {
    const orgId = (await createOrganization('Racing Co', 'owner-1', 100, TEST_AUDIT, now)).id;
    const key = await legacyKey(orgId, 120);
    // The revoke lands just before the backfill's write reaches DynamoDB.
    const send = db.send.bind(db) as (command: unknown) => Promise<unknown>;
    let raced = false;
    vi.spyOn(db, 'send').mockImplementation((async (command: unknown) => {
      if (!raced && command instanceof UpdateCommand && command.input.Key?.id === key.id) {
        raced = true;
        await revokeKey(orgId, key.id, TEST_AUDIT, now);
      }
      return send(command);
    }) as typeof db.send);

    const result = await backfillNotices({ now, organizationId: orgId });
    expect(raced).toBe(true);
    expect(result).toMatchObject({ unindexed: 1, set: 0, changedMeanwhile: 1 });
    const item = await read(key.id);
    expect(item.status).toBe('revoked');
    expect(item.noticeShard).toBeUndefined();
    expect(item.noticeAt).toBeUndefined();

    vi.restoreAllMocks();
    expect(await backfillNotices({ now, organizationId: orgId })).toMatchObject({ set: 0, skipped: { revoked: 1 }, changedMeanwhile: 0 });
  });
});
