// Credits: one per assistant reply, debited from the organization item's `credits` balance.
//
// A reply reserves its credit before it is generated and gives it back if it fails. Each reservation
// is an item in the usage table (pk `credit#org#<orgId>`, sk the caller's request key), written in
// the same transaction as the debit, so:
//  - the balance never goes below zero (the debit's condition is `credits >= 1`), whatever the
//    concurrency;
//  - a retried request charges once (the reservation can only be created once per request key);
//  - a refund happens once (it flips the reservation from reserved to refunded, again in one
//    transaction with the credit coming back). A refunded request key may be reserved again.
// Credits charged are also counted per UTC day in the organization's day usage item (its total and
// the key's entry, one UpdateItem after the transaction; see countCredits).
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { randomBase62 } from '../domain/api-key.ts';
import type { AuditContext } from '../domain/audit.ts';
import { ApiError } from '../domain/errors.ts';
import { epochSeconds, iso, utcDay } from '../domain/time.ts';
import { CreditMemory, reclaimAbandoned, reserveFromBatch, type HighVolumeStore } from '../limits/credit-batches.ts';
import { batchIdsExpiredBefore, type CreditBatch, type CreditStore } from '../limits/store.ts';
import { reservationTtl, usageItemTtl } from '../limits/windows.ts';
import { describeError, logger } from '../log.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { auditPut } from './audit-log.ts';
import { db, queryAll, transactWrite } from './client.ts';
import { counterStore, isHighVolumeOrg } from './rate-limits.ts';
import { addKeyUsage, addUsage, keyCreditsScope, usageKey } from './usage.ts';

export type ReservationState = 'reserved' | 'refunded';

export interface ReservationItem {
  pk: string;
  sk: string;
  state: ReservationState;
  organizationId: string;
  keyId: string;
  /** UTC day the credit was counted in (a refund uncounts it there). */
  day: string;
  /** High-volume path: the batch the credit came out of (a refund returns it to the balance). */
  batchId?: string;
  reservedAt: string;
  refundedAt?: string;
  ttl: number;
}

export function reservationKey(organizationId: string, requestKey: string): { pk: string; sk: string } {
  return { pk: `credit#org#${organizationId}`, sk: requestKey };
}

/** A live reservation of one credit for a request key (on the high-volume path, out of `batchId`). */
function newReservation(organizationId: string, requestKey: string, keyId: string, day: string, now: Date, batchId?: string): ReservationItem {
  return {
    ...reservationKey(organizationId, requestKey),
    state: 'reserved',
    organizationId,
    keyId,
    day,
    ...(batchId !== undefined ? { batchId } : {}),
    reservedAt: iso(now),
    ttl: reservationTtl(now),
  };
}

/**
 * The reservation's write, on both paths: it succeeds when there is no reservation, a refunded one,
 * or one past its TTL (TTL deletes it days late, if at all, so it is judged here: after
 * RESERVATION_RETENTION_DAYS the request key is a new request). Else this request key was charged.
 */
function reservationPut(reservation: ReservationItem, now: Date) {
  return {
    Put: {
      TableName: tableName('usage'),
      Item: reservation,
      ConditionExpression: 'attribute_not_exists(pk) OR #state = :refunded OR #ttl <= :now',
      ExpressionAttributeNames: { '#state': 'state', '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':refunded': 'refunded', ':now': epochSeconds(now) },
    },
  };
}

/** The refund's flip from reserved to refunded, on both paths: still the reservation read, so a concurrent refund (or refund and re-reserve) cannot double up. */
function refundUpdate(organizationId: string, reservation: ReservationItem, now: Date) {
  return {
    Update: {
      TableName: tableName('usage'),
      Key: reservationKey(organizationId, reservation.sk),
      UpdateExpression: 'SET #state = :refunded, refundedAt = :now',
      ConditionExpression: '#state = :reserved AND reservedAt = :reservedAt',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':refunded': 'refunded', ':reserved': 'reserved', ':reservedAt': reservation.reservedAt, ':now': iso(now) },
    },
  };
}

/**
 * The organization's balance moved by `delta`, as an item of a transaction (condition: the
 * organization exists and, with `need`, its balance holds `need`, so a debit never takes it below zero).
 */
function balanceChange(organizationId: string, delta: number, need?: number) {
  return {
    Update: {
      TableName: tableName('organizations'),
      Key: { id: organizationId },
      UpdateExpression: 'ADD credits :delta',
      ConditionExpression: need === undefined ? 'attribute_exists(id)' : 'attribute_exists(id) AND credits >= :need',
      ExpressionAttributeValues: { ':delta': delta, ...(need === undefined ? {} : { ':need': need }) },
    },
  };
}

/** The error of a transaction cancelled for another reason than the conditions its caller answers. */
function cancelled(what: string, reasons: { Code?: string }[]): Error {
  return new Error(`credit ${what} cancelled: ${reasons.map((r) => r.Code).join(',')}`);
}

async function balanceOf(organizationId: string): Promise<number> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: tableName('organizations'),
      Key: { id: organizationId },
      ProjectionExpression: 'credits',
      ConsistentRead: true,
    }),
  );
  return Number(Item?.credits ?? 0);
}

/**
 * Count credits on the organization's day item, after the transaction and not in it: that item is
 * the organization's hot rate-limit counter, and a transaction holding it would make concurrent
 * admissions fail with TransactionConflict (and would bill its size twice).
 */
async function countCredits(organizationId: string, keyId: string, day: string, amount: number): Promise<void> {
  try {
    await addKeyUsage(organizationId, keyId, day, 'credits', amount);
  } catch (error) {
    // The balance is the source of truth; usage figures are reporting.
    logger.warn('credit usage not counted', { organizationId, keyId, error: describeError(error) });
  }
}

/** Reserve one credit for a reply; idempotent per (organizationId, requestKey). Throws ApiError('INSUFFICIENT_CREDITS') at zero. Returns the balance after. */
export async function reserveCredit(
  organizationId: string,
  requestKey: string,
  keyId: string,
  now: Date,
): Promise<{ balance: number; alreadyCharged: boolean }> {
  if (isHighVolumeOrg(organizationId, now)) {
    return reserveFromBatch(highVolumeStore, creditMemory, organizationId, requestKey, keyId, now, () => randomBase62(16));
  }
  try {
    return await reserveOneItem(organizationId, requestKey, keyId, now);
  } catch (error) {
    // An organization that left the high-volume path (or whose environments stopped) may have
    // credits in batches nobody will return: at 402, return the abandoned ones and try once more.
    if (!(error instanceof ApiError) || error.code !== 'INSUFFICIENT_CREDITS') throw error;
    const returned = await reclaimAbandoned(creditStore, creditMemory, organizationId, now).catch((reclaimError: unknown) => {
      logger.warn('abandoned credit batches not returned', { organizationId, error: describeError(reclaimError) });
      return 0;
    });
    if (returned === 0) throw error;
    return reserveOneItem(organizationId, requestKey, keyId, now);
  }
}

/** The one-item path: the reservation and the balance's debit in one transaction. */
async function reserveOneItem(organizationId: string, requestKey: string, keyId: string, now: Date): Promise<{ balance: number; alreadyCharged: boolean }> {
  const day = utcDay(now);
  const result = await transactWrite({
    TransactItems: [
      reservationPut(newReservation(organizationId, requestKey, keyId, day, now), now),
      balanceChange(organizationId, -1, 1),
    ],
  });
  if (!result.ok) {
    // The reservation exists and is live: this request key was charged already.
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') {
      return { balance: await balanceOf(organizationId), alreadyCharged: true };
    }
    if (result.reasons[1]?.Code === 'ConditionalCheckFailed') throw new ApiError('INSUFFICIENT_CREDITS');
    throw cancelled('reservation', result.reasons);
  }
  const [balance] = await Promise.all([balanceOf(organizationId), countCredits(organizationId, keyId, day, 1)]);
  return { balance, alreadyCharged: false };
}

/** Give back a reserved credit when the reply failed; idempotent. */
export async function refundCredit(organizationId: string, requestKey: string, keyId: string, now: Date): Promise<void> {
  const key = reservationKey(organizationId, requestKey);
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: key, ConsistentRead: true }));
  const reservation = Item as ReservationItem | undefined;
  if (!reservation || reservation.state !== 'reserved') return; // nothing reserved, or refunded already
  // High-volume path: the credit goes back into its batch while the batch is open (no write on the
  // hot balance; the batch's close counts the organization's usage net of it), else to the balance.
  if (reservation.batchId && (await refundToBatch(organizationId, reservation, now))) {
    const held = creditMemory.held.get(organizationId);
    if (held?.batch.id === reservation.batchId) held.remaining += 1;
    await uncountBatchedCredit(organizationId, reservation.keyId || keyId, reservation.day, false);
    return;
  }
  const result = await transactWrite({
    TransactItems: [
      refundUpdate(organizationId, reservation, now),
      balanceChange(organizationId, 1),
    ],
  });
  if (!result.ok) {
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') return; // refunded meanwhile
    throw cancelled('refund', result.reasons);
  }
  if (reservation.batchId) await uncountBatchedCredit(organizationId, reservation.keyId || keyId, reservation.day, true);
  else await countCredits(organizationId, reservation.keyId || keyId, reservation.day, -1);
}

/**
 * Uncount a refunded credit of the high-volume path: on the key's credits item, where its spend
 * counted it, and with `fromOrganization` (its batch was already returned, counting it as spent)
 * on the organization's day too. Usage only, as countCredits.
 */
async function uncountBatchedCredit(organizationId: string, keyId: string, day: string, fromOrganization: boolean): Promise<void> {
  try {
    await Promise.all([
      creditStore.countKeyCredits(keyId, day, -1),
      ...(fromOrganization ? [addUsage({ organizationId }, day, 'credits', -1)] : []),
    ]);
  } catch (error) {
    logger.warn('credit usage not counted', { organizationId, keyId, error: describeError(error) });
  }
}

/** The refund of a batched reservation into its batch, in one transaction; false when the batch is gone (returned). */
async function refundToBatch(organizationId: string, reservation: ReservationItem, now: Date): Promise<boolean> {
  const result = await transactWrite({
    TransactItems: [
      refundUpdate(organizationId, reservation, now),
      {
        Update: {
          TableName: tableName('usage'),
          Key: batchKey(organizationId, reservation.batchId as string),
          UpdateExpression: 'ADD remaining :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':one': 1 },
        },
      },
    ],
  });
  // Refunded meanwhile counts as done; a returned batch sends the credit to the balance instead.
  return result.ok || result.reasons[0]?.Code === 'ConditionalCheckFailed';
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
        {
          Update: {
            TableName: tableName('organizations'),
            Key: { id: organizationId },
            UpdateExpression: 'SET credits = :after',
            ConditionExpression: 'credits = :before',
            ExpressionAttributeValues: { ':before': before, ':after': after },
          },
        },
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

// ---- The high-volume path: credits taken from the balance in batches (shared/limits/credit-batches.ts).

/** The batch items of an organization (pk `credit-batch#org#<orgId>`, sk the batch id). */
function batchKey(organizationId: string, batchId: string): { pk: string; sk: string } {
  return { pk: `credit-batch#org#${organizationId}`, sk: batchId };
}

/**
 * Returning a batch: delete it (condition: it holds exactly `remaining`), its credits back to the
 * balance (unless the same transaction's debit nets them), its spent credits into the
 * organization's usage of its day.
 */
function closeItems(organizationId: string, batch: CreditBatch, remaining: number, toBalance: boolean) {
  const spent = batch.size - remaining;
  return [
    {
      Delete: {
        TableName: tableName('usage'),
        Key: batchKey(organizationId, batch.id),
        ConditionExpression: 'remaining = :remaining',
        ExpressionAttributeValues: { ':remaining': remaining },
      },
    },
    ...(toBalance && remaining > 0
      ? [{ Update: { TableName: tableName('organizations'), Key: { id: organizationId }, UpdateExpression: 'ADD credits :back', ExpressionAttributeValues: { ':back': remaining } } }]
      : []),
    ...(spent !== 0
      ? [{
        Update: {
          TableName: tableName('usage'),
          Key: usageKey({ organizationId }, batch.day),
          UpdateExpression: 'ADD credits :spent SET #ttl = if_not_exists(#ttl, :ttl)',
          ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':spent': spent, ':ttl': usageItemTtl(batch.day) },
        },
      }]
      : []),
  ];
}

export const creditStore: CreditStore = {
  balance: balanceOf,

  async openBatch(organizationId, batch, now, returning) {
    const back = returning?.remaining ?? 0;
    const result = await transactWrite({
      TransactItems: [
        balanceChange(organizationId, back - batch.size, batch.size - back),
        {
          Put: {
            TableName: tableName('usage'),
            Item: {
              ...batchKey(organizationId, batch.id),
              ...batch,
              remaining: batch.size,
              openedAt: iso(now),
              // Kept well past any reclaim; the item is deleted when it is returned.
              ttl: epochSeconds(now) + 7 * 86_400,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        ...(returning ? closeItems(organizationId, returning.batch, returning.remaining, false) : []),
      ],
    });
    return result.ok;
  },

  async spend(organizationId, batchId, { requestKey, keyId, day }, now) {
    const result = await transactWrite({
      TransactItems: [
        reservationPut(newReservation(organizationId, requestKey, keyId, day, now, batchId), now),
        {
          Update: {
            TableName: tableName('usage'),
            Key: batchKey(organizationId, batchId),
            UpdateExpression: 'ADD remaining :minus',
            ConditionExpression: 'remaining >= :one',
            ExpressionAttributeValues: { ':minus': -1, ':one': 1 },
          },
        },
      ],
    });
    if (result.ok) return 'spent';
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') return 'alreadyCharged';
    if (result.reasons[1]?.Code === 'ConditionalCheckFailed') return 'batchEmpty';
    throw cancelled('spend', result.reasons);
  },

  async closeBatch(organizationId, batch: CreditBatch, remaining) {
    return (await transactWrite({ TransactItems: closeItems(organizationId, batch, remaining, true) })).ok;
  },

  async remaining(organizationId, batchId) {
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: batchKey(organizationId, batchId), ConsistentRead: true }));
    return Item ? Number(Item.remaining) : undefined;
  },

  async countKeyCredits(keyId, day, amount) {
    await addUsage(keyCreditsScope(keyId), day, 'credits', amount);
  },

  async isCharged(organizationId, requestKey, now) {
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: reservationKey(organizationId, requestKey), ConsistentRead: true }));
    return Item !== undefined && Item.state !== 'refunded' && Number(Item.ttl) > epochSeconds(now);
  },

  async openBatches(organizationId, expiredBefore = Infinity) {
    const range = (condition: string, values: Record<string, string>) => queryAll<Record<string, unknown>>({
      TableName: tableName('usage'),
      KeyConditionExpression: `pk = :pk AND ${condition}`,
      ExpressionAttributeValues: { ':pk': `credit-batch#org#${organizationId}`, ...values },
      ConsistentRead: true,
    });
    const [expired, legacy] = await Promise.all([
      range('sk < :before', { ':before': batchIdsExpiredBefore(expiredBefore) }),
      // Batches opened before ids started with their expiry (random base62 ids; today's start with
      // "00" until the year 5138): read too, so that one a stopped environment left is returned.
      Number.isFinite(expiredBefore) ? range('sk >= :legacy', { ':legacy': '01' }) : Promise.resolve([]),
    ]);
    return [...expired, ...legacy].map((item) => ({
      id: String(item.id),
      size: Number(item.size),
      day: String(item.day),
      expiresAt: Number(item.expiresAt),
      remaining: Number(item.remaining),
    }));
  },
};

const highVolumeStore: HighVolumeStore = { ...counterStore, ...creditStore };
const creditMemory = new CreditMemory();

/** For tests: forget this environment's batches (a fresh Lambda environment; what they hold is returned by reclaim). */
export function forgetCreditBatches(): void {
  for (const map of [creditMemory.observed, creditMemory.held, creditMemory.meters, creditMemory.emptyAt, creditMemory.lastReclaim, creditMemory.balanceAfterOpen]) map.clear();
}
