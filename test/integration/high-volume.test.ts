// The high-volume path (docs/limits.md, "Past one hot item") against DynamoDB Local: the same
// decision code the simulation runs, with the DynamoDB store. Concurrent bursts admit exactly the
// limit, windows roll with an injected clock, and credits held from shared batches are exact, and
// come back to the balance at a 402 or when the batches go quiet. Each test uses fresh ids.
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { db } from '../../shared/db/client.ts';
import { batchKey, stampBillingRev } from '../../shared/db/credit-batches.ts';
import { creditStore, grantCredits, holdCredits, refundCredit, reserveCredit, settleCredits, sweepHolds } from '../../shared/db/credits.ts';
import { holdOf, readReservation } from '../../shared/db/credit-reservations.ts';
import { createOrganization, getOrganization, updateBilling } from '../../shared/db/organizations.ts';
import { admit, counterStore } from '../../shared/db/rate-limits.ts';
import { dailyUsage, usageKey } from '../../shared/db/usage.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import { BATCH_IDLE_MS, CreditMemory, DRAIN_CLAIM_MS, DRAIN_EVERY_MS, holdFromBatch, holdFromBatches, MIN_FILL_HOLDS } from '../../shared/limits/credit-batches.ts';
import { admitSharded, LimiterMemory } from '../../shared/limits/sharded.ts';
import { holdDueKey } from '../../shared/limits/credit-holds.ts';
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
    // And on every shard: a fresh environment's request with a key never refused tries one shard,
    // whose failed write says every shard is full (no read of the shards, no other shard tried).
    const shards = await counterStore.readShards(organizationId, DAY);
    expect(shards.map((shard) => shard?.ofd)).toEqual(Array.from({ length: 64 }, () => '2031-05-06|15000|300'));
    count.mockClear();
    const readShards = vi.fn<typeof counterStore.readShards>(counterStore.readShards);
    const newKey = `key_${newId('req').slice(4)}`;
    const other = await admitSharded({ ...counterStore, count, readShards }, new LimiterMemory(), subject(HIGH(300), null, organizationId, newKey), T, Math.random);
    expect(other).toMatchObject({ admitted: false });
    expect(count.mock.calls.filter(([target]) => !('keyId' in target))).toHaveLength(1);
    expect(readShards).not.toHaveBeenCalled();
    expect(await item(`usage#key#${newKey}`, DAY)).toMatchObject({ requests: 0, ofd: '2031-05-06|15000|300' });
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

describe('credits from shared batches', () => {
  const balance = async (orgId: string) => (await getOrganization(orgId))!.credits;
  const inBatches = async (orgId: string) => (await creditStore.readBatches(orgId)).reduce((sum, [, b]) => sum + b.remaining, 0);
  const highVolume = async (credits: number) => {
    const orgId = (await createOrganization('High Volume Inc', 'owner', credits, TEST_AUDIT, T)).id;
    const keyId = `key_${newId('req').slice(4)}`;
    await admit(subject(HIGH(100_000), null, orgId, keyId), T);
    return { orgId, keyId };
  };

  it('300 replies from 30 concurrent callers on a balance of 100: never over, each request key charged once, every credit served once the batches drain', { timeout: 120_000 }, async () => {
    const { orgId, keyId } = await highVolume(100);
    const outcomes = (await Promise.all(Array.from({ length: 30 }, async (_, c) => {
      const mine: string[] = [];
      for (let i = 0; i < 10; i++) {
        mine.push(await reserveCredit(orgId, `reply-${c * 10 + i}`, keyId, T).then(
          (r) => (r.alreadyCharged ? 'again' : 'served'),
          (error: ApiError) => error.code ?? String(error),
        ));
      }
      return mine;
    }))).flat();
    const served = outcomes.filter((o) => o === 'served').length;
    expect(outcomes.filter((o) => o !== 'served' && o !== 'INSUFFICIENT_CREDITS')).toEqual([]);
    expect(served).toBeLessThanOrEqual(100);
    // Credits only moved: what was not served is on the balance or in the batches.
    expect(served + (await balance(orgId)) + (await inBatches(orgId))).toBe(100);
    // The next 402 (a drain per environment at most every DRAIN_EVERY_MS) moves the rest back: exactly 100 in all.
    const later = new Date(T.getTime() + DRAIN_EVERY_MS);
    let more = 0;
    for (let i = 0; i < 120 && served + more < 100; i++) {
      const r = await reserveCredit(orgId, `late-${i}`, keyId, new Date(later.getTime() + i)).catch((error: ApiError) => error.code);
      if (typeof r === 'object' && !r.alreadyCharged) more += 1;
    }
    expect(served + more).toBe(100);
    expect((await balance(orgId)) + (await inBatches(orgId))).toBe(0);
    await expect(reserveCredit(orgId, 'one-more', keyId, new Date(later.getTime() + 500))).rejects.toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    // A retry of a charged request is told so, even now.
    expect(await reserveCredit(orgId, `reply-${outcomes.indexOf('served')}`, keyId, later)).toMatchObject({ alreadyCharged: true });
  });

  it('with the balance empty, a hold is decided by a read of the batches: one that holds it serves it; fragments are drained by one environment under a claim', { timeout: 60_000 }, async () => {
    const { orgId, keyId } = await highVolume(17);
    const park = async (n: number, size: number) => {
      const seen = await creditStore.readBatch(orgId, n);
      const until = T.getTime() + 500;
      expect(await creditStore.claimBatch(orgId, n, seen, until, T)).toBe(true);
      expect(await creditStore.fillBatch(orgId, n, seen, size, until, T)).toBe(true);
    };
    for (const n of [0, 1, 2, 3]) await park(n, 3);
    await park(7, 5);
    expect(await balance(orgId)).toBe(0);
    const store = { ...counterStore, ...creditStore };
    const hold = (requestKey: string, memory = new CreditMemory()) => holdFromBatches(store, memory, orgId, { requestKey, keyId, credits: 5, least: 2 }, T, () => 0);
    const drains = vi.spyOn(creditStore, 'drainBatch');
    // Batch 7 holds a whole hold: taken there, nothing drained.
    expect(await hold('a')).toEqual({ outcome: 'held', batch: 7 });
    expect(drains).not.toHaveBeenCalled();
    // Four batches of 3: none holds 5, together they hold 12: drained into the balance by the claim's winner.
    expect(await hold('b')).toEqual({ outcome: 'drained' });
    expect(await balance(orgId)).toBe(12);
    expect(await inBatches(orgId)).toBe(0);
    // The claim stands for DRAIN_CLAIM_MS: no second drain meanwhile.
    expect(await creditStore.drainClaimedUntil(orgId)).toBe(T.getTime() + DRAIN_CLAIM_MS);
    expect(await creditStore.claimDrain(orgId, T.getTime() + DRAIN_CLAIM_MS, T)).toBe(false);
    expect(await creditStore.claimDrain(orgId, T.getTime() + 2 * DRAIN_CLAIM_MS, new Date(T.getTime() + DRAIN_CLAIM_MS))).toBe(true);
    drains.mockRestore();
  });

  it('a hold takes a shared batch once the organization is on the high-volume path; a retry is charged once', { timeout: 60_000 }, async () => {
    // 1/256 of the balance holds MIN_FILL_HOLDS holds.
    const { orgId, keyId } = await highVolume(100_000);
    expect(await reserveCredit(orgId, 'one', keyId, T)).toMatchObject({ alreadyCharged: false });
    expect(await readReservation(orgId, 'one')).toMatchObject({ state: 'held', batch: expect.any(Number) });
    // Its batch's first fill: MIN_FILL_HOLDS holds, less the one held.
    expect((await creditStore.readBatches(orgId)).map(([, b]) => b.remaining)).toEqual([MIN_FILL_HOLDS - 1]);
    expect(await reserveCredit(orgId, 'one', keyId, T)).toMatchObject({ alreadyCharged: true });
    expect((await balance(orgId)) + (await inBatches(orgId))).toBe(99_999);
  });

  it('settles into the batch and counts the charge there; a drain takes it off creditsHeld and into the organization\'s usage', { timeout: 60_000 }, async () => {
    const { orgId, keyId } = await highVolume(1_000);
    await reserveCredit(orgId, 'r-1', keyId, T);
    await reserveCredit(orgId, 'r-2', keyId, T);
    await refundCredit(orgId, 'r-1', keyId, T);
    expect(await settleCredits(holdOf((await readReservation(orgId, 'r-2'))!), { usage: { inputTokens: 1, outputTokens: 1 } }, T)).toBe(1);
    const [charged] = (await creditStore.readBatches(orgId)).filter(([, b]) => b.charged > 0);
    expect(charged?.[1].charged).toBe(1);
    // The settled balance (credits + creditsHeld) is exact all along; usage: the key's at once, the organization's at the drain.
    expect(await getOrganization(orgId)).toMatchObject({ credits: 1_000 - (await inBatches(orgId)) - 1, creditsHeld: (await inBatches(orgId)) + 1 });
    expect((await dailyUsage({ organizationId: orgId, keyId }, 1, T))[0]).toMatchObject({ credits: 1 });
    for (const [n, seen] of await creditStore.readBatches(orgId)) expect(await creditStore.drainBatch(orgId, n, seen, T)).toBe(true);
    expect(await getOrganization(orgId)).toMatchObject({ credits: 999, creditsHeld: 0 });
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]).toMatchObject({ credits: 1 });
    expect(await creditStore.readBatches(orgId)).toEqual([]);
  });

  it('credits an organization left in batches come back once it is on the one-item path again', { timeout: 60_000 }, async () => {
    // 1/256 of the balance holds MIN_FILL_HOLDS holds.
    const { orgId, keyId } = await highVolume(100_000);
    expect(await reserveCredit(orgId, 'hv-1', keyId, T)).toMatchObject({ alreadyCharged: false });
    const parked = await inBatches(orgId);
    expect(parked).toBe(MIN_FILL_HOLDS - 1);
    // An operator claws back the balance; the organization's limits are lowered, so its replies are
    // held on the balance (the one-item path), where no batch is filled or spent.
    await grantCredits(orgId, -(await balance(orgId)), 'test', TEST_AUDIT, T);
    await admit(subject({ perMinute: 600, perDay: 100_000 }, null, orgId, keyId), T);
    const later = new Date(T.getTime() + DRAIN_EVERY_MS);
    const outcomes: string[] = [];
    for (let i = 0; i < parked + 3; i++) outcomes.push(await reserveCredit(orgId, `one-${i}`, keyId, later).then(() => 'served', (error: ApiError) => error.code));
    // Every credit is served: the 402 that found the balance empty drained the batches first.
    expect(outcomes.slice(0, parked)).toEqual(Array(parked).fill('served'));
    expect(outcomes.slice(parked)).toEqual(Array(3).fill('INSUFFICIENT_CREDITS'));
    expect((await balance(orgId)) + (await inBatches(orgId))).toBe(0);
  });

  it('a billing change reaches the high-volume path at once: the next hold is priced with it, though this environment read the billing before', { timeout: 60_000 }, async () => {
    const { orgId, keyId } = await highVolume(100_000);
    const bound = { inputBound: 1_000, outputCap: 1_000 };
    // Both holds pick batch 0, which the first fills under the old billing.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0);
    try {
      expect(await holdCredits(orgId, 'before', keyId, bound, T)).toMatchObject({ hold: { billing: { mode: 'reply' }, held: 1, batch: 0 } });
      await updateBilling((await getOrganization(orgId))!, { mode: 'tokens', inputPer1k: 2, outputPer1k: 6 }, TEST_AUDIT, T);
      expect(await holdCredits(orgId, 'after', keyId, bound, T)).toMatchObject({ hold: { billing: { mode: 'tokens' }, held: 8, batch: 0 } });
    } finally {
      random.mockRestore();
    }
  });

  it('a batch told of a newer billing refuses a hold priced with an older one (stale), and serves it priced again', { timeout: 60_000 }, async () => {
    const { orgId, keyId } = await highVolume(10_000);
    const store = { ...counterStore, ...creditStore };
    const memory = new CreditMemory();
    const first = () => 0;
    expect(await holdFromBatch(store, memory, orgId, { requestKey: 'a', keyId, credits: 1 }, T, first)).toMatchObject({ outcome: 'held', batch: 0 });
    await stampBillingRev(orgId, 1);
    expect((await creditStore.readBatch(orgId, 0)).billingRev).toBe(1);
    expect(await holdFromBatch(store, memory, orgId, { requestKey: 'b', keyId, credits: 1 }, T, first)).toEqual({ outcome: 'stale' });
    expect(await holdFromBatch(store, memory, orgId, { requestKey: 'b', keyId, credits: 1, billingRev: 1 }, T, first)).toMatchObject({ outcome: 'held', batch: 0 });
  });

  it('a batch a 0.1.0 stack left is returned at the first 402 (what it still holds to the balance, what was spent from it to its day)', { timeout: 60_000 }, async () => {
    const orgId = (await createOrganization('Upgraded Inc', 'owner', 0, TEST_AUDIT, T)).id;
    const keyId = `key_${newId('req').slice(4)}`;
    await db.send(new PutCommand({
      TableName: tableName('usage'),
      Item: { pk: `credit-batch#org#${orgId}`, sk: 'Zq3old', id: 'Zq3old', size: 5, remaining: 3, day: DAY, expiresAt: T.getTime() - 60_000, ttl: 4_000_000_000 },
    }));
    expect(await reserveCredit(orgId, 'after-upgrade', keyId, T)).toMatchObject({ alreadyCharged: false });
    expect(await item(`credit-batch#org#${orgId}`, 'Zq3old')).toBeUndefined();
    // 0.1.0 took batches out of `credits` only: 3 back, 1 of them now held by the reply.
    expect(await getOrganization(orgId)).toMatchObject({ credits: 2, creditsHeld: 1 });
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]).toMatchObject({ credits: 2 });
  });

  it('a batch not filled for BATCH_IDLE_MS is drained by the sweep (it is in the byHoldDue index while it holds credits)', { timeout: 60_000 }, async () => {
    // A day before the real clock: within the items' TTL (DynamoDB Local deletes expired items), after
    // credit-holds.test.ts's dead holds, and due to the local runtime's sweeps too (which drain it the same way).
    const QUIET = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000);
    const orgId = (await createOrganization('High Volume Inc', 'owner', 1_000, TEST_AUDIT, QUIET)).id;
    const keyId = `key_${newId('req').slice(4)}`;
    await admit(subject(HIGH(100_000), null, orgId, keyId), QUIET);
    const held = await holdCredits(orgId, 'quiet-1', keyId, { inputBound: 0, outputCap: 0 }, QUIET, QUIET.getTime() + 60_000);
    if (held.alreadyCharged) throw new Error('expected a hold');
    await settleCredits(held.hold, { usage: { inputTokens: 1, outputTokens: 1 } }, QUIET);
    expect(await item(batchKey(orgId, held.hold.batch ?? -1).pk, 'batch')).toMatchObject({ holdDue: holdDueKey(QUIET.getTime() + BATCH_IDLE_MS, `${orgId}#${held.hold.batch}`) });
    await sweepHolds(new Date(QUIET.getTime() + BATCH_IDLE_MS + 1_000));
    expect(await creditStore.readBatches(orgId)).toEqual([]);
    expect(await getOrganization(orgId)).toMatchObject({ credits: 999, creditsHeld: 0 });
    expect(await item(batchKey(orgId, held.hold.batch ?? -1).pk, 'batch')).not.toHaveProperty('holdDue');
  });
});
