// The high-volume path (docs/limits.md, "Past one hot item") against DynamoDB Local: the same
// decision code the simulation runs, with the DynamoDB store. Concurrent bursts admit exactly the
// limit, windows roll with an injected clock, and credits taken in batches are exact, including
// when an environment stops between taking a batch and spending it. Each test uses fresh ids.
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { db } from '../../shared/db/client.ts';
import { creditStore, refundCredit, reserveCredit, settleCredits } from '../../shared/db/credits.ts';
import { holdOf, readReservation } from '../../shared/db/credit-reservations.ts';
import { createOrganization, getOrganization } from '../../shared/db/organizations.ts';
import { admit, counterStore } from '../../shared/db/rate-limits.ts';
import { dailyUsage, usageKey } from '../../shared/db/usage.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import { BATCH_TTL_MS, CreditMemory, RECLAIM_GRACE_MS, reserveFromBatch } from '../../shared/limits/credit-batches.ts';
import { admitSharded, LimiterMemory } from '../../shared/limits/sharded.ts';
import { tableName } from '../../shared/tables.ts';
import { TEST_AUDIT } from '../support/audit.ts';
import { widenDbPools } from '../support/db-pool.ts';

const T = new Date('2031-05-06T10:20:30.000Z');
const DAY = '2031-05-06';
const at = (iso: string) => new Date(iso);
/** High-volume by its minute limit; a small day limit makes bursts at the limit affordable here. */
const HIGH = (perDay: number): Limits => ({ perMinute: 15_000, perDay });

/** A burst stands for as many Lambda invocations: give this one process a connection pool that wide. */
beforeAll(async () => {
  widenDbPools();
  const warm = subject(HIGH(100_000));
  await Promise.allSettled(Array.from({ length: 200 }, () => admit(warm, T)));
});

function subject(orgLimits: Limits, keyLimits: Partial<Limits> | null = null, organizationId = newId('org'), keyId = `key_${newId('req').slice(4)}`): RateSubject {
  return { organizationId, keyId, orgLimits, keyLimits };
}

async function burst(subjects: RateSubject[], now: Date) {
  const results = await Promise.allSettled(subjects.map((s) => admit(s, now)));
  const rejected = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as ApiError);
  return { admitted: results.length - rejected.length, rejected };
}

async function item(pk: string, sk: string) {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: { pk, sk }, ConsistentRead: true }));
  return Item;
}

describe('admission on shards under real concurrency', () => {
  it('a burst of 400 concurrent requests on a day limit of 300 admits exactly 300; the rest are 429 and count nowhere', { timeout: 120_000 }, async () => {
    const organizationId = newId('org');
    const keys = Array.from({ length: 4 }, () => `key_${newId('req').slice(4)}`);
    const subjects = Array.from({ length: 400 }, (_, i) => subject(HIGH(300), null, organizationId, keys[i % 4]));
    const { admitted, rejected } = await burst(subjects, T);
    expect(admitted).toBe(300);
    expect(rejected).toHaveLength(100);
    expect(rejected.filter((e) => !(e instanceof ApiError && e.code === 'RATE_LIMIT_EXCEEDED')).map(String)).toEqual([]);
    // The day is full: a 429 says so, and Retry-After points at the end of the UTC day.
    expect(rejected[0]!.headers).toMatchObject({ 'X-RateLimit-Limit': '300', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(Date.parse('2031-05-07T00:00:00Z') / 1000) });
    // Usage: the organization's shards hold exactly the admitted requests, the keys' own items too.
    const [orgDay] = await dailyUsage({ organizationId }, 1, T);
    expect(orgDay).toMatchObject({ date: DAY, requests: 300 });
    let keyTotal = 0;
    for (const keyId of keys) keyTotal += (await dailyUsage({ organizationId, keyId }, 1, T))[0]!.requests;
    expect(keyTotal).toBe(300);
    // What was found full is on the keys' items: a fresh environment refuses with one failed write
    // on the key's item (its count unchanged), without trying a shard.
    const keyItem = await item(`usage#key#${keys[0]}`, DAY);
    expect(keyItem).toMatchObject({ ofd: '2031-05-06|15000|300' });
    const count = vi.fn<typeof counterStore.count>(counterStore.count);
    const fresh = await admitSharded({ ...counterStore, count }, new LimiterMemory(), subject(HIGH(300), null, organizationId, keys[0]), T, Math.random);
    expect(fresh).toMatchObject({ admitted: false });
    expect(count.mock.calls.map(([target]) => target)).toEqual([{ keyId: keys[0] }]);
    expect(await item(`usage#key#${keys[0]}`, DAY)).toMatchObject({ requests: keyItem!.requests });
    expect((await dailyUsage({ organizationId }, 1, T))[0]).toMatchObject({ requests: 300 });
  });

  it("a key's own limit is exact on the high-volume path, and its refusals consume nothing", { timeout: 60_000 }, async () => {
    const organizationId = newId('org');
    const keyId = `key_${newId('req').slice(4)}`;
    const { admitted } = await burst(Array.from({ length: 120 }, () => subject(HIGH(100_000), { perMinute: 50 }, organizationId, keyId)), T);
    expect(admitted).toBe(50);
    expect(await item(`usage#key#${keyId}`, DAY)).toMatchObject({ requests: 50, mc: 50 });
    expect((await dailyUsage({ organizationId }, 1, T))[0]!.requests).toBe(50);
  });
});

describe('windows (injected clock)', () => {
  it('a shard rolls to the next minute, and a slow clock counts in the minute the shard moved to', async () => {
    const organizationId = newId('org');
    const memory = new LimiterMemory();
    const limits = HIGH(100_000);
    const shardZero = () => 0;
    for (let i = 0; i < 3; i++) await admitSharded(counterStore, memory, subject(limits, null, organizationId), T, shardZero);
    expect(await item(`usage#org#${organizationId}#0`, DAY)).toMatchObject({ mw: '2031-05-06T10:20', mc: 3, requests: 3 });
    await admitSharded(counterStore, memory, subject(limits, null, organizationId), at('2031-05-06T10:21:05.000Z'), shardZero);
    // Another environment whose clock is a second behind: it counts in 10:21, never back in 10:20.
    const slow = await admitSharded(counterStore, new LimiterMemory(), subject(limits, null, organizationId), at('2031-05-06T10:20:59.900Z'), shardZero);
    expect(slow.admitted).toBe(true);
    expect(await item(`usage#org#${organizationId}#0`, DAY)).toMatchObject({ mw: '2031-05-06T10:21', mc: 2, requests: 5 });
  });

  it('a full day refuses until midnight UTC, and the next day starts empty', { timeout: 60_000 }, async () => {
    const organizationId = newId('org');
    const before = await burst(Array.from({ length: 150 }, () => subject(HIGH(100), null, organizationId)), at('2031-05-06T23:59:59.500Z'));
    expect(before.admitted).toBe(100);
    const after = await burst(Array.from({ length: 150 }, () => subject(HIGH(100), null, organizationId)), at('2031-05-07T00:00:00.500Z'));
    expect(after.admitted).toBe(100);
    expect((await dailyUsage({ organizationId }, 2, at('2031-05-07T12:00:00Z'))).map((d) => d.requests)).toEqual([100, 100]);
  });
});

describe('credits from batches', () => {
  const balance = async (orgId: string) => (await getOrganization(orgId))!.credits;
  const held = async (orgId: string) => (await creditStore.openBatches(orgId)).reduce((sum, b) => sum + b.remaining, 0);

  it('300 replies from 30 concurrent environments on a balance of 100: never over, each key charged once, the rest served after batches return', { timeout: 120_000 }, async () => {
    const orgId = (await createOrganization('High Volume Inc', 'owner', 100, TEST_AUDIT, T)).id;
    const keyId = `key_${newId('req').slice(4)}`;
    const store = { ...counterStore, ...creditStore };
    let ids = 0;
    const batchId = () => `b_${newId('req').slice(4)}_${ids++}`;
    // A Lambda environment serves one request at a time: 30 of them, 10 replies each, all at once.
    const envs = Array.from({ length: 30 }, () => new CreditMemory());
    const servedKeys: string[] = [];
    const outcomes = await Promise.all(envs.map(async (memory, e) => {
      const mine: string[] = [];
      for (let i = 0; i < 10; i++) {
        try {
          const r = await reserveFromBatch(store, memory, orgId, `reply-${e}-${i}`, keyId, T, batchId);
          mine.push(r.alreadyCharged ? 'again' : 'served');
          if (!r.alreadyCharged) servedKeys.push(`reply-${e}-${i}`);
        } catch (error) {
          mine.push((error as ApiError).code);
        }
      }
      return mine;
    }));
    const all = outcomes.flat();
    const served = all.filter((o) => o === 'served').length;
    expect(all.filter((o) => o !== 'served' && o !== 'INSUFFICIENT_CREDITS')).toEqual([]);
    expect(served).toBeLessThanOrEqual(100);
    // Credits only moved: what was not served is on the balance or in the environments' batches.
    expect(served + (await balance(orgId)) + (await held(orgId))).toBe(100);
    // Once the batches are returned (any environment, after their expiry), the rest is served, exactly.
    const later = new Date(T.getTime() + BATCH_TTL_MS + RECLAIM_GRACE_MS + 1_000);
    const last = new CreditMemory();
    let more = 0;
    for (let i = 0; i < 120; i++) {
      const r = await reserveFromBatch(store, last, orgId, `late-${i}`, keyId, later, batchId).catch((error: ApiError) => error.code);
      if (typeof r === 'object' && !r.alreadyCharged) more += 1;
    }
    expect(served + more).toBe(100);
    expect(await balance(orgId)).toBe(0);
    // A retry of a charged request is told so, even now; a refund brings one credit back, once.
    const charged = servedKeys[0] as string;
    expect(await reserveFromBatch(store, last, orgId, charged, keyId, later, batchId)).toMatchObject({ alreadyCharged: true });
    await refundCredit(orgId, charged, keyId, later);
    expect((await balance(orgId)) + (await held(orgId))).toBe(1);
    await refundCredit(orgId, charged, keyId, later);
    expect((await balance(orgId)) + (await held(orgId))).toBe(1);
    // A held reply counts on the key's credits item when it settles.
    const other = (await readReservation(orgId, servedKeys[1] as string))!;
    expect(await settleCredits(holdOf(other), { usage: { inputTokens: 1, outputTokens: 1 } }, later)).toBe(1);
    expect((await dailyUsage({ organizationId: orgId, keyId }, 1, later))[0]).toMatchObject({ date: DAY, credits: 1 });
  });

  it('replies through reserveCredit take the batched path once the organization was admitted on the high-volume path', { timeout: 60_000 }, async () => {
    const orgId = (await createOrganization('High Volume Inc', 'owner', 50, TEST_AUDIT, T)).id;
    const keyId = `key_${newId('req').slice(4)}`;
    await admit(subject(HIGH(100_000), null, orgId, keyId), T);
    expect(await reserveCredit(orgId, 'one', keyId, T)).toMatchObject({ alreadyCharged: false });
    expect((await creditStore.openBatches(orgId)).length).toBe(1);
    expect(await reserveCredit(orgId, 'one', keyId, T)).toMatchObject({ alreadyCharged: true });
    expect((await balance(orgId)) + (await held(orgId))).toBe(49);
  });

  it('credits an organization left in batches come back once it is on the one-item path again', { timeout: 60_000 }, async () => {
    const orgId = (await createOrganization('High Volume Inc', 'owner', 100, TEST_AUDIT, T)).id;
    const keyId = `key_${newId('req').slice(4)}`;
    await admit(subject(HIGH(100_000), null, orgId, keyId), T);
    expect(await reserveCredit(orgId, 'hv-1', keyId, T)).toMatchObject({ alreadyCharged: false });
    expect(await held(orgId)).toBeGreaterThan(0);
    // Its limits are lowered: admitted on the one-item path, its replies are charged there, and no
    // environment of the high-volume path is left to return the batch.
    await admit(subject({ perMinute: 600, perDay: 100_000 }, null, orgId, keyId), T);
    const later = new Date(T.getTime() + BATCH_TTL_MS + RECLAIM_GRACE_MS + 1_000);
    const outcomes: string[] = [];
    for (let i = 0; i < 105; i++) outcomes.push(await reserveCredit(orgId, `one-${i}`, keyId, later).then(() => 'served', (error: ApiError) => error.code));
    // Every credit is served: the 402 that found the balance empty returned the batch first.
    expect(outcomes.filter((o) => o === 'served')).toHaveLength(99);
    expect(outcomes.slice(99)).toEqual(Array(6).fill('INSUFFICIENT_CREDITS'));
    expect((await balance(orgId)) + (await held(orgId))).toBe(0);
  });

  it('a reclaim reads the expired batches, and a batch from before ids sorted by expiry too', { timeout: 60_000 }, async () => {
    const orgId = (await createOrganization('High Volume Inc', 'owner', 1_000, TEST_AUDIT, T)).id;
    const store = { ...counterStore, ...creditStore };
    let ids = 0;
    const batchId = () => `b${ids++}`;
    // Two environments take a batch each at T and T + 1 s; a third, older one has a random id.
    await reserveFromBatch(store, new CreditMemory(), orgId, 'a-1', 'key_a', T, batchId);
    await reserveFromBatch(store, new CreditMemory(), orgId, 'b-1', 'key_b', new Date(T.getTime() + 1_000), batchId);
    await db.send(new PutCommand({
      TableName: tableName('usage'),
      Item: { pk: `credit-batch#org#${orgId}`, sk: 'Zq3legacy', id: 'Zq3legacy', size: 5, remaining: 5, day: DAY, expiresAt: T.getTime() + BATCH_TTL_MS, ttl: 4_000_000_000 },
    }));
    const cutoff = T.getTime() + BATCH_TTL_MS + 1;
    const read = (await creditStore.openBatches(orgId, cutoff)).map((b) => b.id);
    expect(read).toHaveLength(2);
    expect(read).toContain('Zq3legacy');
    expect(read.some((id) => id.endsWith('_b0'))).toBe(true);
    expect(await creditStore.openBatches(orgId)).toHaveLength(3);
  });

  it('a refund after its batch was returned uncounts the key\'s credits item and the organization\'s day', { timeout: 60_000 }, async () => {
    const orgId = (await createOrganization('High Volume Inc', 'owner', 100, TEST_AUDIT, T)).id;
    const keyId = `key_${newId('req').slice(4)}`;
    await admit(subject(HIGH(100_000), null, orgId, keyId), T);
    await reserveCredit(orgId, 'r-1', keyId, T);
    await reserveCredit(orgId, 'r-2', keyId, T);
    // Every batch is returned (as a reclaim does), counting both credits as spent that day.
    for (const batch of await creditStore.openBatches(orgId)) await creditStore.closeBatch(orgId, batch, batch.remaining);
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]).toMatchObject({ credits: 2 });
    await refundCredit(orgId, 'r-1', keyId, T);
    await settleCredits(holdOf((await readReservation(orgId, 'r-2'))!), { usage: { inputTokens: 1, outputTokens: 1 } }, T);
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]).toMatchObject({ credits: 1 });
    expect((await dailyUsage({ organizationId: orgId, keyId }, 1, T))[0]).toMatchObject({ credits: 1 });
    expect(await item(`usage#key#${keyId}`, DAY)).not.toHaveProperty('credits');
    expect(await balance(orgId)).toBe(99);
  });

  it('an environment that stops between taking a batch and spending it loses nothing: the batch is returned', { timeout: 60_000 }, async () => {
    const orgId = (await createOrganization('High Volume Inc', 'owner', 10_000, TEST_AUDIT, T)).id;
    const store = { ...counterStore, ...creditStore };
    const stopped = new CreditMemory();
    let ids = 0;
    const batchId = () => `b_${newId('req').slice(4)}_${ids++}`;
    // A busy environment: its batches grow with its rate.
    for (let i = 0; i < 40; i++) await reserveFromBatch(store, stopped, orgId, `s-${i}`, 'key_s', new Date(T.getTime() + i * 5), batchId);
    const stranded = await held(orgId);
    expect(stranded).toBeGreaterThan(0);
    expect((await balance(orgId)) + stranded).toBe(10_000 - 40);
    // It stops. Another environment, after the batch expired and the grace passed, returns it.
    const later = new Date(T.getTime() + BATCH_TTL_MS + RECLAIM_GRACE_MS + 1_000);
    const other = new CreditMemory();
    await reserveFromBatch(store, other, orgId, 'o-1', 'key_o', later, batchId);
    expect(await held(orgId)).toBe(Number((await creditStore.openBatches(orgId))[0]?.remaining ?? 0));
    expect((await balance(orgId)) + (await held(orgId))).toBe(10_000 - 41);
    // The stopped one thaws: what it remembers of its batch is gone; it opens a new one, paying once.
    expect(await reserveFromBatch(store, stopped, orgId, 's-40', 'key_s', later, batchId)).toMatchObject({ alreadyCharged: false });
    expect((await balance(orgId)) + (await held(orgId))).toBe(10_000 - 42);
    // The returned batch's spent credits are in the organization's usage for its day.
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]!.credits).toBe(40);
  });
});
