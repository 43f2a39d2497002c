// Credits on the organization's balance (the one-item path, and the high-volume path's fallback):
// a reply's hold and settle are each one transaction of its reservation and the organization item.
//
// - Hold: the reservation (created `held`) and `ADD credits -h, creditsHeld +h` on the organization,
//   conditional on `credits >= h` (the balance never goes below zero, whatever the concurrency) and
//   on the billing revision the hold was priced with (a reply is billed as the billing stood when it
//   started). A failed condition is answered by reading the organization: a lower balance lowers the
//   output cap to what fits (or refuses: 402), a new billing reprices.
// - Settle: the reservation flips to settled (or refunded) and `ADD credits +rest, creditsHeld -h`,
//   so the rest is spendable at once; settled once, by the reply or by the sweep.
// Credits charged are counted per UTC day on the organization's day usage item when the hold settles.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditContext } from '../domain/audit.ts';
import { billingOf, type Billing } from '../domain/billing.ts';
import { ApiError } from '../domain/errors.ts';
import { iso, utcDay } from '../domain/time.ts';
import { fullHold, holdWithin, type HoldRequest, type Priced } from '../limits/credit-holds.ts';
import { describeError, logger } from '../log.ts';
import { tableName } from '../tables.ts';
import { auditPut } from './audit-log.ts';
import { db, transactUpdate, transactWrite } from './client.ts';
import { isCharged, newReservation, reservationPut, settleUpdate, type Hold } from './credit-reservations.ts';
import { addKeyUsage } from './usage.ts';

/** A hold taken, or the request key charged already. No balance: a reply does not wait for a read it does not need. */
export type HoldResult = { alreadyCharged: true } | { alreadyCharged: false; hold: Hold };

/** What the balance path knows of an organization's credits. */
export interface Account {
  credits: number;
  creditsHeld: number;
  billing: Billing;
  /** The organization's `billingRev` (absent: 0). */
  billingRev: number;
  exists: boolean;
}

/** The billing (and its revision) this environment last saw per organization; a hold's condition catches a newer one. */
const billingSeen = new Map<string, { billing: Billing; rev: number; at: number }>();

export async function readAccount(organizationId: string): Promise<Account> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: tableName('organizations'),
      Key: { id: organizationId },
      ProjectionExpression: 'credits, creditsHeld, billing, billingRev',
      ConsistentRead: true,
    }),
  );
  const account: Account = {
    credits: Number(Item?.credits ?? 0),
    creditsHeld: Number(Item?.creditsHeld ?? 0),
    billing: billingOf((Item ?? {}) as { billing?: Billing }),
    billingRev: Number(Item?.billingRev ?? 0),
    exists: Item !== undefined,
  };
  billingSeen.set(organizationId, { billing: account.billing, rev: account.billingRev, at: Date.now() });
  if (billingSeen.size > 10_000) billingSeen.clear();
  return account;
}

/** The organization's billing as this environment knows it, read when unknown or older than `maxAgeMs`. */
export async function billingFor(organizationId: string, maxAgeMs = Infinity): Promise<{ billing: Billing; rev: number }> {
  const seen = billingSeen.get(organizationId);
  if (seen && Date.now() - seen.at < maxAgeMs) return seen;
  const account = await readAccount(organizationId);
  return { billing: account.billing, rev: account.billingRev };
}

/** For tests: forget the billings seen (a fresh Lambda environment). */
export function forgetBillings(): void {
  billingSeen.clear();
}

export async function balanceOf(organizationId: string): Promise<number> {
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName('organizations'), Key: { id: organizationId }, ProjectionExpression: 'credits', ConsistentRead: true }),
  );
  return Number(Item?.credits ?? 0);
}

/**
 * The organization's balance and held credits moved, as an item of a transaction (condition: the
 * organization exists; with `need`, its balance holds `need`; with `billingRev`, its billing is that revision).
 */
export function balanceChange(organizationId: string, delta: number, heldDelta: number, need?: number, billingRev?: number) {
  const conditions = ['attribute_exists(id)'];
  const values: Record<string, unknown> = { ':delta': delta, ':held': heldDelta };
  if (need !== undefined) {
    conditions.push('credits >= :need');
    values[':need'] = need;
  }
  if (billingRev !== undefined) {
    if (billingRev === 0) conditions.push('attribute_not_exists(billingRev)');
    else {
      conditions.push('billingRev = :rev');
      values[':rev'] = billingRev;
    }
  }
  return transactUpdate('organizations', { id: organizationId }, 'ADD credits :delta, creditsHeld :held', conditions.join(' AND '), values);
}

/** The error of a transaction cancelled for another reason than the conditions its caller answers. */
export function cancelled(what: string, reasons: { Code?: string }[]): Error {
  return new Error(`credit ${what} cancelled: ${reasons.map((r) => r.Code).join(',')}`);
}

/** Attempts of a hold while concurrent holds keep lowering the balance between the read and the write. */
const HOLD_ATTEMPTS = 8;

/**
 * Hold a reply's worst case on the balance (lowered to what fits), with its reservation; idempotent
 * per (organizationId, requestKey). 402 when not even the minimum hold fits.
 */
export async function holdFromBalance(
  organizationId: string,
  requestKey: string,
  keyId: string,
  request: HoldRequest,
  now: Date,
  dueMs: number,
): Promise<HoldResult> {
  const seen = billingSeen.get(organizationId);
  let billing: { billing: Billing; rev: number };
  let priced: Priced | undefined;
  if (seen) {
    // Optimistic: the full worst case under the billing seen; a failed condition says what is true.
    billing = seen;
    priced = fullHold(seen.billing, request);
  } else {
    const account = await readAccount(organizationId);
    billing = { billing: account.billing, rev: account.billingRev };
    priced = holdWithin(account.billing, request, account.credits);
  }
  for (let attempt = 1; attempt <= HOLD_ATTEMPTS; attempt++) {
    if (!priced) {
      if (await isCharged(organizationId, requestKey, now)) return { alreadyCharged: true };
      throw new ApiError('INSUFFICIENT_CREDITS');
    }
    const hold: Hold = {
      organizationId,
      requestKey,
      keyId,
      day: utcDay(now),
      held: priced.credits,
      billing: billing.billing,
      outputCap: priced.outputCap,
      reservedAt: iso(now),
    };
    const result = await transactWrite({
      TransactItems: [
        reservationPut(newReservation(hold, now, dueMs), now),
        balanceChange(organizationId, -hold.held, hold.held, hold.held, billing.rev),
      ],
    });
    if (result.ok) return { alreadyCharged: false, hold };
    // The reservation exists and is live: this request key was charged already.
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') return { alreadyCharged: true };
    if (result.reasons[1]?.Code !== 'ConditionalCheckFailed') throw cancelled('hold', result.reasons);
    const account = await readAccount(organizationId);
    billing = { billing: account.billing, rev: account.billingRev };
    priced = account.exists ? holdWithin(account.billing, request, account.credits) : undefined;
  }
  throw new ApiError('SERVICE_UNAVAILABLE', 'The credit balance is busy, try again shortly', {}, { 'Retry-After': '1' });
}

/**
 * Count credits on the organization's day item, after the transaction and not in it: that item is
 * the organization's hot rate-limit counter, and a transaction holding it would make concurrent
 * admissions fail with TransactionConflict (and would bill its size twice).
 */
export async function countCredits(organizationId: string, keyId: string, day: string, amount: number): Promise<void> {
  try {
    await addKeyUsage(organizationId, keyId, day, 'credits', amount);
  } catch (error) {
    // The balance is the source of truth; usage figures are reporting.
    logger.warn('credit usage not counted', { organizationId, keyId, error: describeError(error) });
  }
}

/**
 * Settle a hold on the balance: charge `charged` (at most what was held) and return the rest, in one
 * transaction with the reservation's flip. False when it was settled already (by the reply or the sweep).
 */
export async function settleToBalance(hold: Hold, charged: number, by: 'reply' | 'sweep', now: Date): Promise<boolean> {
  const result = await transactWrite({
    TransactItems: [
      settleUpdate(hold, charged, by, now),
      balanceChange(hold.organizationId, hold.held - charged, -hold.held),
    ],
  });
  if (!result.ok) {
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') return false;
    throw cancelled('settle', result.reasons);
  }
  if (charged > 0) await countCredits(hold.organizationId, hold.keyId, hold.day, charged);
  return true;
}

/** Session creation needs a balance above zero (one consistent read). */
export async function hasCredits(organizationId: string): Promise<boolean> {
  return (await balanceOf(organizationId)) > 0;
}

/** Attempts at a grant while chat replies keep moving the balance between its read and its write. */
const GRANT_ATTEMPTS = 20;

/**
 * Operator grant (or claw-back when negative), with its audit entry (`credits.granted`: the balance
 * from and to, and the reason) in the same transaction. The write is conditional on the balance just
 * read, so the entry's from/to are exact; a balance moved meanwhile is read again. The balance
 * never goes below zero (409).
 */
export async function grantCredits(
  organizationId: string,
  amount: number,
  reason: string | undefined,
  audit: AuditContext,
  now: Date,
): Promise<number> {
  for (let attempt = 1; attempt <= GRANT_ATTEMPTS; attempt++) {
    const { Item } = await db.send(
      new GetCommand({ TableName: tableName('organizations'), Key: { id: organizationId }, ProjectionExpression: 'credits', ConsistentRead: true }),
    );
    if (!Item) throw new ApiError('NOT_FOUND', 'Organization not found');
    const before = Number(Item.credits ?? 0);
    const after = before + amount;
    if (after < 0) throw new ApiError('CONFLICT', 'The balance cannot go below zero');
    const result = await transactWrite({
      TransactItems: [
        transactUpdate('organizations', { id: organizationId }, 'SET credits = :after', 'credits = :before', { ':before': before, ':after': after }),
        auditPut(audit, organizationId, {
          action: 'credits.granted',
          target: { type: 'organization', id: organizationId },
          changes: [
            { field: 'credits', from: before, to: after },
            ...(reason !== undefined ? [{ field: 'reason', from: null, to: reason }] : []),
          ],
        }, now),
      ],
    });
    if (result.ok) return after;
  }
  throw new ApiError('SERVICE_UNAVAILABLE', 'The balance is changing too fast, try again shortly', {}, { 'Retry-After': '1' });
}
