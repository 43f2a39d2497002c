// Credits on the high-volume path (docs/limits.md, "Past one hot item"): the per-reply debit of
// the organization's balance item would be the next hot item, so an environment takes a batch of
// credits from the balance at once (one transaction: debit + batch item) and each reply holds its
// worst case from its batch (one transaction: the reservation + the credits out of the batch item).
//
//  - Never below zero: the balance's debit is conditional (`credits >= size`), a hold is
//    conditional on the batch (`remaining >= credits`); credits only move between the balance,
//    batches and reservations, never appear.
//  - Never paid twice: the reservation (the same item as on the balance path, keyed by the
//    request key) is created in the same transaction as the hold, unless a live one exists.
//  - Settle: the rest goes back into the batch while it is open, else to the balance.
//  - A hold the batch cannot serve (it holds less than the hold, no batch can be opened, or the
//    process's concurrent requests keep emptying small batches) is taken from the balance instead
//    (`fromBalance`): a reply gets its hold or a 402 while credits last, never a 503 for contention.
//  - Nothing is lost when an environment stops: a batch expires (its owner stops spending from it
//    after BATCH_TTL_MS); what an expired batch still holds goes back to the balance when its owner
//    closes it, or, if the owner never comes back, when any other environment finds it
//    RECLAIM_GRACE_MS after its expiry. A spend on a batch that was returned fails (the batch is gone).
import { ApiError } from '../domain/errors.ts';
import { batchId, type CounterStore, type CreditBatch, type CreditStore } from './store.ts';
import { dayWindow } from './windows.ts';

/** A batch holds about this many seconds of the environment's replies (fewer writes on the balance, more held in batches). */
export const BATCH_SECONDS = 4;
/**
 * A batch takes at most 1/BATCH_SHARE of the balance, so near zero the credits are not all sitting
 * in batches; as the balance runs out, the batches opened on the way number about
 * BATCH_SHARE × (ln(balance / BATCH_SHARE) + 1) (16: about 120 in the last 10,000 credits).
 */
export const BATCH_SHARE = 16;
/**
 * A batch item takes every spend of its environment (2 WCU each, in a transaction), so a batch
 * holds at most this many: no batch item takes more than 400 WCU in any second.
 */
export const MAX_BATCH = 200;
/** The owner spends from a batch for at most this long, then returns what is left. */
export const BATCH_TTL_MS = 10_000;
/**
 * Another environment returns an expired batch this long after its expiry. Returning one early is
 * safe (the owner's spend then fails and it opens a new batch); the grace only spares an owner
 * whose clock is a little behind a needless new batch.
 */
export const RECLAIM_GRACE_MS = 5_000;
/** How often one environment looks for expired batches of an organization. */
export const RECLAIM_EVERY_MS = 10_000;
/** After the balance read zero, replies are refused (402) without another read for this long. */
export const EMPTY_RECHECK_MS = 1_000;

/** Attempts of one hold on batches before it is taken from the balance (concurrent requests of one process emptying small batches). */
const MAX_ATTEMPTS = 8;

/** Credits held per second by one environment's replies for one organization (two one-second buckets). */
export class RateMeter {
  private second = -1;
  private current = 0;
  private previous = 0;

  tick(nowMs: number, amount = 1): void {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.second) {
      this.previous = second === this.second + 1 ? this.current : 0;
      this.current = 0;
      this.second = second;
    }
    this.current += amount;
  }

  perSecond(): number {
    return Math.max(this.previous, this.current);
  }
}

/** How many credits to take: about BATCH_SECONDS of this environment's holds, at most 1/BATCH_SHARE of the balance, at least one. */
export function batchSize(creditsPerSecond: number, balance: number): number {
  const wanted = Math.min(MAX_BATCH, Math.ceil(creditsPerSecond * BATCH_SECONDS));
  return Math.max(1, Math.min(wanted, Math.floor(balance / BATCH_SHARE), balance));
}

/** Whether `batch` may be returned by an environment that does not own it (its owner is gone or frozen). */
export function isAbandoned(batch: CreditBatch, nowMs: number): boolean {
  return batch.expiresAt + RECLAIM_GRACE_MS <= nowMs;
}

interface Held {
  batch: CreditBatch;
  openedAt: number;
  /** What this environment's own spends leave in it (the item is the truth; a mismatch only fails a close). */
  remaining: number;
}

/** One environment's credit memory (module scope in a Lambda; one per environment in the simulation). */
export class CreditMemory {
  readonly held = new Map<string, Held>();
  readonly meters = new Map<string, RateMeter>();
  readonly emptyAt = new Map<string, number>();
  readonly lastReclaim = new Map<string, number>();
  /** The batch being opened per organization (concurrent requests of one process wait for it). */
  readonly opening = new Map<string, Promise<'opened' | 'empty'>>();
  /** Replies per second the last batch lasted at (a batch spent in 0.1 s says more than a cold meter). */
  readonly observed = new Map<string, number>();
  /** The balance read before the last batch was opened, minus the batch (for the returned estimate). */
  readonly balanceAfterOpen = new Map<string, number>();

  meter(organizationId: string): RateMeter {
    let meter = this.meters.get(organizationId);
    if (!meter) {
      if (this.meters.size >= 10_000) this.meters.clear();
      meter = new RateMeter();
      this.meters.set(organizationId, meter);
    }
    return meter;
  }
}

export type HighVolumeStore = CounterStore & CreditStore;

/** Return a batch this environment holds; if it changed under us (another process shares the memory), return what the item says. */
async function closeHeld(store: CreditStore, organizationId: string, held: Held): Promise<void> {
  if (await store.closeBatch(organizationId, held.batch, held.remaining)) return;
  const remaining = await store.remaining(organizationId, held.batch.id);
  if (remaining !== undefined) await store.closeBatch(organizationId, held.batch, remaining);
}

/** Return the batches of environments that stopped (expired RECLAIM_GRACE_MS ago), at most once per RECLAIM_EVERY_MS here. */
export async function reclaimAbandoned(store: CreditStore, memory: CreditMemory, organizationId: string, now: Date): Promise<number> {
  const last = memory.lastReclaim.get(organizationId);
  if (last !== undefined && now.getTime() - last < RECLAIM_EVERY_MS) return 0;
  memory.lastReclaim.set(organizationId, now.getTime());
  let returned = 0;
  for (const batch of await store.openBatches(organizationId, now.getTime() - RECLAIM_GRACE_MS)) {
    if (isAbandoned(batch, now.getTime()) && (await store.closeBatch(organizationId, batch, batch.remaining))) returned += batch.remaining;
  }
  return returned;
}

/**
 * Open this environment's next batch for the organization, returning the one it is done with in
 * the same transaction when that works (on its own otherwise, or when no new batch can be opened).
 * 'empty' when the balance has nothing (or read nothing less than EMPTY_RECHECK_MS ago).
 */
async function openNext(store: HighVolumeStore, memory: CreditMemory, organizationId: string, now: Date, newBatchId: () => string): Promise<'opened' | 'empty'> {
  const nowMs = now.getTime();
  const returning = memory.held.get(organizationId);
  if (returning) {
    memory.held.delete(organizationId);
    if (returning.remaining <= 0) memory.observed.set(organizationId, returning.batch.size / Math.max(0.05, (nowMs - returning.openedAt) / 1000));
  }
  const closeReturning = async () => {
    if (returning) await closeHeld(store, organizationId, returning);
  };
  const emptyAt = memory.emptyAt.get(organizationId);
  if (emptyAt !== undefined && nowMs - emptyAt < EMPTY_RECHECK_MS) {
    await closeReturning();
    return 'empty';
  }
  await reclaimAbandoned(store, memory, organizationId, now);
  const back = Math.max(0, returning?.remaining ?? 0);
  const balance = (await store.balance(organizationId)) + back;
  if (balance <= 0) {
    await closeReturning();
    memory.emptyAt.set(organizationId, nowMs);
    return 'empty';
  }
  memory.emptyAt.delete(organizationId);
  const expiresAt = nowMs + BATCH_TTL_MS;
  const batch: CreditBatch = {
    id: batchId(expiresAt, newBatchId()),
    size: batchSize(Math.max(memory.meter(organizationId).perSecond(), memory.observed.get(organizationId) ?? 0), balance),
    day: dayWindow(now).id,
    expiresAt,
  };
  if (!(await store.openBatch(organizationId, batch, now, returning ? { batch: returning.batch, remaining: back } : undefined))) {
    await closeReturning(); // the returned batch changed, or the balance moved since the read: the caller tries again
    return 'opened';
  }
  memory.held.set(organizationId, { batch, openedAt: nowMs, remaining: batch.size });
  memory.balanceAfterOpen.set(organizationId, balance - batch.size);
  return 'opened';
}

export type BatchedHold =
  | { outcome: 'held'; batchId: string; balance: number }
  | { outcome: 'alreadyCharged'; balance: number }
  /** No batch can serve it: hold it on the balance (which refuses with 402 when it cannot either). */
  | { outcome: 'fromBalance' };

/**
 * Hold `credits` for a reply from this environment's batch, opening a new batch when it has none,
 * it is empty, or it expired. `fromBalance` when the batch holds less than that, or none can be opened.
 */
export async function holdFromBatch(
  store: HighVolumeStore,
  memory: CreditMemory,
  organizationId: string,
  request: { requestKey: string; keyId: string; credits: number; details?: unknown },
  now: Date,
  newBatchId: () => string,
): Promise<BatchedHold> {
  const nowMs = now.getTime();
  const day = dayWindow(now).id;
  const { credits } = request;
  memory.meter(organizationId).tick(nowMs, credits);
  const estimate = () => (memory.balanceAfterOpen.get(organizationId) ?? 0) + Math.max(0, memory.held.get(organizationId)?.remaining ?? 0);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const held = memory.held.get(organizationId);
    if (!held || held.remaining <= 0 || nowMs >= held.batch.expiresAt) {
      // One opening at a time per organization in this process (the local runtime serves
      // concurrent requests from one memory; a Lambda environment serves one at a time).
      let opening = memory.opening.get(organizationId);
      if (!opening) {
        opening = openNext(store, memory, organizationId, now, newBatchId).finally(() => memory.opening.delete(organizationId));
        memory.opening.set(organizationId, opening);
      }
      if ((await opening) === 'empty') return { outcome: 'fromBalance' };
      continue;
    }
    if (held.remaining < credits) return { outcome: 'fromBalance' };
    const spent = await store.spend(organizationId, held.batch.id, { requestKey: request.requestKey, keyId: request.keyId, day, credits, details: request.details }, now);
    if (spent === 'alreadyCharged') return { outcome: 'alreadyCharged', balance: estimate() };
    if (spent === 'batchEmpty') {
      held.remaining = 0; // spent elsewhere or returned by another environment: open a new one
      continue;
    }
    held.remaining -= credits;
    return { outcome: 'held', batchId: held.batch.id, balance: estimate() };
  }
  // Many concurrent requests of one process emptying small batches as the balance runs out.
  return { outcome: 'fromBalance' };
}

export interface BatchedReservation {
  alreadyCharged: boolean;
  /** An estimate: the balance as read when this environment last opened a batch, plus what its batch still holds. */
  balance: number;
}

/**
 * A one-credit hold out of batches only: the batch path alone, as the simulation drives it (a reply
 * that no batch can serve is refused here; shared/db/credits.ts takes it from the balance instead).
 */
export async function reserveFromBatch(
  store: HighVolumeStore,
  memory: CreditMemory,
  organizationId: string,
  requestKey: string,
  keyId: string,
  now: Date,
  newBatchId: () => string,
): Promise<BatchedReservation> {
  const held = await holdFromBatch(store, memory, organizationId, { requestKey, keyId, credits: 1 }, now, newBatchId);
  if (held.outcome === 'fromBalance') {
    if (await store.isCharged(organizationId, requestKey, now)) return { alreadyCharged: true, balance: 0 };
    throw new ApiError('INSUFFICIENT_CREDITS');
  }
  if (held.outcome === 'alreadyCharged') return { alreadyCharged: true, balance: held.balance };
  return { alreadyCharged: false, balance: held.balance };
}
