// Credits on the high-volume path (docs/limits.md "Credits in shared batches"): a debit of the
// organization's balance item per reply would be the next hot item, so credits move from the balance
// into BATCHES shared batch items (each its own partition) and each reply holds its worst case from
// one of them, picked at random: one transaction of the reservation and the credits out of the batch.
//
//  - Never below zero: a fill is conditional on the balance (`credits >= size`), a hold on the batch
//    (`remaining >= credits`); credits only move between the balance, batches, holds and charges.
//  - Never paid twice: the reservation (keyed by the request key) is created in the same
//    transaction as the hold, unless a live one exists.
//  - The balance's load follows the reply rate, not the number of environments: a batch is filled
//    by whichever environment finds it short and claims it first (the others take from another
//    batch, not from the claimed one again and again while its filler waits), with
//    about BATCH_SECONDS of its use (its last fill over the time since), and nothing belongs to an
//    environment, so nothing is left behind when one stops.
//  - Near zero a fill takes at most 1/BALANCE_SHARE of the balance, and a balance that cannot fill
//    a batch for the hold in hand goes into it whole (not holds on the balance item; a fill that fails on
//    the balance's condition, or a hold whose tries all met others' claims soon after its environment
//    found the balance short, goes to the batches as well); once it is empty a
//    hold tries BATCHES_TRIED batches, then (holdFromBatches) reads every batch, eventually
//    consistent, at most once per EMPTY_RECHECK_MS per environment, and takes from one that its
//    read found holding enough: a 402 is decided by that read, not by draining. Only when no batch
//    holds the hold but together they hold its minimum is there a drain back into the balance, by
//    one environment at a time per organization (a claim on the organization's drain item), so the
//    balance takes a few drains at the end of the credits, not every environment's.
//  - Settle returns the rest to the hold's batch and counts the charge on it; a fill or a drain
//    takes what the batch charged off the organization's `creditsHeld` and into its day's usage.
//  - Billed as the billing stood: a fill stamps the batch with the organization's billing revision
//    (conditional on it), a billing change stamps every batch with the new one, and a hold priced
//    with an older revision cannot take from a batch stamped newer (`stale`: price it again).
import type { CounterStore, CreditStore, SharedBatch, SpendRequest } from './store.ts';
import { dayWindow } from './windows.ts';

/** Shared batch items per organization: a reply's hold and settle each write one, so at 10,000 replies/s each takes about 80 of each a second. */
export const BATCHES = 128;
/** A fill holds about this many seconds of the batch's use (fewer writes on the balance, more credits parked). */
export const BATCH_SECONDS = 4;
/**
 * A fill takes at most 1/BALANCE_SHARE of the balance: with BATCHES batches, about as much as the
 * balance at most sits in them, so near zero little does. The price: as the balance B runs low, the
 * fills come faster, about BALANCE_SHARE × C / B a second when the organization spends C a second.
 */
export const BALANCE_SHARE = BATCHES;
/**
 * A batch filled for the first time (or after a lull) holds this many holds' worth: more than a batch
 * takes in a second at 10,000 replies/s (about 80), so a fleet's first second fills each batch once.
 */
export const MIN_FILL_HOLDS = 128;
/** After the balance could not fill a batch, this environment does not try to fill one for this long. */
export const EMPTY_RECHECK_MS = 1_000;
/** One environment drains an organization's batches (or tries to claim that drain) at most this often. */
export const DRAIN_EVERY_MS = 5_000;
/** How long an environment that found the balance short sends holds whose tries all met claims to the batches (as long as it waits between drains). */
export const SHORT_BALANCE_MS = DRAIN_EVERY_MS;
/** How long a claim to drain an organization's batches stands: one drain at a time per organization. */
export const DRAIN_CLAIM_MS = 2_000;
/** A batch not filled for this long is drained by the sweep (an organization that left the path, or went quiet). */
export const BATCH_IDLE_MS = 60_000;
/** How long an environment's claim to fill a batch stands (others take again meanwhile, then may claim it themselves). */
export const FILL_CLAIM_MS = 500;
/** Batches a hold tries (the one it picked, then others at random) before it is taken from the balance. */
const BATCHES_TRIED = 3;
/** Takes and fills of one hold (fills lost to concurrent environments included). */
const MAX_ATTEMPTS = 8;

/**
 * How many credits to move into a batch that cannot serve a hold of `credits`: about BATCH_SECONDS
 * of its use at the rate its last fill lasted, at least MIN_FILL_HOLDS holds, at most
 * 1/BALANCE_SHARE of the balance, and never less than the hold in hand needs. Undefined when the
 * balance cannot give that.
 */
export function fillSize(seen: SharedBatch, nowMs: number, credits: number, balance: number): number | undefined {
  const need = credits - Math.max(0, seen.remaining);
  if (balance < need) return undefined;
  const perSecond = seen.filledAt > 0 ? seen.filled / Math.max(0.05, (nowMs - seen.filledAt) / 1000) : 0;
  const wanted = Math.max(credits * MIN_FILL_HOLDS, Math.ceil(perSecond * BATCH_SECONDS));
  return Math.max(need, Math.min(wanted, Math.floor(balance / BALANCE_SHARE)));
}

/** A batch other than `n`, at random. */
function another(n: number, random: () => number): number {
  return (n + 1 + Math.floor(random() * (BATCHES - 1))) % BATCHES;
}

/** One environment's credit memory (module scope in a Lambda; one per environment in the simulation). */
export class CreditMemory {
  /** When the balance last could not fill a batch, per organization. */
  readonly emptyAt = new Map<string, number>();
  /** When this environment last found the balance short of a fill (too low for the hold, or a fill's condition failed), per organization. */
  readonly shortAt = new Map<string, number>();
  readonly lastDrain = new Map<string, number>();
  /** This environment's last read of every batch, per organization: what each held (less what it took since). */
  readonly batchView = new Map<string, { at: number; batches: Map<number, SharedBatch> }>();
  /** When this environment may next try to claim the drain of an organization's batches. */
  readonly drainAfter = new Map<string, number>();

  /** Credits came back to the balance (a drain): it is no longer known empty or short. */
  refilled(organizationId: string): void {
    this.emptyAt.delete(organizationId);
    this.shortAt.delete(organizationId);
  }

  forget(): void {
    for (const map of [this.emptyAt, this.shortAt, this.lastDrain, this.batchView, this.drainAfter]) map.clear();
  }
}

export type HighVolumeStore = CounterStore & CreditStore;

export type BatchedHold =
  | { outcome: 'held'; batch: number }
  | { outcome: 'alreadyCharged' }
  /** Every fill this hold tried lost to other environments' while the balance could fill: hold it there. */
  | { outcome: 'fromBalance' }
  /** The balance is empty (or could not fill a batch for it) and the batches tried were short: holdFromBatches decides. */
  | { outcome: 'empty' }
  /** The organization's billing changed since the hold was priced: price it again. */
  | { outcome: 'stale' };

/**
 * Hold `credits` for a reply from a shared batch picked at random, filling it from the balance
 * when it is short (with all the balance holds when that is less than the fill the hold needs);
 * other batches when the balance is empty. While the balance is known to be empty (for
 * EMPTY_RECHECK_MS), one batch is tried and nothing else is written.
 */
export async function holdFromBatch(
  store: HighVolumeStore,
  memory: CreditMemory,
  organizationId: string,
  request: Omit<SpendRequest, 'day'> & { credits: number },
  now: Date,
  random: () => number = Math.random,
): Promise<BatchedHold> {
  const nowMs = now.getTime();
  const spend: SpendRequest = { ...request, day: dayWindow(now).id };
  const knownEmpty = () => {
    const emptyAt = memory.emptyAt.get(organizationId);
    return emptyAt !== undefined && nowMs - emptyAt < EMPTY_RECHECK_MS;
  };
  let n = Math.floor(random() * BATCHES);
  let tried = 1;
  /** The last balance read could not fill a batch for this hold: the end of the credits, where the batches decide. */
  let nearZero = false;
  /** This hold read the balance (else every batch it tried was claimed by another environment's fill). */
  let readBalance = false;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const taken = await store.take(organizationId, n, spend, now);
    if (taken === 'taken') return { outcome: 'held', batch: n };
    if (taken === 'alreadyCharged') return { outcome: 'alreadyCharged' };
    if (knownEmpty()) {
      if (tried === 1 && attempt === 1) return { outcome: 'empty' };
    } else {
      const seen = await store.readBatch(organizationId, n);
      if (seen.billingRev > (request.billingRev ?? 0)) return { outcome: 'stale' };
      if (seen.remaining >= request.credits) continue; // filled meanwhile: take again
      // Another environment is filling it (its fill may be slow: a lost answer waits out a timeout):
      // another batch, not takes that fail on this one until the claim ends.
      if (seen.filling > nowMs) {
        n = another(n, random);
        continue;
      }
      const balance = await store.balance(organizationId);
      readBalance = true;
      // A balance that cannot fill the batch for this hold goes into it whole: the last credits are
      // held from batches too (a drain gathers them when no batch holds enough), not from the
      // balance, whose every hold and settle would be a write on one item.
      const fitting = fillSize(seen, nowMs, request.credits, balance);
      nearZero = fitting === undefined;
      if (nearZero) memory.shortAt.set(organizationId, nowMs);
      const size = fitting ?? (balance > 0 ? balance : undefined);
      if (size !== undefined) {
        const until = nowMs + FILL_CLAIM_MS;
        if (await store.claimBatch(organizationId, n, seen, until, now)) {
          // A fill whose condition failed found the balance lower than its read: the end of the
          // credits, where other environments' fills took it; the batches decide, not the balance.
          if (!(await store.fillBatch(organizationId, n, seen, size, until, now, request.billingRev))) {
            nearZero = true;
            memory.shortAt.set(organizationId, nowMs);
            n = another(n, random);
          }
        } else n = another(n, random); // claimed by another environment since the read
        continue; // filled by this environment, or take from another batch
      }
      memory.emptyAt.set(organizationId, nowMs);
    }
    // The balance is empty: another batch may still hold enough.
    if (tried >= BATCHES_TRIED) break;
    n = another(n, random);
    tried += 1;
  }
  // Fills lost to other environments all along: the balance serves it, unless it is at its end: this
  // hold found it short, or every batch it tried was claimed and this environment found it short lately.
  const shortAt = memory.shortAt.get(organizationId);
  const recentlyShort = !readBalance && shortAt !== undefined && nowMs - shortAt < SHORT_BALANCE_MS;
  return knownEmpty() || nearZero || recentlyShort ? { outcome: 'empty' } : { outcome: 'fromBalance' };
}

/**
 * Move everything the organization's batches hold back into its balance (and what they charged
 * into its usage), at most once per DRAIN_EVERY_MS here: what a 402 does before it refuses, so
 * credits parked in batches are never refused. Returns the credits moved.
 */
export async function drainBatches(store: CreditStore, memory: CreditMemory, organizationId: string, now: Date): Promise<number> {
  const last = memory.lastDrain.get(organizationId);
  if (last !== undefined && now.getTime() - last < DRAIN_EVERY_MS) return 0;
  memory.lastDrain.set(organizationId, now.getTime());
  let returned = await drainHolding(store, organizationId, now);
  if (store.drainOlder) returned += await store.drainOlder(organizationId);
  if (returned > 0) memory.refilled(organizationId);
  return returned;
}

/**
 * Every batch that holds credits, drained back into the balance (read consistently, for the
 * drains' conditions): the credits moved. Only what holds credits: what a batch charged reaches
 * the balance item at its next fill, or the sweep's drain.
 */
async function drainHolding(store: CreditStore, organizationId: string, now: Date): Promise<number> {
  let returned = 0;
  for (const [n, seen] of await store.readBatches(organizationId)) {
    if (seen.remaining > 0 && (await store.drainBatch(organizationId, n, seen, now))) returned += seen.remaining;
  }
  return returned;
}

export type EmptyBalanceHold =
  | BatchedHold
  /** The batches' credits are back on the balance (this environment drained them): hold from the balance. */
  | { outcome: 'drained' }
  /** 402: no batch held this hold when this environment last read them all, and no drain is due. */
  | { outcome: 'refused' };

/**
 * A hold when the balance is empty: decided by reading the batches (one eventually consistent read
 * of all BATCHES, at most once per EMPTY_RECHECK_MS here; between reads, what that read found less
 * what this environment took since), not by draining them. Tries BATCHES_TRIED of the batches found
 * holding `credits`, at random. When none holds it but together they hold `least` (the smallest
 * hold the balance would give), one environment at a time drains them into the balance: the one
 * whose claim on the organization's drain item wins (each environment tries at most once per
 * DRAIN_EVERY_MS). Refused otherwise, without another write.
 */
export async function holdFromBatches(
  store: HighVolumeStore,
  memory: CreditMemory,
  organizationId: string,
  request: Omit<SpendRequest, 'day'> & { credits: number; least?: number },
  now: Date,
  random: () => number = Math.random,
): Promise<EmptyBalanceHold> {
  const nowMs = now.getTime();
  const spend: SpendRequest = { ...request, day: dayWindow(now).id };
  let view = memory.batchView.get(organizationId);
  const fresh = view === undefined || nowMs - view.at >= EMPTY_RECHECK_MS;
  if (fresh) {
    view = { at: nowMs, batches: new Map(await store.readBatches(organizationId, { consistent: false })) };
    memory.batchView.set(organizationId, view);
  }
  const batches = (view as { batches: Map<number, SharedBatch> }).batches;
  const holding = [...batches].filter(([, b]) => b.remaining >= request.credits);
  for (let tried = 0; tried < BATCHES_TRIED && holding.length > 0; tried++) {
    const [n, seen] = holding.splice(Math.floor(random() * holding.length), 1)[0] as [number, SharedBatch];
    if (seen.billingRev > (request.billingRev ?? 0)) return { outcome: 'stale' };
    const taken = await store.take(organizationId, n, spend, now);
    if (taken === 'alreadyCharged') return { outcome: 'alreadyCharged' };
    if (taken === 'taken') {
      batches.set(n, { ...seen, remaining: seen.remaining - request.credits });
      return { outcome: 'held', batch: n };
    }
    batches.set(n, { ...seen, remaining: 0 }); // taken by others since the read
  }
  const total = [...batches.values()].reduce((sum, b) => sum + Math.max(0, b.remaining), 0);
  if (!fresh || total < (request.least ?? request.credits) || nowMs < (memory.drainAfter.get(organizationId) ?? 0)) return { outcome: 'refused' };
  // A claim read standing is not written again (environments that find the batches short at once
  // read it, one writes it); this environment tries again once it has ended.
  const claimedUntil = await store.drainClaimedUntil(organizationId);
  if (claimedUntil > nowMs) {
    memory.drainAfter.set(organizationId, claimedUntil);
    return { outcome: 'refused' };
  }
  const claimed = await store.claimDrain(organizationId, nowMs + DRAIN_CLAIM_MS, now);
  memory.drainAfter.set(organizationId, nowMs + (claimed ? DRAIN_EVERY_MS : DRAIN_CLAIM_MS));
  if (!claimed) return { outcome: 'refused' };
  const returned = await drainHolding(store, organizationId, now);
  memory.batchView.delete(organizationId);
  if (returned === 0) return { outcome: 'refused' };
  memory.refilled(organizationId);
  return { outcome: 'drained' };
}

/** Where a high-volume hold's credits came from (holdHighVolume): a batch, the balance (`held`, what it held), or nowhere (402). */
export type HighVolumeHold<B> =
  | { outcome: 'held'; batch: number }
  | { outcome: 'alreadyCharged' }
  | { outcome: 'balance'; held: B }
  /** The organization's billing changed since the hold was priced: price it again. */
  | { outcome: 'stale' }
  | { outcome: 'empty' };

/**
 * The order a high-volume hold takes its credits in (docs/limits.md, "Credits in shared batches"):
 * a shared batch (holdFromBatch); when the balance is known to be empty, a batch the
 * environment's read of them all finds holding it (holdFromBatches; else 402, the balance
 * untouched); otherwise the balance (`fromBalance`: what it held, or 'empty'), and when that is
 * empty after all, the batches decide (the balance again once they were drained into it).
 */
export async function holdHighVolume<B>(
  store: HighVolumeStore,
  memory: CreditMemory,
  organizationId: string,
  request: Omit<SpendRequest, 'day'> & { credits: number; least?: number },
  now: Date,
  fromBalance: () => Promise<B | 'empty'>,
  random: () => number = Math.random,
): Promise<HighVolumeHold<B>> {
  let batched: EmptyBalanceHold = await holdFromBatch(store, memory, organizationId, request, now, random);
  if (batched.outcome === 'empty') batched = await holdFromBatches(store, memory, organizationId, request, now, random);
  if (batched.outcome === 'held' || batched.outcome === 'alreadyCharged' || batched.outcome === 'stale') return batched;
  if (batched.outcome === 'refused') return { outcome: 'empty' };
  const held = await fromBalance();
  if (held !== 'empty') return { outcome: 'balance', held };
  // The balance is empty after all: this environment leaves it alone for a while, and the batches decide.
  memory.emptyAt.set(organizationId, now.getTime());
  batched = await holdFromBatches(store, memory, organizationId, request, now, random);
  if (batched.outcome === 'held' || batched.outcome === 'alreadyCharged') return batched;
  if (batched.outcome !== 'drained') return { outcome: 'empty' };
  const again = await fromBalance();
  return again === 'empty' ? { outcome: 'empty' } : { outcome: 'balance', held: again };
}
