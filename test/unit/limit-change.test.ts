// Applying a limit change (shared/limits/limit-change.ts, through rebase in store.ts) against the
// model of DynamoDB the simulation uses: many environments waiting on items a stalled applier froze.
import { describe, expect, it } from 'vitest';
import { DynamoModel } from '../../bench/dynamo-model.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import { orgItems } from '../../shared/limits/limit-change.ts';
import { admitOneItem } from '../../shared/limits/one-item.ts';
import { LimiterMemory } from '../../shared/limits/sharded.ts';
import type { CounterStore } from '../../shared/limits/store.ts';

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
    let freezes = 0;
    const freeze = model.freeze.bind(model);
    model.freeze = async (...args) => {
      freezes += 1;
      return freeze(...args);
    };
    // 40 environments' requests arrive, each waiting on the frozen day item.
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => admitOneItem(environmentStore(model), new LimiterMemory(), subject(after, `key_${i}`, 2), T, 100)));
    expect(results.every((r) => r.admitted)).toBe(true);
    expect(freezes).toBeLessThanOrEqual(2 * orgItems(ORG).length);
    expect(model.items.get(`usage#org#${ORG}|${DAY}`)).toMatchObject({ lv: 2, requests: 41 });
    expect(model.items.get(`usage#org#${ORG}|${DAY}`)?.fz).toBeUndefined();
  });

  it('while a request that took it over is still applying it, the other waiting requests see its claim on their item and do not claim too', { timeout: 20_000 }, async () => {
    const { model, after } = await stalledChange();
    let claims = 0;
    const claim = model.claimChange.bind(model);
    model.claimChange = async (...args) => {
      claims += 1;
      return claim(...args);
    };
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
    expect(claims).toBe(1);
    expect(model.items.get(`usage#org#${ORG}|${DAY}`)).toMatchObject({ lv: 2, requests: 42 });
  });
});
