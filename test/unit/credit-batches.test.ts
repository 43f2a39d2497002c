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
  DRAIN_CLAIM_MS,
  DRAIN_EVERY_MS,
  drainBatches,
  EMPTY_RECHECK_MS,
  FILL_CLAIM_MS,
  fillSize,
  holdFromBatch,
  holdFromBatches,
  MIN_FILL_HOLDS,
} from '../../shared/limits/credit-batches.ts';
import { currentCode } from '../../bench/sim/code.ts';
import { DAY, newModel, ORG, T } from '../support/model.ts';

function fundedModel(credits: number): DynamoModel {
  const model = newModel();
  model.createOrganization(ORG, credits, { perMinute: 600_000, perDay: 100_000_000 });
  return model;
}

const org = (model: DynamoModel) => model.items.get(DynamoModel.balanceKey(ORG)) as { credits: number; creditsHeld?: number };
const batch = (model: DynamoModel, n: number) => model.items.get(DynamoModel.sharedBatchKey(ORG, n)) as { remaining: number; charged: number } | undefined;

/** A one-credit hold as shared/db/credits.ts holdCredits makes it (bench/sim/code.ts, which the simulation drives). */
async function reserve(model: DynamoModel, memory: CreditMemory, requestKey: string, now: Date, random = Math.random): Promise<'served' | 'again' | 'refused'> {
  const held = await currentCode.hold(model, { credits: memory }, 'sharded', ORG, requestKey, 'key_a', 1, 1, now, () => requestKey, random);
  return held.outcome === 'held' ? 'served' : held.outcome === 'alreadyCharged' ? 'again' : 'refused';
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

  it('with the balance empty, a read of the batches finds the credits parked there and a take serves the hold (no drain)', async () => {
    const model = fundedModel(1_000);
    const memory = new CreditMemory();
    // The first hold fills a batch with MIN_FILL_HOLDS of the balance's 1,000 (at most 1/BALANCE_SHARE: 7).
    expect(await reserve(model, memory, 'first', T, () => 0)).toBe('served');
    const parked = model.creditsInBatches;
    expect(parked).toBeGreaterThan(0);
    // The balance is emptied elsewhere (the one-item path holds from it directly).
    for (let i = 0; model.holdFromBalance(ORG, `direct_${i}`, 'key_b', DAY, 1, 1, T) !== 'empty'; i++);
    expect(org(model).credits).toBe(0);
    // A hold on another batch finds it short and the balance empty: its read of every batch finds batch 0.
    const drain = vi.spyOn(model, 'drainBatch');
    expect(await reserve(model, new CreditMemory(), 'late', T, () => 0.5)).toBe('served');
    expect(org(model).credits + model.creditsInBatches).toBe(parked - 1);
    expect(drain).not.toHaveBeenCalled();
    // drainBatches (an organization off the high-volume path, at its 402): at most once per DRAIN_EVERY_MS per environment.
    const drains = vi.spyOn(model, 'readBatches');
    const fresh = new CreditMemory();
    await drainBatches(model, fresh, ORG, T);
    await drainBatches(model, fresh, ORG, new Date(T.getTime() + DRAIN_EVERY_MS - 1));
    expect(drains).toHaveBeenCalledTimes(1);
  });
});

describe('holds when the balance is empty (holdFromBatches)', () => {
  /** Batches 0..count-1 each hold `each` credits; the balance is empty. */
  async function parked(count: number, each: number): Promise<DynamoModel> {
    const model = fundedModel(count * each);
    for (let n = 0; n < count; n++) {
      const seen = await model.readBatch(ORG, n);
      expect(await model.claimBatch(ORG, n, seen, T.getTime() + FILL_CLAIM_MS, T)).toBe(true);
      expect(await model.fillBatch(ORG, n, seen, each, T.getTime() + FILL_CLAIM_MS, T)).toBe(true);
    }
    expect(org(model).credits).toBe(0);
    return model;
  }
  const hold = (model: DynamoModel, memory: CreditMemory, requestKey: string, credits: number, least: number, at = T) =>
    holdFromBatches(model, memory, ORG, { requestKey, keyId: 'key_a', credits, least }, at, () => 0);

  it('no batch holds the hold but together they hold its minimum: one environment drains them under a claim, the others do not write', async () => {
    const model = await parked(4, 3);
    const claims = vi.spyOn(model, 'claimDrain');
    expect(await hold(model, new CreditMemory(), 'a', 5, 2)).toEqual({ outcome: 'drained' });
    expect(org(model).credits).toBe(12);
    expect(model.creditsInBatches).toBe(0);
    // Rests come back into two batches; another environment finds them short and the claim standing.
    for (const n of [0, 1]) {
      const seen = await model.readBatch(ORG, n);
      await model.claimBatch(ORG, n, seen, T.getTime() + FILL_CLAIM_MS, T);
      await model.fillBatch(ORG, n, seen, 2, T.getTime() + FILL_CLAIM_MS, T);
    }
    expect(await hold(model, new CreditMemory(), 'b', 5, 2, new Date(T.getTime() + 100))).toEqual({ outcome: 'refused' });
    expect(claims).toHaveBeenCalledTimes(1);
    // Once the claim ended, a drain again.
    expect(await hold(model, new CreditMemory(), 'c', 5, 2, new Date(T.getTime() + DRAIN_CLAIM_MS))).toEqual({ outcome: 'drained' });
  });

  it('refuses without a read or a write for EMPTY_RECHECK_MS after its read found too little', async () => {
    const model = await parked(2, 1);
    const memory = new CreditMemory();
    expect(await hold(model, memory, 'a', 5, 3)).toEqual({ outcome: 'refused' });
    const reads = vi.spyOn(model, 'readBatches');
    const takes = vi.spyOn(model, 'take');
    expect(await hold(model, memory, 'b', 1, 1, new Date(T.getTime() + EMPTY_RECHECK_MS - 1))).toMatchObject({ outcome: 'held' });
    expect(await hold(model, memory, 'c', 5, 3, new Date(T.getTime() + EMPTY_RECHECK_MS - 1))).toEqual({ outcome: 'refused' });
    expect(reads).not.toHaveBeenCalled();
    expect(takes).toHaveBeenCalledTimes(1);
  });
});

describe('the end of the credits at 3,000 environments', () => {
  /**
   * 3,000 environments, 10,000 holds of 5 credits a second (at least 2 on the balance), each settled
   * 150 ms later at 3 (its rest back into its batch), through the last of 60,000 credits (they run out in the third second), as
   * holdCredits makes them (bench/sim/code.ts drives the same code in the simulation).
   */
  async function runOut(together = 1) {
    const model = fundedModel(60_000);
    const balanceKey = DynamoModel.balanceKey(ORG);
    let second = 0;
    const balanceWcu = new Map<number, number>();
    model.meter = {
      admitWrite: () => undefined,
      wrote: (keys, cost) => keys.forEach((key, i) => key === balanceKey && balanceWcu.set(second, (balanceWcu.get(second) ?? 0) + (cost[i] ?? 0))),
      read: () => undefined,
    };
    const drains = vi.spyOn(model, 'drainBatch');
    const balanceHolds = vi.spyOn(model, 'holdFromBalance');
    const random = seeded(11);
    const memories = Array.from({ length: 3_000 }, () => currentCode.newMemory());
    const open: { at: number; requestKey: string }[] = [];
    const outcomes = { held: 0, refused: 0, refusedWhileABatchHeldIt: 0 };
    // `together` holds (of as many environments) at once: their reads, claims and fills interleave.
    for (let i = 0; i < 60_000; i += together) {
      const at = T.getTime() + i / 10;
      second = Math.floor(i / 10_000);
      while (open.length > 0 && (open[0] as { at: number }).at <= at) {
        const { requestKey } = open.shift() as { requestKey: string };
        await model.settle(ORG, requestKey, 3, new Date(at));
      }
      const helds = await Promise.all(
        Array.from({ length: together }, (_, j) => {
          const requestKey = `r${i + j}`;
          return currentCode.hold(model, memories[(i + j) % 3_000] as ReturnType<typeof currentCode.newMemory>, 'sharded', ORG, requestKey, 'key_a', 5, 2, new Date(at), () => requestKey, random).then((held) => ({ held, requestKey }));
        }),
      );
      for (const { held, requestKey } of helds) {
        if (held.outcome === 'held') {
          outcomes.held += 1;
          open.push({ at: at + 150, requestKey });
        } else {
          outcomes.refused += 1;
          if (Array.from({ length: BATCHES }, (_, n) => batch(model, n)?.remaining ?? 0).some((r) => r >= 5)) outcomes.refusedWhileABatchHeldIt += 1;
        }
      }
      expect(org(model).credits).toBeGreaterThanOrEqual(0);
    }
    for (const { requestKey } of open) await model.settle(ORG, requestKey, 3, new Date(T.getTime() + 7_000));
    return { model, outcomes, drains: drains.mock.calls.length, balanceHolds: balanceHolds.mock.calls.length, balanceWcu, balancePeakWcu: Math.max(...balanceWcu.values()) };
  }

  it('the balance is drained by one environment at a time, and a 402 is decided by a read of the batches, not by draining them', async () => {
    const { model, outcomes, drains, balancePeakWcu } = await runOut();
    // Credits conserved, none below zero (checked at every hold), none held at the end.
    expect(org(model).credits + model.creditsInBatches + model.heldCredits + model.chargedCredits).toBe(60_000);
    expect(model.heldCredits).toBe(0);
    expect(outcomes.held).toBeGreaterThan(19_500);
    // Before: every environment drained every batch at its 402 (1,687 batch drains), and the balance
    // took 5,986 WCU in the second its credits ran out; now a drain claimed by one environment every
    // DRAIN_CLAIM_MS at most, and the balance takes its fills as it runs low (about 1,460 WCU).
    expect(drains).toBeLessThan(2 * BATCHES);
    expect(balancePeakWcu).toBeLessThan(2_000);
    // The bound: a 402 while a batch holds the hold's credits only for rests settled into it since
    // the environment's last read of every batch (at most EMPTY_RECHECK_MS ago): about 5% of the 402s here.
    expect(outcomes.refusedWhileABatchHeldIt).toBeLessThan(outcomes.refused / 10);
  });

  it('holds 100 at a time: a hold whose fills lost to others near the end is decided by the batches, not held on the balance', async () => {
    const { model, outcomes, balanceHolds } = await runOut(100);
    expect(org(model).credits + model.creditsInBatches + model.heldCredits + model.chargedCredits).toBe(60_000);
    expect(model.heldCredits).toBe(0);
    expect(outcomes.held).toBeGreaterThan(19_500);
    // Before: a hold whose fills all failed (the balance lower than its read, other environments'
    // fills took it) or whose tries all met other environments' claims went to the balance: 91
    // holds on the balance item, most of them failed writes once it was empty. Now the batches
    // decide those: 7 (the drains' winners).
    expect(balanceHolds).toBeLessThan(20);
  });
});
