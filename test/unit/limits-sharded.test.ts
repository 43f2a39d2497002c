// The high-volume path's decisions (shared/limits/sharded.ts) against the model
// of DynamoDB's per-item rules the simulation uses (bench/dynamo-model.ts). The same code against
// DynamoDB Local: test/integration/high-volume.test.ts.
import { describe, expect, it, vi } from 'vitest';
import { DynamoModel } from '../../bench/dynamo-model.ts';
import { seeded } from '../../bench/limits-sim.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { PLAN_LIMITS, type Limits, type RateSubject } from '../../shared/domain/plans.ts';
import { rateLimitHeaders } from '../../shared/limits/headers.ts';
import {
  admitSharded,
  flushRefusals,
  isHighVolume,
  SHARD_COUNT,
  shardShare,
  LimiterMemory,
} from '../../shared/limits/sharded.ts';
import { DAY, newModel, ORG, T } from '../support/model.ts';

const at = (iso: string) => new Date(iso);

function subject(orgLimits: Limits, keyId = 'key_a', keyLimits: Partial<Limits> | null = null): RateSubject {
  return { organizationId: ORG, keyId, orgLimits, keyLimits };
}

/** Sum of a counter over the organization's shard items for a day. */
function shardTotal(model: DynamoModel, day: string, counter: 'requests' | 'mc' | 'rateLimited'): number {
  let sum = 0;
  for (let i = 0; i < SHARD_COUNT; i++) sum += Number(model.items.get(`usage#org#${ORG}#${i}|${day}`)?.[counter] ?? 0);
  return sum;
}

describe('which organizations are high-volume', () => {
  it('never free, starter or pro; enterprise from 15,000 a minute', () => {
    for (const limits of Object.values(PLAN_LIMITS)) expect(isHighVolume(limits)).toBe(false);
    expect(isHighVolume({ perMinute: 14_999, perDay: 10_000_000 })).toBe(false);
    expect(isHighVolume({ perMinute: 15_000, perDay: 10_000_000 })).toBe(true);
    expect(isHighVolume({ perMinute: 600_000, perDay: 100_000_000 })).toBe(true);
  });
});

describe('shard shares', () => {
  it.each([15_000, 600_000, 100_000_000, 1_000_003, 63, 1])('%i splits into shares that sum to it, at most one apart', (limit) => {
    const shares = Array.from({ length: SHARD_COUNT }, (_, i) => shardShare(limit, i));
    expect(shares.reduce((a, b) => a + b, 0)).toBe(limit);
    expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
  });
});

describe('admission on shards', () => {
  const limits = { perMinute: 15_000, perDay: 1_000_000 };

  it('admits exactly the limit, and refuses nothing before the limit is reached, across ten environments', async () => {
    const model = newModel();
    const envs = Array.from({ length: 10 }, () => new LimiterMemory());
    const random = seeded(1);
    let admitted = 0;
    let refusedEarly = 0;
    for (let i = 0; i < 15_300; i++) {
      const result = await admitSharded(model, envs[i % 10] as LimiterMemory, subject(limits, `key_${i % 7}`), T, random);
      if (result.admitted) admitted += 1;
      else if (admitted < 15_000) refusedEarly += 1;
    }
    expect(admitted).toBe(15_000);
    expect(refusedEarly).toBe(0);
    expect(shardTotal(model, DAY, 'mc')).toBe(15_000);
  });

  it('marks the day as sharded from the shards\' first writes, however many environments start', async () => {
    const model = newModel();
    const marks = vi.spyOn(model, 'markSharded');
    const random = seeded(3);
    // 1,000 fresh environments, one request each: one mark per shard that started its day.
    for (let i = 0; i < 1_000; i++) await admitSharded(model, new LimiterMemory(), subject(limits, `key_${i % 7}`), T, random);
    expect(marks.mock.calls.length).toBeGreaterThan(0);
    expect(marks.mock.calls.length).toBeLessThanOrEqual(SHARD_COUNT);
    expect(model.items.get(DynamoModel.orgDayKey(ORG, DAY))).toMatchObject({ shards: SHARD_COUNT });
    // A refusal tally that starts a shard's day (a day limit of zero admits nothing) marks it too.
    const refusing = new LimiterMemory();
    await admitSharded(model, refusing, { ...subject({ perMinute: 15_000, perDay: 0 }), organizationId: 'org_2' }, T, random);
    await flushRefusals(model, refusing.refusals, T, random, true);
    expect(model.items.get(DynamoModel.orgDayKey('org_2', DAY))).toMatchObject({ shards: SHARD_COUNT });
  });

  it("counts the key on its own item, exactly, with the key's own limit deciding first", async () => {
    const model = newModel();
    const memory = new LimiterMemory();
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await admitSharded(model, memory, subject(limits, 'key_k', { perMinute: 5 }), T, seeded(2)));
    expect(results.filter((r) => r.admitted)).toHaveLength(5);
    expect(model.items.get(`usage#key#key_k|${DAY}`)).toMatchObject({ requests: 5, mc: 5, mw: '2031-03-04T10:20' });
    // A refused request consumes nothing: the organization counted the five only.
    expect(shardTotal(model, DAY, 'requests')).toBe(5);
    expect(results[4]).toMatchObject({ keyRequests: 5 });
    expect(results[0]).toMatchObject({ firstInMinute: true, keyRequests: 1 });
    expect(rateLimitHeaders(results[7]!.windows)).toEqual({
      'X-RateLimit-Limit': '5',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': String(Date.parse('2031-03-04T10:21:00Z') / 1000),
    });
  });

  it("remembers a key's own minute limit used up: the rest of that minute is refused without a write", async () => {
    const model = newModel();
    const memory = new LimiterMemory();
    const own = { perMinute: 5 };
    for (let i = 0; i < 5; i++) expect((await admitSharded(model, memory, subject(limits, 'key_k', own), T, seeded(12))).admitted).toBe(true);
    expect((await admitSharded(model, memory, subject(limits, 'key_k', own), T, seeded(12))).admitted).toBe(false);
    const calls = model.calls;
    const again = await admitSharded(model, memory, subject(limits, 'key_k', own), at('2031-03-04T10:20:59.000Z'), seeded(12));
    expect(again.admitted).toBe(false);
    expect(model.calls).toBe(calls);
    expect(rateLimitHeaders(again.windows)).toMatchObject({ 'X-RateLimit-Limit': '5', 'X-RateLimit-Remaining': '0' });
    // A raised key limit, or the next minute, is counted again.
    expect((await admitSharded(model, memory, subject(limits, 'key_k', { perMinute: 6 }), at('2031-03-04T10:20:59.500Z'), seeded(12))).admitted).toBe(true);
    expect((await admitSharded(model, memory, subject(limits, 'key_k', own), at('2031-03-04T10:21:00.500Z'), seeded(12))).admitted).toBe(true);
  });

  it("forgets a key's minute seen full once the organization's limits change: counts taken back made it look full", async () => {
    const model = newModel();
    const dayFull = { perMinute: 15_000, perDay: 64 };
    // Other environments fill the organization's day (one request per shard).
    const others = new LimiterMemory();
    for (let i = 0; i < 64; i++) expect((await admitSharded(model, others, subject(dayFull, `key_${i}`), T, seeded(20 + i))).admitted).toBe(true);
    // Three concurrent requests of a key allowed 2 a minute: two count on its item and are then
    // refused by the organization (their counts taken back); the third found the key's minute full.
    const memory = new LimiterMemory();
    const own = { perMinute: 2 };
    const results = await Promise.all([1, 2, 3].map((n) => admitSharded(model, memory, subject(dayFull, 'key_k', own), T, seeded(n))));
    expect(results.map((r) => r.admitted)).toEqual([false, false, false]);
    expect(model.items.get(`usage#key#key_k|${DAY}`)).toMatchObject({ mc: 0, requests: 0 });
    // The organization's day limit is raised: the key has room again, in this environment too.
    const raised = { perMinute: 15_000, perDay: 6_400 };
    const change = (keyId: string) => ({ ...subject(raised, keyId, own), orgLimitsVersion: 1 });
    expect((await admitSharded(model, new LimiterMemory(), change('key_fresh'), T, seeded(40))).admitted).toBe(true);
    expect((await admitSharded(model, memory, change('key_k'), T, seeded(41))).admitted).toBe(true);
  });

  it("gives the key's count back when the organization refuses", async () => {
    const model = newModel();
    const memory = new LimiterMemory();
    const small = { perMinute: 15_000, perDay: 3 };
    for (let i = 0; i < 5; i++) await admitSharded(model, memory, subject(small, 'key_k'), T, seeded(3));
    expect(model.items.get(`usage#key#key_k|${DAY}`)).toMatchObject({ requests: 3, mc: 3 });
    expect(shardTotal(model, DAY, 'requests')).toBe(3);
  });

  it('Remaining is what the admitting shard has left: never more than the window has left', async () => {
    const model = newModel();
    const memory = new LimiterMemory();
    for (let i = 1; i <= 40; i++) {
      const result = await admitSharded(model, memory, subject(limits), T, seeded(4));
      const remaining = Number(rateLimitHeaders(result.windows)['X-RateLimit-Remaining']);
      expect(remaining).toBeLessThanOrEqual(15_000 - i);
      const shard = model.items.get(`usage#org#${ORG}#${result.shard}|${DAY}`)!;
      expect(remaining).toBe(Number(shard.am) - Number(shard.mc));
    }
  });

  it('refuses without a write once every shard said it is full, until the window ends', async () => {
    const model = newModel();
    const memory = new LimiterMemory();
    const tiny = { perMinute: 15_000, perDay: 64 };
    for (let i = 0; i < 64; i++) expect((await admitSharded(model, memory, subject(tiny), T, seeded(5))).admitted).toBe(true);
    const refused = await admitSharded(model, memory, subject(tiny), T, seeded(5));
    expect(refused.admitted).toBe(false);
    const calls = model.calls;
    const again = await admitSharded(model, memory, subject(tiny), at('2031-03-04T10:20:50.000Z'), seeded(5));
    expect(again.admitted).toBe(false);
    expect(model.calls).toBe(calls);
    expect(rateLimitHeaders(again.windows)['X-RateLimit-Remaining']).toBe('0');
  });

  it("leaves what it found full on the key's item: any other environment then refuses that key with one write", async () => {
    const model = newModel();
    const first = new LimiterMemory();
    const perMinute = { perMinute: 15_000, perDay: 1_000_000 };
    for (let i = 0; i < 15_000; i++) expect((await admitSharded(model, first, subject(perMinute, ['key_a', 'key_b', 'key_c'][i % 3]), T, seeded(8))).admitted).toBe(true);
    // The first refusal tries the shards until each said it is full, then marks key_a's item.
    expect((await admitSharded(model, first, subject(perMinute, 'key_a'), T, seeded(8))).admitted).toBe(false);
    expect(model.items.get(`usage#key#key_a|${DAY}`)).toMatchObject({ ofm: '2031-03-04T10:20|15000|1000000' });
    // A fresh environment: one failed write on key_a's item, no shard tried, the minute at its limit.
    const calls = model.calls;
    const freshMemory = new LimiterMemory();
    const fresh = await admitSharded(model, freshMemory, subject(perMinute, 'key_a'), at('2031-03-04T10:20:59.000Z'), seeded(9));
    expect(fresh.admitted).toBe(false);
    expect(model.calls - calls).toBe(1);
    expect(rateLimitHeaders(fresh.windows)).toMatchObject({ 'X-RateLimit-Limit': '15000', 'X-RateLimit-Remaining': '0' });
    // That environment now knows the minute is full: another key is refused without a write.
    expect((await admitSharded(model, freshMemory, subject(perMinute, 'key_b'), at('2031-03-04T10:20:59.100Z'), seeded(9))).admitted).toBe(false);
    expect(model.calls - calls).toBe(1);
    expect(model.items.get(`usage#key#key_a|${DAY}`)).toMatchObject({ requests: 5_000 });
    // It is only about that minute, at that limit: a raised limit, or the next minute, is counted.
    const raised = { perMinute: 16_000, perDay: 1_000_000 };
    const more = await admitSharded(model, new LimiterMemory(), { ...subject(raised, 'key_a'), orgLimitsVersion: 1 }, at('2031-03-04T10:20:59.500Z'), seeded(9));
    expect(more).toMatchObject({ admitted: true });
    expect(more.windows.find((w) => w.window.period === 'minute')?.window.id).toBe('2031-03-04T10:20');
    expect((await admitSharded(model, new LimiterMemory(), { ...subject(raised, 'key_a'), orgLimitsVersion: 1 }, at('2031-03-04T10:21:00.000Z'), seeded(9))).admitted).toBe(true);
  });

  it('a full minute costs about one failed shard write per environment, whatever the keys: the first to find every shard full marks them', async () => {
    const model = newModel();
    const perMinute = { perMinute: 15_000, perDay: 1_000_000 };
    const filler = new LimiterMemory();
    for (let i = 0; i < 15_000; i++) expect((await admitSharded(model, filler, subject(perMinute, `key_${i % 100}`), T, seeded(8))).admitted).toBe(true);
    let failedShardWrites = 0;
    const count = model.count.bind(model);
    model.count = async (...args) => {
      const result = await count(...args);
      if (!result.ok && 'shard' in args[0] && args[0].shard !== undefined) failedShardWrites += 1;
      return result;
    };
    // 40 environments, each with requests of three keys it has not seen refused, within the full minute.
    const random = seeded(11);
    let refused = 0;
    for (let round = 0; round < 3; round++) {
      for (let env = 0; env < 40; env++) {
        const memory = new LimiterMemory();
        const result = await admitSharded(model, memory, subject(perMinute, `key_${(env * 3 + round) % 100}`), at(`2031-03-04T10:20:4${round}.${String(env).padStart(3, '0')}Z`), random);
        expect(result.admitted).toBe(false);
        expect(rateLimitHeaders(result.windows)['X-RateLimit-Remaining']).toBe('0');
        refused += 1;
      }
    }
    // One environment walks the shards (then reads and marks them all); every other one fails once.
    expect(failedShardWrites).toBeLessThanOrEqual(refused + SHARD_COUNT);
    expect(model.items.get(`usage#org#${ORG}#17|${DAY}`)).toMatchObject({ mc: shardShare(15_000, 17), ofm: '2031-03-04T10:20|15000|1000000' });
    expect(shardTotal(model, DAY, 'mc')).toBe(15_000);
  });

  it('a shard frozen by a limit change, the others full: environments refuse after one read, not by writing the frozen shard', { timeout: 20_000 }, async () => {
    const model = newModel();
    const tiny = { perMinute: 15_000, perDay: 64 };
    const filler = new LimiterMemory();
    for (let i = 0; i < 63; i++) expect((await admitSharded(model, filler, subject(tiny, `key_${i % 9}`), T, seeded(4))).admitted).toBe(true);
    // The shard left with room is being changed (its applier stalled): frozen.
    const open = Array.from({ length: SHARD_COUNT }, (_, i) => i).find((i) => Number(model.items.get(`usage#org#${ORG}#${i}|${DAY}`)?.requests ?? 0) === 0) as number;
    await model.freeze({ organizationId: ORG, shard: open }, DAY, { v: 0, limits: tiny }, 'v0');
    let writesOnFrozen = 0;
    const count = model.count.bind(model);
    model.count = async (...args) => {
      if ('shard' in args[0] && args[0].shard === open) writesOnFrozen += 1;
      return count(...args);
    };
    const random = seeded(12);
    const environments = Array.from({ length: 20 }, () => new LimiterMemory());
    // Three rounds a second apart; in each, the 20 environments' requests at once.
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(environments.map((memory, i) => admitSharded(model, memory, subject(tiny, `key_${i}`), at(`2031-03-04T10:20:3${round}.${String(i * 10).padStart(3, '0')}Z`), random)));
      expect(results.map((r) => r.admitted)).toEqual(environments.map(() => false));
    }
    // A first pick may land on it (1 in 64); no environment writes it once the read has shown it frozen.
    expect(writesOnFrozen).toBeLessThanOrEqual(3);
  });

  it('a raised limit is room again at once: what an environment saw full under the old limit is forgotten', async () => {
    const model = newModel();
    const seen = new LimiterMemory();
    const small = { perMinute: 15_000, perDay: 640 };
    for (let i = 0; i < 640; i++) await admitSharded(model, seen, subject(small, ['key_a', 'key_b'][i % 2]), T, seeded(10));
    expect((await admitSharded(model, seen, subject(small, 'key_a'), T, seeded(10))).admitted).toBe(false);
    expect(model.items.get(`usage#key#key_a|${DAY}`)).toMatchObject({ ofd: '2031-03-04|15000|640' });
    // The day limit doubles: the same environment, and any other, admit the next 640 of the day.
    const raised = { perMinute: 15_000, perDay: 1_280 };
    let admitted = 0;
    for (let i = 0; i < 700; i++) {
      const env = i % 2 ? seen : new LimiterMemory();
      if ((await admitSharded(model, env, { ...subject(raised, ['key_a', 'key_b'][i % 2]), orgLimitsVersion: 1 }, T, seeded(11 + i))).admitted) admitted += 1;
    }
    expect(admitted).toBe(640);
    expect(shardTotal(model, DAY, 'requests')).toBe(1_280);
  });

  it('a new minute is open again, and an environment thawing with a stale view counts in its clock\'s window', async () => {
    const model = newModel();
    const frozen = new LimiterMemory();
    const other = new LimiterMemory();
    const perMinute = { perMinute: 15_000, perDay: 1_000_000 };
    // 15,000 in 10:20 (the limit), seen full by `frozen`.
    for (let i = 0; i < 15_001; i++) await admitSharded(model, i % 2 ? frozen : other, subject(perMinute), T, seeded(6));
    expect((await admitSharded(model, frozen, subject(perMinute), T, seeded(6))).admitted).toBe(false);
    // Thawed at 10:22: its memory says 10:20 is full, which says nothing of 10:22.
    const thawed = await admitSharded(model, frozen, subject(perMinute), at('2031-03-04T10:22:05.000Z'), seeded(6));
    expect(thawed.admitted).toBe(true);
    expect(thawed.windows[0]!.window.id).toBe('2031-03-04T10:22');
  });

  it('never counts back in an earlier minute: a slow clock counts in the minute a shard already moved to', async () => {
    const model = newModel();
    const fast = new LimiterMemory();
    const slow = new LimiterMemory();
    const one = { perMinute: 15_000, perDay: 1_000_000 };
    // Only shard 0 is used (random() = 0): the fast clock moves it to 10:21.
    const zero = () => 0;
    await admitSharded(model, fast, subject(one), at('2031-03-04T10:21:00.500Z'), zero);
    const behind = await admitSharded(model, slow, subject(one), at('2031-03-04T10:20:59.700Z'), zero);
    expect(behind.admitted).toBe(true);
    expect(model.items.get(`usage#org#${ORG}#0|${DAY}`)).toMatchObject({ mw: '2031-03-04T10:21', mc: 2 });
  });

  it('tallies refusals and writes them at most once a second per environment', async () => {
    const model = newModel();
    const memory = new LimiterMemory();
    const zeroDay = { perMinute: 15_000, perDay: 0 };
    for (let i = 0; i < 50; i++) await admitSharded(model, memory, subject(zeroDay, 'key_r'), T, seeded(7));
    expect(await flushRefusals(model, memory.refusals, T, seeded(7))).toBe(2);
    expect(await flushRefusals(model, memory.refusals, T, seeded(7))).toBe(0);
    expect(shardTotal(model, DAY, 'rateLimited')).toBe(50);
    // The key's on its credits item: not on the counter item each of its requests writes.
    expect(model.items.get(`usage#key#key_r#credits|${DAY}`)).toMatchObject({ rateLimited: 50 });
  });
});
