// The high-volume path's credits (shared/limits/credit-batches.ts) against the model of DynamoDB's
// per-item rules the simulation uses (bench/dynamo-model.ts). The same code against DynamoDB Local:
// test/integration/high-volume.test.ts.
import { describe, expect, it, vi } from 'vitest';
import { DynamoModel } from '../../bench/dynamo-model.ts';
import { seeded } from '../../bench/limits-sim.ts';
import {
  BALANCE_SHARE,
  BATCH_SECONDS,
  BATCHES,
  CreditMemory,
  DRAIN_EVERY_MS,
  drainBatches,
  FILL_CLAIM_MS,
  fillSize,
  holdFromBatch,
  MIN_FILL_HOLDS,
} from '../../shared/limits/credit-batches.ts';
import { DAY, newModel, ORG, T } from '../support/model.ts';

function fundedModel(credits: number): DynamoModel {
  const model = newModel();
  model.createOrganization(ORG, credits, { perMinute: 600_000, perDay: 100_000_000 });
  return model;
}

const org = (model: DynamoModel) => model.items.get(DynamoModel.balanceKey(ORG)) as { credits: number; creditsHeld?: number };
const batch = (model: DynamoModel, n: number) => model.items.get(DynamoModel.sharedBatchKey(ORG, n)) as { remaining: number; charged: number } | undefined;

/** A one-credit hold as shared/db/credits.ts holdCredits makes it: a batch, else the balance, after draining the batches once at 402. */
async function reserve(model: DynamoModel, memory: CreditMemory, requestKey: string, now: Date, random = Math.random): Promise<'served' | 'again' | 'refused'> {
  const batched = await holdFromBatch(model, memory, ORG, { requestKey, keyId: 'key_a', credits: 1 }, now, random);
  if (batched.outcome === 'held') return 'served';
  if (batched.outcome === 'alreadyCharged') return 'again';
  if (batched.outcome === 'empty' && (await drainBatches(model, memory, ORG, now)) === 0) return 'refused';
  let held = model.holdFromBalance(ORG, requestKey, 'key_a', DAY, 1, 1, now);
  if (held === 'empty' && (await drainBatches(model, memory, ORG, now)) > 0) held = model.holdFromBalance(ORG, requestKey, 'key_a', DAY, 1, 1, now);
  return held === 'empty' ? 'refused' : held === 'alreadyCharged' ? 'again' : 'served';
}

describe('fillSize', () => {
  const never = { remaining: 0, charged: 0, filledAt: 0, filled: 0, filling: 0, billingRev: 0 };

  it('fills a batch never filled with MIN_FILL_HOLDS holds', () => {
    expect(fillSize(never, T.getTime(), 3, 1_000_000)).toBe(3 * MIN_FILL_HOLDS);
  });

  it('fills about BATCH_SECONDS of use at the rate the last fill lasted', () => {
    // 800 credits lasted 2 s: 400 a second, so 1,600.
    expect(fillSize({ ...never, filledAt: T.getTime() - 2_000, filled: 800 }, T.getTime(), 1, 10_000_000)).toBe(400 * BATCH_SECONDS);
  });

  it('takes at most 1/BALANCE_SHARE of the balance, but always what the hold in hand needs', () => {
    const busy = { ...never, filledAt: T.getTime() - 100, filled: 10_000 };
    expect(fillSize(busy, T.getTime(), 1, 51_200)).toBe(51_200 / BALANCE_SHARE);
    expect(fillSize({ ...busy, remaining: 2 }, T.getTime(), 5, 4)).toBe(3);
  });

  it('cannot fill when the balance holds less than the hold needs', () => {
    expect(fillSize({ ...never, remaining: 1 }, T.getTime(), 5, 3)).toBeUndefined();
  });
});

describe('holds from shared batches', () => {
  it('serves exactly the balance across environments, never below zero, each request key charged once', async () => {
    const model = fundedModel(10_000);
    const envs = Array.from({ length: 10 }, () => new CreditMemory());
    const random = seeded(3);
    const outcomes = { served: 0, again: 0, refused: 0 };
    for (let i = 0; i < 12_000; i++) {
      outcomes[await reserve(model, envs[i % 10] as CreditMemory, `req_${i}`, new Date(T.getTime() + i), random)] += 1;
      expect(org(model).credits).toBeGreaterThanOrEqual(0);
    }
    expect(outcomes).toEqual({ served: 10_000, again: 0, refused: 2_000 });
    expect(org(model).credits + model.creditsInBatches).toBe(0);
    // Retried after the balance ran out: still the original charge, not a 402.
    expect(await reserve(model, envs[3] as CreditMemory, 'req_42', T, random)).toBe('again');
  });

  it('fills at the reply rate, not once per environment: 3,000 environments make a few hundred fills, not 3,000', async () => {
    const model = fundedModel(10_000_000);
    const fill = vi.spyOn(model, 'fillBatch');
    const random = seeded(5);
    // 3,000 environments, a request each, 10,000 a second; then each again 2 s later.
    for (let round = 0; round < 2; round++) {
      for (let e = 0; e < 3_000; e++) {
        const memory = new CreditMemory();
        expect(await reserve(model, memory, `r${round}_${e}`, new Date(T.getTime() + round * 2_000 + e / 10), random)).toBe('served');
      }
    }
    // Each batch's first fill (MIN_FILL_HOLDS holds) and, for some, a second one sized by its rate.
    expect(fill.mock.calls.length).toBeGreaterThanOrEqual(BATCHES);
    expect(fill.mock.calls.length).toBeLessThan(2.5 * BATCHES);
  });

  it("a fleet's first second fills each batch once: its first fill lasts more than a second at 10,000 holds a second", async () => {
    const model = fundedModel(10_000_000);
    const fill = vi.spyOn(model, 'fillBatch');
    const random = seeded(7);
    // 3,000 environments starting at once, 10,000 holds of 4 credits in the first second.
    const memories = Array.from({ length: 3_000 }, () => new CreditMemory());
    for (let i = 0; i < 10_000; i++) {
      const held = await holdFromBatch(model, memories[i % 3_000] as CreditMemory, ORG, { requestKey: `r${i}`, keyId: 'key_a', credits: 4 }, new Date(T.getTime() + i / 10), random);
      expect(held.outcome).toBe('held');
    }
    // 10,000 / BATCHES = 78 holds a batch, fewer than MIN_FILL_HOLDS (before: 32 holds, then a second fill: 2 a batch).
    expect(fill.mock.calls.length).toBe(BATCHES);
  });

  it('as the balance runs low its fills stay few: from 40,000 credits at 10,000 holds a second, its third second takes fewer than 100 fills', async () => {
    const model = fundedModel(40_000);
    const fills: number[] = [];
    const fill = model.fillBatch.bind(model);
    vi.spyOn(model, 'fillBatch').mockImplementation(async (...args) => {
      fills.push(args[5].getTime() - T.getTime());
      return fill(...args);
    });
    const random = seeded(9);
    const memories = Array.from({ length: 3_000 }, () => new CreditMemory());
    for (let i = 0; i < 30_000; i++) {
      await holdFromBatch(model, memories[i % 3_000] as CreditMemory, ORG, { requestKey: `r${i}`, keyId: 'key_a', credits: 1 }, new Date(T.getTime() + i / 10), random);
    }
    // Each fill takes at most 1/BALANCE_SHARE of a balance that falls from about 24,000 to 9,000
    // here: about BALANCE_SHARE × 10,000 / B fills a second (56; with 1/256: 149).
    expect(fills.filter((t) => t >= 2_000 && t < 3_000).length).toBeLessThan(100);
    expect(org(model).credits).toBeGreaterThan(0);
  });

  it('a hold that finds its batch claimed by a slow fill takes from another batch, not again and again from the claimed one', async () => {
    const model = fundedModel(1_000_000);
    // Another environment claimed batch 0, and its fill has not come (a lost answer waits out a timeout).
    expect(await model.claimBatch(ORG, 0, await model.readBatch(ORG, 0), T.getTime() + FILL_CLAIM_MS, T)).toBe(true);
    const take = vi.spyOn(model, 'take');
    const held = await holdFromBatch(model, new CreditMemory(), ORG, { requestKey: 'r', keyId: 'key_a', credits: 4 }, T, () => 0);
    expect(held).toEqual({ outcome: 'held', batch: 1 });
    // One failed take on the claimed batch (before: one per attempt, 8, then the balance).
    expect(take.mock.calls.filter(([, n]) => n === 0)).toHaveLength(1);
  });

  it('a settle returns the rest into its batch and counts the charge there; a fill or drain moves the charge off creditsHeld into the day\'s usage', async () => {
    const model = fundedModel(1_000_000);
    const memory = new CreditMemory();
    const held = await holdFromBatch(model, memory, ORG, { requestKey: 'r1', keyId: 'key_a', credits: 10 }, T, () => 0);
    expect(held).toMatchObject({ outcome: 'held', batch: 0 });
    const filled = 10 * MIN_FILL_HOLDS;
    expect(org(model)).toMatchObject({ credits: 1_000_000 - filled, creditsHeld: filled });
    expect(batch(model, 0)).toMatchObject({ remaining: filled - 10, charged: 0 });
    // The reply used 4 of its 10: 6 go back into the batch, 4 are counted on it.
    expect(await model.settle(ORG, 'r1', 4, T)).toMatchObject({ intoBatch: true, held: 10 });
    expect(batch(model, 0)).toMatchObject({ remaining: filled - 4, charged: 4 });
    // The settled balance (credits + creditsHeld) still counts the 4 until the batch is drained.
    expect(await drainBatches(model, memory, ORG, T)).toBe(filled - 4);
    expect(org(model)).toMatchObject({ credits: 1_000_000 - 4, creditsHeld: 0 });
    expect(batch(model, 0)).toMatchObject({ remaining: 0, charged: 0 });
    expect(model.items.get(DynamoModel.orgDayKey(ORG, DAY))).toMatchObject({ credits: 4 });
  });

  it('a refunded hold goes back into its batch; the request key may then be charged again', async () => {
    const model = fundedModel(1_000);
    const memory = new CreditMemory();
    expect(await reserve(model, memory, 'req_x', T)).toBe('served');
    expect(org(model).credits + model.creditsInBatches).toBe(999);
    expect(await model.settle(ORG, 'req_x', 0, T)).toMatchObject({ intoBatch: true });
    expect(await model.settle(ORG, 'req_x', 0, T)).toBeUndefined();
    expect(org(model).credits + model.creditsInBatches).toBe(1_000);
    expect(await reserve(model, memory, 'req_x', T)).toBe('served');
  });

  it('at 402 the credits parked in batches are drained back and served, at most once per DRAIN_EVERY_MS per environment', async () => {
    const model = fundedModel(1_000);
    const memory = new CreditMemory();
    // The first hold fills a batch with MIN_FILL_HOLDS of the balance's 1,000 (at most 1/BALANCE_SHARE: 7).
    expect(await reserve(model, memory, 'first', T, () => 0)).toBe('served');
    const parked = model.creditsInBatches;
    expect(parked).toBeGreaterThan(0);
    // The balance is emptied elsewhere (the one-item path holds from it directly).
    for (let i = 0; model.holdFromBalance(ORG, `direct_${i}`, 'key_b', DAY, 1, 1, T) !== 'empty'; i++);
    expect(org(model).credits).toBe(0);
    // A hold on another batch finds it short and the balance empty: it drains and is served.
    expect(await reserve(model, new CreditMemory(), 'late', T, () => 0.5)).toBe('served');
    expect(org(model).credits + model.creditsInBatches).toBe(parked - 1);
    const drains = vi.spyOn(model, 'readBatches');
    const fresh = new CreditMemory();
    await drainBatches(model, fresh, ORG, T);
    await drainBatches(model, fresh, ORG, new Date(T.getTime() + DRAIN_EVERY_MS - 1));
    expect(drains).toHaveBeenCalledTimes(1);
  });
});
