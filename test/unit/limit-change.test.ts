// Applying a limit change (shared/limits/limit-change.ts, through rebase in store.ts) against the
// model of DynamoDB the simulation uses: many environments waiting on items a stalled applier froze.
import { describe, expect, it } from 'vitest';
import { DynamoModel } from '../../bench/dynamo-model.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import { orgItems } from '../../shared/limits/limit-change.ts';
import { admitOneItem } from '../../shared/limits/one-item.ts';
import { LimiterMemory, shardLimits } from '../../shared/limits/sharded.ts';
import { countIn, type CounterStore, type CounterTarget } from '../../shared/limits/store.ts';

const ORG = 'org_stalled';
const DAY = '2031-03-04';
const T = new Date('2031-03-04T10:20:30.000Z');

function subject(orgLimits: Limits, keyId: string, orgLimitsVersion: number): RateSubject {
  return { organizationId: ORG, keyId, orgLimits, keyLimits: null, orgLimitsVersion };
}

/**
 * One environment's view of the shared table: its own store object, as each Lambda process has its
 * own module, and each call 5 ms away (so environments waking at once do overlap).
 */
function environmentStore(model: DynamoModel): CounterStore {
  return new Proxy(model, { get: (target, name) => {
    const value = Reflect.get(target, name, target) as unknown;
    if (typeof value !== 'function') return value;
    return async (...args: unknown[]) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return (value as (...a: unknown[]) => unknown).apply(target, args);
    };
  } });
}

/** Count the calls of one of the model's methods (each still runs as before): the count so far. */
function countCalls(model: DynamoModel, method: 'freeze' | 'claimChange'): () => number {
  let calls = 0;
  const original = (model[method] as (...args: unknown[]) => Promise<unknown>).bind(model);
  Object.assign(model, { [method]: (...args: unknown[]) => { calls += 1; return original(...args); } });
  return () => calls;
}

/** One request admitted under version 1; then the change to version 2 froze every item, and its applier stopped answering. */
async function stalledChange() {
  const model = new DynamoModel();
  model.msPerCall = 1;
  const before = { perMinute: 1_000, perDay: 10_000 };
  const after = { perMinute: 2_000, perDay: 20_000 };
  expect((await admitOneItem(model, new LimiterMemory(), subject(before, 'key_a', 1), T, 100)).admitted).toBe(true);
  for (const item of orgItems(ORG)) await model.freeze(item, DAY, { v: 2, limits: after }, 'v2');
  return { model, after };
}

describe('a limit change whose applier stalled', () => {
  it('one waiting environment takes it over, not every one: the items are frozen about once, not once per environment', { timeout: 20_000 }, async () => {
    const { model, after } = await stalledChange();
    const freezes = countCalls(model, 'freeze');
    // 40 environments' requests arrive, each waiting on the frozen day item.
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => admitOneItem(environmentStore(model), new LimiterMemory(), subject(after, `key_${i}`, 2), T, 100)));
    expect(results.every((r) => r.admitted)).toBe(true);
    expect(freezes()).toBeLessThanOrEqual(2 * orgItems(ORG).length);
    expect(model.items.get(`usage#org#${ORG}|${DAY}`)).toMatchObject({ lv: 2, requests: 41 });
    expect(model.items.get(`usage#org#${ORG}|${DAY}`)?.fz).toBeUndefined();
  });

  it('while a request that took it over is still applying it, the other waiting requests see its claim on their item and do not claim too', { timeout: 20_000 }, async () => {
    const { model, after } = await stalledChange();
    const claims = countCalls(model, 'claimChange');
    // The first request to take the change over is slow to release the items (2 s).
    const slow = environmentStore(model);
    const assign = model.assign.bind(model);
    let stalled = false;
    const first = new Proxy(slow, { get: (target, name) => (name === 'assign' ? async (...args: Parameters<typeof assign>) => {
      if (!stalled) {
        stalled = true;
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
      return assign(...args);
    } : Reflect.get(target, name, target)) });
    const taking = admitOneItem(first, new LimiterMemory(), subject(after, 'key_first', 2), T, 100);
    // 40 environments' requests arrive half a second later: their waits end while it applies.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const results = await Promise.all([taking, ...Array.from({ length: 40 }, (_, i) => admitOneItem(environmentStore(model), new LimiterMemory(), subject(after, `key_${i}`, 2), T, 100))]);
    expect(results.every((r) => r.admitted)).toBe(true);
    // The one that took it over claimed; the others saw its claim (`fzc`) on the frozen day item.
    expect(claims()).toBe(1);
    expect(model.items.get(`usage#org#${ORG}|${DAY}`)).toMatchObject({ lv: 2, requests: 42 });
  });

  it('requests waiting on shards the change froze without a claim stamp claim there first: the organization\'s day item takes a claim or two, not one per request or per shard', { timeout: 20_000 }, async () => {
    const model = new DynamoModel();
    const limits = { perMinute: 20_000, perDay: 200_000 };
    const version = { v: 2, limits };
    // The limit change froze every item (no claim stamp), and stalled; a request took it over
    // (its claim, by a clock 600 ms ahead, on the day item) and froze half the items again,
    // stamping them, before it stalled too. Shards 32 to 63 are not stamped.
    for (const item of orgItems(ORG)) await model.freeze(item, DAY, version, 'v2');
    const claimedAt = T.getTime() + 600;
    expect(await model.claimChange({ organizationId: ORG }, DAY, 'v2', claimedAt)).toBe(true);
    for (const item of orgItems(ORG).slice(0, 33)) await model.freeze(item, DAY, version, 'v2', claimedAt);
    const claims = new Map<string, number>();
    const claim = model.claimChange.bind(model);
    model.claimChange = async (target: CounterTarget, ...rest) => {
      const item = 'keyId' in target ? target.keyId : String(target.shard ?? 'day');
      claims.set(item, (claims.get(item) ?? 0) + 1);
      return claim(target, ...rest);
    };
    // 40 requests from environments whose clocks are off by up to half a second, arriving 10 ms
    // apart, write shards 40 to 59 (two each) and wait on them.
    const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const results = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      await wait(i * 10);
      const skew = Math.round(((i * 37) % 41) / 40 * 1_000 - 500);
      const shard = 40 + (i % 20);
      return countIn(environmentStore(model), { organizationId: ORG, shard }, shardLimits(limits, shard), new Date(T.getTime() + skew), new Map(), { version, wait });
    }));
    expect(results.every((r) => r.outcome === 'admitted')).toBe(true);
    // Every request's waits (FROZEN_WAITS_MS) end while that claim stands; then one takes the change over.
    expect(claims.get('day')).toBeLessThanOrEqual(3);
    expect(Math.max(...claims.values())).toBeLessThanOrEqual(3);
    for (let shard = 40; shard < 60; shard++) expect(model.items.get(`usage#org#${ORG}#${shard}|${DAY}`)).toMatchObject({ lv: 2, requests: 2 });
    for (const item of orgItems(ORG)) expect(model.items.get(item.shard === undefined ? `usage#org#${ORG}|${DAY}` : `usage#org#${ORG}#${item.shard}|${DAY}`)?.fz).toBeUndefined();
  });
});
