// A reply's credit reservation (its hold), on both credit paths: one item per request key, in its
// own partition (`credit#<orgId>#<requestKey>`), so no partition takes every reply of an organization.
//
// - Created `held` in the same transaction as the credits leave the balance or a batch; a live one
//   (held or settled, within its retention) makes a retry `alreadyCharged`.
// - Settled once: `settled` with `charged`, or `refunded` when nothing was charged (a refunded request
//   key may be held again), in the same transaction as the rest returns.
// - While held it is in the usage table's sparse `byHoldDue` index (`holdShard`, `holdDue`), which
//   the sweep reads to settle the holds whose function died.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Billing } from '../domain/billing.ts';
import { epochSeconds, iso } from '../domain/time.ts';
import { holdDueKey, holdShardOf } from '../limits/credit-holds.ts';
import type { TokenHold } from '../limits/tokens.ts';
import { reservationTtl } from '../limits/windows.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { conditionalUpdate, db } from './client.ts';

export type ReservationState = 'held' | 'settled' | 'refunded';

export interface ReservationItem {
  pk: string;
  sk: string;
  state: ReservationState;
  organizationId: string;
  requestKey: string;
  keyId: string;
  /** UTC day the reply started: its credits are counted in that day's usage. */
  day: string;
  /** Credits held. */
  held: number;
  /** The billing the hold was priced with (the reply is charged by it). */
  billing: Billing;
  /** High-volume path: the shared batch the credits came out of (the rest goes back into it). */
  batch?: number;
  reservedAt: string;
  /** Index keys while held (removed when settled). */
  holdShard?: string;
  holdDue?: string;
  /** A delta reached the caller: the sweep charges a dead function's hold in full. */
  delivered?: boolean;
  /**
   * The reply's token hold (where its tokens were counted), recorded after it was taken: whoever
   * settles the reservation (the reply or the sweep) gives its unused tokens back, once.
   */
  tokenHold?: HeldTokens;
  charged?: number;
  settledAt?: string;
  settledBy?: 'reply' | 'sweep';
  ttl: number;
}

/** A token hold as the reservation keeps it. */
export type HeldTokens = Pick<TokenHold, 'tokens' | 'parts'>;

/** What the reply keeps of its hold to settle it (plain data: no read needed to settle). */
export interface Hold extends Pick<ReservationItem, 'organizationId' | 'requestKey' | 'keyId' | 'day' | 'held' | 'billing' | 'reservedAt' | 'batch'> {
  /** The output cap to pass to the upstream: the assistant's, or lowered to what was held. */
  outputCap: number;
  /** The token hold recorded on the reservation (recordTokenHold): returned by whoever settles it. */
  tokens?: HeldTokens;
}

export function reservationKey(organizationId: string, requestKey: string): { pk: string; sk: string } {
  return { pk: `credit#${organizationId}#${requestKey}`, sk: 'hold' };
}

/** A new hold's item, due to the sweep at `dueMs`. */
export function newReservation(hold: Hold, now: Date, dueMs: number): ReservationItem {
  return {
    ...reservationKey(hold.organizationId, hold.requestKey),
    state: 'held',
    organizationId: hold.organizationId,
    requestKey: hold.requestKey,
    keyId: hold.keyId,
    day: hold.day,
    held: hold.held,
    billing: hold.billing,
    ...(hold.batch !== undefined ? { batch: hold.batch } : {}),
    reservedAt: hold.reservedAt,
    holdShard: holdShardOf(),
    holdDue: holdDueKey(dueMs, hold.requestKey),
    ttl: reservationTtl(now),
  };
}

/**
 * The reservation's write, on both paths: it succeeds when there is no reservation, a refunded one,
 * or one past its TTL (TTL deletes it days late, if at all, so it is judged here: after
 * RESERVATION_RETENTION_DAYS the request key is a new request). Else this request key was charged.
 */
export function reservationPut(reservation: ReservationItem, now: Date) {
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

/**
 * The settle's flip from held to settled (or refunded, when nothing is charged), out of the index:
 * conditional on the hold read, so concurrent settles (the reply and the sweep) settle once.
 */
export function settleUpdate(hold: Pick<Hold, 'organizationId' | 'requestKey' | 'reservedAt'>, charged: number, by: 'reply' | 'sweep', now: Date) {
  return {
    Update: {
      TableName: tableName('usage'),
      Key: reservationKey(hold.organizationId, hold.requestKey),
      UpdateExpression: 'SET #state = :to, charged = :charged, settledAt = :now, settledBy = :by REMOVE holdShard, holdDue',
      ConditionExpression: '#state = :held AND reservedAt = :reservedAt',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':to': charged > 0 ? 'settled' : 'refunded',
        ':charged': charged,
        ':now': iso(now),
        ':by': by,
        ':held': 'held',
        ':reservedAt': hold.reservedAt,
      },
    },
  };
}

export async function readReservation(organizationId: string, requestKey: string): Promise<ReservationItem | undefined> {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: reservationKey(organizationId, requestKey), ConsistentRead: true }));
  return Item as ReservationItem | undefined;
}

/** Whether a live reservation exists for the request key (a retry is told so, not refused with 402). */
export async function isCharged(organizationId: string, requestKey: string, now: Date): Promise<boolean> {
  const item = await readReservation(organizationId, requestKey);
  return item !== undefined && item.state !== 'refunded' && Number(item.ttl) > epochSeconds(now);
}

/** The hold kept by a reply, from its item (the sweep's and a refund's view). */
export function holdOf(item: ReservationItem, outputCap = 0): Hold {
  return {
    organizationId: item.organizationId,
    requestKey: item.requestKey,
    keyId: item.keyId,
    day: item.day,
    held: Number(item.held),
    billing: item.billing,
    outputCap,
    reservedAt: item.reservedAt,
    ...(item.batch !== undefined ? { batch: Number(item.batch) } : {}),
    ...(item.tokenHold !== undefined ? { tokens: item.tokenHold } : {}),
  };
}

/** A write on a reservation while it is still the same hold and held; false when it is not (settled meanwhile). */
async function whileHeld(hold: Pick<Hold, 'organizationId' | 'requestKey' | 'reservedAt'>, set: string, values: Record<string, unknown>): Promise<boolean> {
  const updated = await conditionalUpdate({
    TableName: tableName('usage'),
    Key: reservationKey(hold.organizationId, hold.requestKey),
    UpdateExpression: `SET ${set}`,
    ConditionExpression: '#state = :held AND reservedAt = :reservedAt',
    ExpressionAttributeNames: { '#state': 'state' },
    ExpressionAttributeValues: { ...values, ':held': 'held', ':reservedAt': hold.reservedAt },
  });
  return updated !== undefined;
}

/**
 * Record the reply's token hold on its reservation (one small write, only when a token window
 * applies), so that the settle that wins the reservation's flip, the reply's or the sweep's, gives
 * the tokens back, and only that one. False when it was not recorded (the reply then returns its
 * tokens itself; a dead function's stay counted until their windows end).
 */
export function recordTokenHold(hold: Pick<Hold, 'organizationId' | 'requestKey' | 'reservedAt'>, tokens: HeldTokens): Promise<boolean> {
  return whileHeld(hold, 'tokenHold = :tokens', { ':tokens': { tokens: tokens.tokens, parts: tokens.parts } });
}

/** A reply still running moves its hold's due time on (the sweep leaves it alone until then); a settled hold is left alone. */
export async function renewHold(hold: Pick<Hold, 'organizationId' | 'requestKey' | 'reservedAt'>, dueMs: number): Promise<void> {
  await whileHeld(hold, 'holdDue = :due', { ':due': holdDueKey(dueMs, hold.requestKey) });
}

/**
 * The first delta reached the caller: mark the hold, so that the sweep charges it in full if this
 * function dies. One small write on the reservation's own item; a hold settled meanwhile is left alone.
 */
export async function markDelivered(hold: Pick<Hold, 'organizationId' | 'requestKey' | 'reservedAt'>): Promise<void> {
  await whileHeld(hold, 'delivered = :true', { ':true': true });
}
