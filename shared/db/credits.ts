// Credits of replies: hold the worst case before the upstream is called, settle to what was used
// (docs/limits.md "Credits"). This module chooses the path; the paths are credit-balance.ts (the
// organization's balance) and credit-batches.ts (the high-volume path's shared batches), the reservation
// item they share is credit-reservations.ts, and the pure rules are shared/limits/credit-holds.ts.
import { ApiError } from '../domain/errors.ts';
import { iso, utcDay } from '../domain/time.ts';
import { CreditMemory, drainBatches, holdHighVolume, type HighVolumeStore } from '../limits/credit-batches.ts';
import { fullHold, holdDueAt, minimumHold, holdDueKey, HOLD_SHARDS, settledCharge, sweptCharge, type HoldRequest } from '../limits/credit-holds.ts';
import { describeError, logger } from '../log.ts';
import { tableName } from '../tables.ts';
import { queryAll } from './client.ts';
import { balanceOf, billingFor, holdFromBalance, settleToBalance, type HoldResult } from './credit-balance.ts';
import { batchOfKey, creditStore, settleFromBatch, type BatchedHoldDetails } from './credit-batches.ts';
import { holdOf, readReservation, type Hold } from './credit-reservations.ts';
import { counterStore, isHighVolumeOrg } from './rate-limits.ts';
import { returnTokens } from './token-windows.ts';

export { balanceOf, grantCredits, hasCredits, type HoldResult } from './credit-balance.ts';
export { creditStore } from './credit-batches.ts';
export { markDelivered, recordTokenHold, renewHold, reservationKey, type Hold } from './credit-reservations.ts';

/**
 * How long this environment prices high-volume holds with the billing it read before reading it
 * again. Exact all the same: a billing change stamps every batch with its revision, and a hold
 * priced with an older one is refused by the batch and priced again (the balance path's hold is
 * conditional on the billing revision).
 */
export const BATCH_BILLING_MAX_AGE_MS = 10_000;

/** A reply's deadline when its caller gives none (the longest function timeout, 120 s). */
const DEFAULT_DEADLINE_MS = 120_000;

const highVolumeStore: HighVolumeStore = { ...counterStore, ...creditStore };
const creditMemory = new CreditMemory();

/**
 * Hold a reply's worst case (its input bound plus its output cap, priced by the organization's
 * billing), lowered to what the credits allow; idempotent per (organizationId, requestKey). On the
 * high-volume path from this environment's batch when it holds enough, else from the balance.
 * Throws INSUFFICIENT_CREDITS when not even the minimum hold fits. `deadlineMs`: when the reply's
 * function must have stopped (the sweep settles the hold after that, if the reply has not).
 */
export async function holdCredits(
  organizationId: string,
  requestKey: string,
  keyId: string,
  request: HoldRequest,
  now: Date,
  deadlineMs: number = now.getTime() + DEFAULT_DEADLINE_MS,
): Promise<HoldResult> {
  const dueMs = holdDueAt(deadlineMs, now.getTime());
  if (!isHighVolumeOrg(organizationId, now)) {
    try {
      return await holdFromBalance(organizationId, requestKey, keyId, request, now, dueMs);
    } catch (error) {
      // Credits may sit in the shared batches (the organization left the high-volume path): at
      // 402, move them back to the balance and try once more.
      if (!isRefusal(error) || (await drained(organizationId, now)) === 0) throw error;
      return holdFromBalance(organizationId, requestKey, keyId, request, now, dueMs);
    }
  }
  // The balance's refusal as the shared order's 'empty' (any other error ends the hold).
  const fromBalance = () => holdFromBalance(organizationId, requestKey, keyId, request, now, dueMs).catch((error: unknown) => {
    if (isRefusal(error)) return 'empty' as const;
    throw error;
  });
  for (let pricing = 1; pricing <= 2; pricing++) {
    // Priced with the billing this environment knows; a batch told of a newer one says `stale`, and it is read again.
    const { billing, rev } = await billingFor(organizationId, pricing === 1 ? BATCH_BILLING_MAX_AGE_MS : 0);
    const full = fullHold(billing, request);
    const hold: Hold = { organizationId, requestKey, keyId, day: utcDay(now), held: full.credits, billing, outputCap: full.outputCap, reservedAt: iso(now) };
    const details: BatchedHoldDetails = { hold, dueMs };
    const held = await holdHighVolume(highVolumeStore, creditMemory, organizationId, { requestKey, keyId, credits: full.credits, least: minimumHold(billing, request), details, billingRev: rev }, now, fromBalance);
    if (held.outcome === 'stale') continue;
    if (held.outcome === 'held') return { alreadyCharged: false, hold: { ...hold, batch: held.batch } };
    if (held.outcome === 'alreadyCharged') return { alreadyCharged: true };
    if (held.outcome === 'balance') return held.held;
    throw new ApiError('INSUFFICIENT_CREDITS');
  }
  // Priced twice against a billing that changed each time: the balance alone decides.
  return holdFromBalance(organizationId, requestKey, keyId, request, now, dueMs);
}

function isRefusal(error: unknown): boolean {
  return error instanceof ApiError && error.code === 'INSUFFICIENT_CREDITS';
}

/** Drain the organization's batches into its balance (at most once per DRAIN_EVERY_MS here): the credits moved. For an organization off the high-volume path. */
async function drained(organizationId: string, now: Date): Promise<number> {
  return drainBatches(creditStore, creditMemory, organizationId, now).catch((error: unknown) => {
    logger.warn('credit batches not drained', { organizationId, error: describeError(error) });
    return 0;
  });
}

/** One credit's hold for a reply without a token bound (what a reply costs billed per reply), and the balance read after it. */
export async function reserveCredit(organizationId: string, requestKey: string, keyId: string, now: Date): Promise<{ balance: number; alreadyCharged: boolean }> {
  const result = await holdCredits(organizationId, requestKey, keyId, { inputBound: 0, outputCap: 0 }, now);
  return { balance: await balanceOf(organizationId), alreadyCharged: result.alreadyCharged };
}

/** How a reply ended: with its tokens (completed, cut or aborted: charged for them), or failed (charged nothing). */
export type ReplyOutcome = { usage: { inputTokens: number; outputTokens: number } } | 'failed';

/**
 * Settle a reply's hold: charge what it used (never more than the hold) and return the rest at once,
 * to its batch while that is open, else to the balance, and the tokens it did not use to their
 * windows (when its token hold is recorded on the reservation: only the settle that flips the
 * reservation does). Returns the credits charged (0 when it was settled already: by an earlier
 * call or the sweep).
 */
export async function settleCredits(hold: Hold, outcome: ReplyOutcome, now: Date, by: 'reply' | 'sweep' = 'reply'): Promise<number> {
  const charged = outcome === 'failed' ? 0 : settledCharge(hold.billing, hold.held, outcome.usage);
  const used = outcome === 'failed' ? 0 : outcome.usage.inputTokens + outcome.usage.outputTokens;
  return (await settleAt(hold, charged, by, now, used)) ? charged : 0;
}

/** Settle at `charged`; when this settle flipped the reservation, give back its tokens beyond `tokensUsed`. */
async function settleAt(hold: Hold, charged: number, by: 'reply' | 'sweep', now: Date, tokensUsed: number): Promise<boolean> {
  const settled = await settleCredit(hold, charged, by, now);
  if (settled && hold.tokens && hold.tokens.tokens > tokensUsed) {
    await returnTokens({ ...hold.tokens, windows: [] }, hold.tokens.tokens - tokensUsed).catch((error: unknown) => {
      // Counted, never over: a window keeps what was not returned until it ends.
      logger.warn('token hold not returned', { organizationId: hold.organizationId, error: describeError(error) });
    });
  }
  return settled;
}

async function settleCredit(hold: Hold, charged: number, by: 'reply' | 'sweep', now: Date): Promise<boolean> {
  if (hold.batch === undefined) return settleToBalance(hold, charged, by, now);
  return settleFromBatch({ ...hold, batch: hold.batch }, charged, by, now);
}

/** Give back the whole hold of a request key that failed (nothing when none is held); idempotent. */
export async function refundCredit(organizationId: string, requestKey: string, _keyId: string, now: Date): Promise<void> {
  const item = await readReservation(organizationId, requestKey);
  if (!item || item.state !== 'held') return;
  await settleAt(holdOf(item), 0, 'reply', now, 0);
}

/**
 * Settle every hold whose function died (due: its deadline plus the settle margin, passed): returned
 * whole if no delta reached the caller (its credits, and its tokens to the windows they were
 * counted in while those are open), else charged in full (`settledBy: "sweep"`, nothing returns).
 * The flip of the reservation decides who settles, so a reply settling late returns nothing. Reads the
 * usage table's sparse `byHoldDue` index, one query per shard. Returns how many it settled.
 */
export async function sweepHolds(now: Date = new Date()): Promise<number> {
  const cutoff = holdDueKey(now.getTime(), '');
  let settled = 0;
  for (let shard = 0; shard < HOLD_SHARDS; shard++) {
    const due = await queryAll<{ pk: string; sk: string }>({
      TableName: tableName('usage'),
      IndexName: 'byHoldDue',
      KeyConditionExpression: 'holdShard = :shard AND holdDue < :cutoff',
      ExpressionAttributeValues: { ':shard': `hold#${shard}`, ':cutoff': cutoff },
    });
    for (const { pk } of due) {
      const batch = batchOfKey(pk);
      if (batch) {
        await drainIdleBatch(batch.organizationId, batch.n, now);
        continue;
      }
      // pk is credit#<orgId>#<requestKey>; the item says both.
      const item = await readReservationByKey(pk);
      if (!item || item.state !== 'held') continue;
      try {
        const hold = holdOf(item);
        const charged = sweptCharge(item);
        // Returned whole: every token back (to the windows still open); charged in full: none.
        const tokensUsed = charged === 0 ? 0 : Infinity;
        if (await settleAt(stillOpen(hold, now), charged, 'sweep', now, tokensUsed)) settled += 1;
      } catch (error) {
        logger.error('hold not swept', { organizationId: item.organizationId, error: describeError(error) });
      }
    }
  }
  return settled;
}

/** The hold with only the token parts counted today (a window of a day that ended has nothing to get back). */
function stillOpen(hold: Hold, now: Date): Hold {
  if (!hold.tokens) return hold;
  const today = utcDay(now);
  const parts = hold.tokens.parts.filter((p) => p.day === today);
  const { tokens: _, ...rest } = hold;
  return parts.length === 0 ? rest : { ...hold, tokens: { tokens: hold.tokens.tokens, parts } };
}

async function readReservationByKey(pk: string) {
  const [, organizationId, ...rest] = pk.split('#');
  return organizationId ? readReservation(organizationId, rest.join('#')) : undefined;
}

/** A batch not filled for BATCH_IDLE_MS: everything it holds back to the balance (a failed condition: it moved meanwhile, and stays due). */
async function drainIdleBatch(organizationId: string, n: number, now: Date): Promise<void> {
  try {
    await creditStore.drainBatch(organizationId, n, await creditStore.readBatch(organizationId, n), now);
  } catch (error) {
    logger.error('credit batch not drained', { organizationId, error: describeError(error) });
  }
}

/** For tests: forget this environment's credit memory (a fresh Lambda environment). */
export function forgetCreditBatches(): void {
  creditMemory.forget();
}
