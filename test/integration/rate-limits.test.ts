// Rate limits against DynamoDB Local: exact admission under concurrent bursts, headers, window
// roll-over with an injected clock, usage figures and TTLs. `admit()` is called directly, as the
// pipeline does; each test uses fresh organization and key ids.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_AUDIT } from '../support/audit.ts';
import { mintKey } from '../../shared/domain/key-mint.ts';
import { putNewKey, requireKey } from '../../shared/db/api-keys.ts';
import { db } from '../../shared/db/client.ts';
import { admit } from '../../shared/db/rate-limits.ts';
import { addKeyUsage, dailyUsage, MAX_KEYS_PER_ORG_DAY, usageKey } from '../../shared/db/usage.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits } from '../../shared/domain/plans.ts';
import type { RateSubject } from '../../shared/domain/plans.ts';
import { tableName } from '../../shared/tables.ts';
import { widenDbPools } from '../support/db-pool.ts';
import { expect429, rateHeaders } from '../support/rate-limit-answers.ts';
import { rejectionOf } from '../support/rejection.ts';

const BURST = 200;
/** 30 s into a minute, far from any boundary; the clock is injected, so nothing here is timing-dependent. */
const T = new Date('2031-03-04T10:20:30.000Z');
const MINUTE_END = Date.parse('2031-03-04T10:21:00.000Z') / 1000;
const DAY_END = Date.parse('2031-03-05T00:00:00.000Z') / 1000;
const at = (iso: string) => new Date(iso);

/**
 * A burst of 200 stands for 200 Lambda invocations, each with its own connection. In one test
 * process they share one SDK client, whose pool (50 sockets) would queue them, and a queued call
 * trips the client's 1 s connection timeout; give this process a pool as wide as the burst.
 */
beforeAll(async () => {
  widenDbPools();
  // Warm up: open the connections and let DynamoDB Local's JIT settle before the first timed burst.
  const warm = subject({ perMinute: 50, perDay: 100_000 });
  await Promise.allSettled(times(BURST, warm).map((s) => admit(s, T)));
});

function subject(orgLimits: Limits, keyLimits: Partial<Limits> | null = null, organizationId = newId('org')): RateSubject {
  return { organizationId, keyId: `key_${newId('req').slice(4)}`, orgLimits, keyLimits };
}

async function burst(subjects: RateSubject[], now: Date) {
  const results = await Promise.allSettled(subjects.map((s) => admit(s, now)));
  const admitted = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Record<string, string>>).value);
  const rejected = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as ApiError);
  return { admitted, rejected };
}

function times<T>(n: number, value: T): T[] {
  return Array.from({ length: n }, () => value);
}

const rejection = (promise: Promise<unknown>) => rejectionOf<ApiError>(promise, 'a 429');

async function usageItem(scope: { organizationId: string } | { keyId: string }, day: string) {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: usageKey(scope, day), ConsistentRead: true }));
  return Item;
}

describe(`a burst of ${BURST} concurrent requests admits exactly L`, () => {
  it.each([10, 60])('org minute window, L = %i', { timeout: 120_000 }, async (limit) => {
    const s = subject({ perMinute: limit, perDay: 100_000 });
    const { admitted, rejected } = await burst(times(BURST, s), T);
    expect(admitted).toHaveLength(limit);
    expect(rejected).toHaveLength(BURST - limit);
    for (const error of rejected) expect429(error, 30, limit, MINUTE_END);
    // Every admitted request saw a distinct count: remaining runs limit-1 .. 0 exactly once each.
    expect(admitted.map((h) => Number(h['X-RateLimit-Remaining'])).sort((a, b) => a - b)).toEqual(
      Array.from({ length: limit }, (_, i) => i),
    );
    const [org] = await dailyUsage({ organizationId: s.organizationId }, 1, T);
    expect(org).toEqual({ date: '2031-03-04', requests: limit, rateLimited: BURST - limit, credits: 0, inputTokens: 0, outputTokens: 0 });
    const [key] = await dailyUsage(s, 1, T);
    expect(key).toEqual({ date: '2031-03-04', requests: limit, rateLimited: BURST - limit, credits: 0, inputTokens: 0, outputTokens: 0 });
  });

  it.each([10, 60])('org day window (enterprise perMinute 1000, perDay L), L = %i', { timeout: 120_000 }, async (limit) => {
    const s = subject({ perMinute: 1000, perDay: limit });
    const { admitted, rejected } = await burst(times(BURST, s), T);
    expect(admitted).toHaveLength(limit);
    for (const error of rejected) expect429(error, DAY_END - T.getTime() / 1000, limit, DAY_END);
  });

  it.each([10, 60])('key perMinute L stricter than the org, L = %i', { timeout: 120_000 }, async (limit) => {
    const s = subject({ perMinute: 1000, perDay: 100_000 }, { perMinute: limit });
    const { admitted, rejected } = await burst(times(BURST, s), T);
    expect(admitted).toHaveLength(limit);
    for (const error of rejected) expect429(error, 30, limit, MINUTE_END);
    // Another key of the same organization is not held back by this key's limit.
    await expect(admit({ ...s, keyId: `key_${newId('req').slice(4)}`, keyLimits: null }, T)).resolves.toMatchObject({
      'X-RateLimit-Limit': '1000',
    });
  });

  it.each([10, 60])('key perDay L stricter than the org, L = %i', { timeout: 120_000 }, async (limit) => {
    const s = subject({ perMinute: 1000, perDay: 100_000 }, { perMinute: 500, perDay: limit });
    const { admitted, rejected } = await burst(times(BURST, s), T);
    expect(admitted).toHaveLength(limit);
    for (const error of rejected) expect429(error, DAY_END - T.getTime() / 1000, limit, DAY_END);
  });

  it('two keys share their organization limit', { timeout: 120_000 }, async () => {
    const a = subject({ perMinute: 60, perDay: 100_000 });
    const b = { ...a, keyId: `key_${newId('req').slice(4)}` };
    const { admitted } = await burst([...times(BURST / 2, a), ...times(BURST / 2, b)], T);
    expect(admitted).toHaveLength(60);
    const [ka] = await dailyUsage(a, 1, T);
    const [kb] = await dailyUsage(b, 1, T);
    expect(ka!.requests + kb!.requests).toBe(60);
    expect(ka!.rateLimited + kb!.rateLimited).toBe(BURST - 60);
  });

  it('a burst that straddles a minute boundary admits at most L in each minute', { timeout: 120_000 }, async () => {
    const s = subject({ perMinute: 10, perDay: 100_000 });
    const before = at('2031-03-04T10:20:59.900Z');
    const after = at('2031-03-04T10:21:00.100Z');
    const results = await Promise.allSettled([...times(100, before), ...times(100, after)].map((now) => admit(s, now)));
    const admitted = results.filter((r) => r.status === 'fulfilled').length;
    // Once the window has moved to 10:21, late requests stamped 10:20:59 count there (windows never
    // move back), so 10:20 may admit fewer than 10; 10:21 admits exactly 10, and no more ever.
    const item = await usageItem({ organizationId: s.organizationId }, '2031-03-04');
    expect(item).toMatchObject({ requests: admitted, mw: '2031-03-04T10:21', mc: 10 });
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(20);
  });
});

describe('a rejected request consumes nothing', () => {
  it('a request refused by its key limit leaves the organization window untouched', async () => {
    const org = subject({ perMinute: 3, perDay: 100 });
    const limitedKey = { ...org, keyLimits: { perMinute: 1 } };
    await admit(limitedKey, T);
    await rejection(admit(limitedKey, T));
    await rejection(admit(limitedKey, T));
    const other = { ...org, keyId: `key_${newId('req').slice(4)}` };
    await expect(admit(other, T)).resolves.toMatchObject({ 'X-RateLimit-Remaining': '1' });
    await expect(admit(other, T)).resolves.toMatchObject({ 'X-RateLimit-Remaining': '0' });
    expect429(await rejection(admit(other, T)), 30, 3, MINUTE_END);
    const [usage] = await dailyUsage({ organizationId: org.organizationId }, 1, T);
    expect(usage).toMatchObject({ requests: 3, rateLimited: 3 });
  });

  it('a limit of zero (no limits from the authorizer) admits nothing and writes no counter', async () => {
    const s = subject({ perMinute: 0, perDay: 0 });
    expect((await rejection(admit(s, T))).status).toBe(429);
    const item = await usageItem({ organizationId: s.organizationId }, '2031-03-04');
    expect(item).toMatchObject({ rateLimited: 1 });
    expect(item?.requests).toBeUndefined();
  });
});

describe('X-RateLimit headers describe the window with the fewest requests remaining', () => {
  it('free plan: the minute window', async () => {
    const s = subject({ perMinute: 10, perDay: 1000 });
    expect(await admit(s, T)).toEqual(rateHeaders(10, 9, MINUTE_END));
  });

  it('the day window when fewer remain there', async () => {
    const s = subject({ perMinute: 100, perDay: 3 });
    expect(await admit(s, T)).toEqual(rateHeaders(3, 2, DAY_END));
  });

  it("the key's own limit when it is the stricter", async () => {
    const s = subject({ perMinute: 10, perDay: 1000 }, { perMinute: 5 });
    expect(await admit(s, T)).toEqual(rateHeaders(5, 4, MINUTE_END));
  });

  it('a key limit looser than the organization does not loosen it', async () => {
    const s = subject({ perMinute: 2, perDay: 1000 }, { perMinute: 50 });
    await admit(s, T);
    expect(await admit(s, T)).toMatchObject({ 'X-RateLimit-Limit': '2', 'X-RateLimit-Remaining': '0' });
    expect429(await rejection(admit(s, T)), 30, 2, MINUTE_END);
  });

  it('when minute and day are both full, Retry-After waits for the day', async () => {
    const s = subject({ perMinute: 1, perDay: 1 });
    await admit(s, T);
    expect429(await rejection(admit(s, T)), DAY_END - T.getTime() / 1000, 1, DAY_END);
  });
});

describe('window roll-over (injected clock)', () => {
  it('a new minute starts at zero, the day keeps counting', async () => {
    const s = subject({ perMinute: 2, perDay: 5 });
    await admit(s, at('2031-03-04T10:20:00.000Z'));
    await admit(s, at('2031-03-04T10:20:30.000Z'));
    expect429(await rejection(admit(s, at('2031-03-04T10:20:59.999Z'))), 1, 2, MINUTE_END);
    expect(await admit(s, at('2031-03-04T10:21:00.000Z'))).toEqual(rateHeaders(2, 1, MINUTE_END + 60));
    await admit(s, at('2031-03-04T10:25:10.000Z'));
    // Now the day has 0 of 5 left and the minute 1 of 2: the day window binds.
    expect(await admit(s, at('2031-03-04T10:26:00.000Z'))).toEqual(rateHeaders(5, 0, DAY_END));
    expect429(await rejection(admit(s, at('2031-03-04T10:27:00.000Z'))), DAY_END - Date.parse('2031-03-04T10:27:00Z') / 1000, 5, DAY_END);
  });

  it('a new UTC day starts both windows afresh', async () => {
    const s = subject({ perMinute: 100, perDay: 2 });
    await admit(s, at('2031-03-04T23:59:58.000Z'));
    await admit(s, at('2031-03-04T23:59:59.000Z'));
    expect429(await rejection(admit(s, at('2031-03-04T23:59:59.500Z'))), 1, 2, DAY_END);
    expect(await admit(s, at('2031-03-05T00:00:00.000Z'))).toEqual(rateHeaders(2, 1, DAY_END + 86_400));
    const usage = await dailyUsage({ organizationId: s.organizationId }, 2, at('2031-03-05T12:00:00.000Z'));
    expect(usage).toEqual([
      { date: '2031-03-05', requests: 1, rateLimited: 0, credits: 0, inputTokens: 0, outputTokens: 0 },
      { date: '2031-03-04', requests: 2, rateLimited: 1, credits: 0, inputTokens: 0, outputTokens: 0 },
    ]);
  });

  it("a key's minute limit restarts with the minute", async () => {
    const s = subject({ perMinute: 100, perDay: 1000 }, { perMinute: 1, perDay: 3 });
    await admit(s, at('2031-03-04T10:20:01.000Z'));
    await rejection(admit(s, at('2031-03-04T10:20:02.000Z')));
    await admit(s, at('2031-03-04T10:21:01.000Z'));
    await admit(s, at('2031-03-04T10:22:01.000Z'));
    expect429(await rejection(admit(s, at('2031-03-04T10:23:01.000Z'))), DAY_END - Date.parse('2031-03-04T10:23:01Z') / 1000, 3, DAY_END);
  });

  it('windows never move backwards: a request with a clock behind counts in the newer minute', async () => {
    const s = subject({ perMinute: 2, perDay: 100 });
    await admit(s, at('2031-03-04T10:21:05.000Z'));
    const late = await admit({ ...s }, at('2031-03-04T10:20:59.000Z'));
    expect(late).toEqual(rateHeaders(2, 0, MINUTE_END + 60));
    expect((await rejection(admit(s, at('2031-03-04T10:21:10.000Z')))).status).toBe(429);
  });

  it('a plan change applies at once to the counts so far', async () => {
    const s = subject({ perMinute: 10, perDay: 1000 });
    for (let i = 0; i < 5; i++) await admit(s, T);
    // Every change is a new version of the organization's limits (its limitsVersion).
    expect(await admit({ ...s, orgLimits: { perMinute: 60, perDay: 10_000 }, orgLimitsVersion: 1 }, T)).toMatchObject({
      'X-RateLimit-Limit': '60',
      'X-RateLimit-Remaining': '54',
    });
    expect((await rejection(admit({ ...s, orgLimits: { perMinute: 5, perDay: 1000 }, orgLimitsVersion: 2 }, T))).status).toBe(429);
  });
});

describe('counter items', () => {
  it("the org's day item holds the counters, each key's requests and a TTL; refusals per key on the key's own item", async () => {
    const s = subject({ perMinute: 1, perDay: 100 }, { perDay: 50 });
    const other = { ...s, keyId: `key_${newId('req').slice(4)}`, keyLimits: null };
    await admit(s, T);
    await rejection(admit(s, T));
    await rejection(admit(other, T));
    // Day items are kept 400 days (docs/limits.md, README "Tables"): written here, not read from the code.
    const ttl = Date.parse('2031-03-04T00:00:00Z') / 1000 + 400 * 86_400;
    const org = await usageItem({ organizationId: s.organizationId }, '2031-03-04');
    expect(org).toEqual({
      pk: `usage#org#${s.organizationId}`,
      sk: '2031-03-04',
      ttl,
      requests: 1,
      rateLimited: 2,
      mw: '2031-03-04T10:20',
      mc: 1,
      km: { [s.keyId]: 1 },
      kr: { [s.keyId]: 1 },
      // The version of the organization's limits it counts under, those limits, and its allowances.
      lv: 0,
      lm: 1,
      ld: 100,
      am: 1,
      sm: 1,
      ad: 100,
      // The token of the latest counter write (a write whose answer was lost is resolved by it).
      lt: expect.any(String),
    });
    // The key's own item records its lifetime base (once a day, on its first request) and its refusals.
    expect(await usageItem({ keyId: s.keyId }, '2031-03-04')).toEqual({ pk: `usage#key#${s.keyId}`, sk: '2031-03-04', base: 0, rateLimited: 1, ttl });
    expect(await usageItem({ keyId: other.keyId }, '2031-03-04')).toEqual({ pk: `usage#key#${other.keyId}`, sk: '2031-03-04', rateLimited: 1, ttl });
    expect(await dailyUsage(s, 1, T)).toEqual([{ date: '2031-03-04', requests: 1, rateLimited: 1, credits: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(await dailyUsage(other, 1, T)).toEqual([{ date: '2031-03-04', requests: 0, rateLimited: 1, credits: 0, inputTokens: 0, outputTokens: 0 }]);
  });

  it("a refusal on a day without an admitted request is counted on the key's own item, with a TTL", async () => {
    const s = subject({ perMinute: 0, perDay: 0 });
    await rejection(admit(s, T));
    expect((await usageItem({ keyId: s.keyId }, '2031-03-04'))?.ttl).toBeGreaterThan(T.getTime() / 1000);
    expect(await dailyUsage(s, 1, T)).toEqual([{ date: '2031-03-04', requests: 0, rateLimited: 1, credits: 0, inputTokens: 0, outputTokens: 0 }]);
  });
});

describe("the organization's day item stays small, whatever the number of keys", () => {
  /** DynamoDB's item size: attribute names and values (numbers about 1 byte per 2 digits + 1; maps 3 bytes + 1 per entry). */
  const sizeOf = (value: unknown): number => {
    if (typeof value === 'string') return Buffer.byteLength(value);
    if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace(/^0+/, '').length / 2) + 1;
    if (value && typeof value === 'object') return Object.entries(value).reduce((sum, [name, v]) => sum + name.length + sizeOf(v) + 1, 3);
    return 1;
  };

  it('200 keys, each admitted, 50 refused and charged a credit: under 1 KB (1 WCU a write), usage per key exact', { timeout: 120_000 }, async () => {
    const first = subject({ perMinute: 200, perDay: 100_000 });
    const keys = Array.from({ length: 200 }, (_, i) => (i === 0 ? first : { ...first, keyId: `key_${newId('req').slice(4)}` }));
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((s) => admit(s, T)));
    // The minute is full: 50 refusals.
    await Promise.all(keys.slice(0, 50).map((s) => rejection(admit(s, T))));
    await Promise.all(keys.slice(0, 50).map((s) => addKeyUsage(s.organizationId, s.keyId, '2031-03-04', 'credits', 1)));
    const org = await usageItem({ organizationId: first.organizationId }, '2031-03-04');
    expect(org).toMatchObject({ requests: 200, rateLimited: 50, credits: 50 });
    expect(Object.keys(org?.kr as object)).toHaveLength(MAX_KEYS_PER_ORG_DAY);
    expect(sizeOf(org)).toBeLessThan(1024);
    expect(await dailyUsage(keys[7]!, 1, T)).toEqual([{ date: '2031-03-04', requests: 1, rateLimited: 1, credits: 1, inputTokens: 0, outputTokens: 0 }]);
    expect(await dailyUsage(keys[150]!, 1, T)).toEqual([{ date: '2031-03-04', requests: 1, rateLimited: 0, credits: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(await dailyUsage({ organizationId: first.organizationId }, 1, T)).toEqual([{ date: '2031-03-04', requests: 200, rateLimited: 50, credits: 50, inputTokens: 0, outputTokens: 0 }]);
  });
});

describe('beyond the bound of keys per organization and day (maxKeys = 2 here)', () => {
  const MAX_KEYS = 2;
  const newKeyOf = (s: RateSubject, keyLimits: Partial<Limits> | null = null): RateSubject => ({ ...s, keyId: `key_${newId('req').slice(4)}`, keyLimits });

  it("a third key is counted on its own item; the org's item does not grow; usage stays exact", async () => {
    const a = subject({ perMinute: 100, perDay: 1000 });
    const b = newKeyOf(a);
    const c = newKeyOf(a);
    await admit(a, T, MAX_KEYS);
    await admit(b, T, MAX_KEYS);
    for (let i = 0; i < 3; i++) await admit(c, T, MAX_KEYS);
    const org = await usageItem({ organizationId: a.organizationId }, '2031-03-04');
    expect(org).toMatchObject({ requests: 5, mc: 5, kr: { [a.keyId]: 1, [b.keyId]: 1 } });
    expect(Object.keys(org!.kr as object)).toHaveLength(2);
    expect(await usageItem({ keyId: c.keyId }, '2031-03-04')).toMatchObject({ requests: 3, mc: 3 });
    expect(await dailyUsage(c, 1, T)).toEqual([{ date: '2031-03-04', requests: 3, rateLimited: 0, credits: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(await dailyUsage(a, 1, T)).toEqual([{ date: '2031-03-04', requests: 1, rateLimited: 0, credits: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(await dailyUsage({ organizationId: a.organizationId }, 1, T)).toEqual([{ date: '2031-03-04', requests: 5, rateLimited: 0, credits: 0, inputTokens: 0, outputTokens: 0 }]);
  });

  it('the organization limit still binds them all, and their refusals are counted', async () => {
    const a = subject({ perMinute: 3, perDay: 1000 });
    const b = newKeyOf(a);
    const c = newKeyOf(a);
    await admit(a, T, MAX_KEYS);
    await admit(b, T, MAX_KEYS);
    await admit(c, T, MAX_KEYS);
    expect429(await rejection(admit(c, T, MAX_KEYS)), 30, 3, MINUTE_END);
    expect(await dailyUsage(c, 1, T)).toEqual([{ date: '2031-03-04', requests: 1, rateLimited: 1, credits: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(await dailyUsage({ organizationId: a.organizationId }, 1, T)).toEqual([{ date: '2031-03-04', requests: 3, rateLimited: 1, credits: 0, inputTokens: 0, outputTokens: 0 }]);
  });

  it.each([10, 60])('a burst on a key with its own limit beyond the bound admits exactly L, L = %i', { timeout: 120_000 }, async (limit) => {
    const a = subject({ perMinute: 1000, perDay: 100_000 });
    await admit(a, T, MAX_KEYS);
    await admit(newKeyOf(a), T, MAX_KEYS);
    const c = newKeyOf(a, { perMinute: limit });
    const results = await Promise.allSettled(times(BURST, c).map((s) => admit(s, T, MAX_KEYS)));
    const admitted = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Record<string, string>>).value);
    expect(admitted).toHaveLength(limit);
    for (const r of results) if (r.status === 'rejected') expect429(r.reason as ApiError, 30, limit, MINUTE_END);
    expect(admitted.map((h) => Number(h['X-RateLimit-Remaining'])).sort((x, y) => x - y)).toEqual(Array.from({ length: limit }, (_, i) => i));
    expect(await dailyUsage(c, 1, T)).toEqual([{ date: '2031-03-04', requests: limit, rateLimited: BURST - limit, credits: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(await usageItem({ organizationId: a.organizationId }, '2031-03-04')).toMatchObject({ requests: limit + 2 });
  });

  it('a key with its own limit that the organization refuses gets its count back', async () => {
    const a = subject({ perMinute: 4, perDay: 1000 });
    await admit(a, T, MAX_KEYS);
    await admit(newKeyOf(a), T, MAX_KEYS);
    const c = newKeyOf(a, { perDay: 5 });
    await admit(c, T, MAX_KEYS);
    await admit(a, T, MAX_KEYS);
    // The organization's minute is full: c is counted on its own item first, then refused, then uncounted.
    expect429(await rejection(admit(c, T, MAX_KEYS)), 30, 4, MINUTE_END);
    expect(await usageItem({ keyId: c.keyId }, '2031-03-04')).toMatchObject({ requests: 1, mc: 1, rateLimited: 1 });
    expect(await dailyUsage(c, 1, T)).toEqual([{ date: '2031-03-04', requests: 1, rateLimited: 1, credits: 0, inputTokens: 0, outputTokens: 0 }]);
    expect(await usageItem({ organizationId: a.organizationId }, '2031-03-04')).toMatchObject({ requests: 4, rateLimited: 1 });
  });
});

describe('lastUsedAt and usageCount on the key', () => {
  async function realKey(orgLimits: Limits): Promise<RateSubject> {
    const organizationId = newId('org');
    const { item } = mintKey(
      {
        organizationId,
        name: 'usage',
        type: 'secret',
        allowedDomains: [],
        databaseId: null,
        scopes: ['chat'],
        expiresInDays: 365,
        rateLimit: null,
        orgLimits,
        createdBy: 'test',
      },
      { secret: 'sk_', publishable: 'pk_' },
      new Date(),
    );
    await putNewKey(item, TEST_AUDIT, new Date());
    return { organizationId, keyId: item.id, orgLimits, keyLimits: null };
  }

  it('refresh on the first admitted request of each minute, carry across days, ignore 429s', async () => {
    const s = await realKey({ perMinute: 3, perDay: 1000 });
    const key = () => requireKey(s.organizationId, s.keyId);
    await admit(s, at('2031-03-04T10:20:01.000Z'));
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-04T10:20:01.000Z', usageCount: 1 });
    await admit(s, at('2031-03-04T10:20:02.000Z'));
    await admit(s, at('2031-03-04T10:20:03.000Z'));
    await rejection(admit(s, at('2031-03-04T10:20:04.000Z')));
    // Within the minute the key item is not written (lastUsedAt lags by under 60 s).
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-04T10:20:01.000Z', usageCount: 1 });
    await admit(s, at('2031-03-04T10:21:00.000Z'));
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-04T10:21:00.000Z', usageCount: 4 });
    // Next UTC day: the lifetime count carries over from the previous day's item.
    await admit(s, at('2031-03-05T08:00:00.000Z'));
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-05T08:00:00.000Z', usageCount: 5 });
    // Days later, after a day with only a refusal: still carried.
    await rejection(admit({ ...s, orgLimits: { perMinute: 0, perDay: 0 } }, at('2031-03-07T08:00:00.000Z')));
    await admit(s, at('2031-03-09T08:00:00.000Z'));
    await admit(s, at('2031-03-09T08:00:30.000Z'));
    await admit(s, at('2031-03-09T08:01:00.000Z'));
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-09T08:01:00.000Z', usageCount: 8 });
  });

  it('carry across days whether the key was counted in the organization item or, beyond the bound, on its own', async () => {
    const s = await realKey({ perMinute: 100, perDay: 1000 });
    const key = () => requireKey(s.organizationId, s.keyId);
    const other = () => ({ ...s, keyId: `key_${newId('req').slice(4)}` });
    await admit(s, at('2031-03-04T10:20:01.000Z'), 2);
    await admit(s, at('2031-03-04T10:20:02.000Z'), 2);
    // Next day two other keys come first: this key is counted on its own item.
    await admit(other(), at('2031-03-05T08:00:00.000Z'), 2);
    await admit(other(), at('2031-03-05T08:00:00.000Z'), 2);
    await admit(s, at('2031-03-05T08:00:01.000Z'), 2);
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-05T08:00:01.000Z', usageCount: 3 });
    await admit(s, at('2031-03-05T08:00:02.000Z'), 2);
    await admit(s, at('2031-03-05T08:01:00.000Z'), 2);
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-05T08:01:00.000Z', usageCount: 5 });
    // And the day after, back in the organization's item.
    await admit(s, at('2031-03-06T09:00:00.000Z'), 2);
    expect(await key()).toMatchObject({ lastUsedAt: '2031-03-06T09:00:00.000Z', usageCount: 6 });
    expect((await dailyUsage(s, 3, at('2031-03-06T12:00:00.000Z'))).map((d) => d.requests)).toEqual([1, 3, 2]);
  });

  it('concurrent first requests of a minute: only the request counted first refreshes the key (usageCount 1)', { timeout: 60_000 }, async () => {
    const s = await realKey({ perMinute: 1000, perDay: 100_000 });
    await Promise.all(times(50, s).map((x) => admit(x, T)));
    const item = await requireKey(s.organizationId, s.keyId);
    expect(item.lastUsedAt).toBe(T.toISOString());
    expect(item.usageCount).toBe(1);
    await admit(s, at('2031-03-04T10:21:00.000Z'));
    expect((await requireKey(s.organizationId, s.keyId)).usageCount).toBe(51);
  });
});
