// Credits on the high-volume path, on DynamoDB: the shared batches of shared/limits/credit-batches.ts
// and the settle of a hold taken out of one.
//
// Batch n of an organization is an item of the usage table in a partition of its own
// (pk `credit-batch#<orgId>#<n>`, sk `batch`): `remaining` (spendable), `charged` (charged by holds
// settled from it since its last fill), `filled`/`filledAt` (its last fill: its rate of use). A fill
// moves credits from the organization's `credits` to its `creditsHeld` (spoken for, not spendable on
// the balance) and takes what the batch charged off `creditsHeld` and into the day's usage; a drain
// moves everything back. While filled, a batch is in the `byHoldDue` index (due BATCH_IDLE_MS after
// its last fill), so the sweep drains the batches of an organization that went quiet.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds, utcDay } from '../domain/time.ts';
import { BATCH_IDLE_MS, BATCHES } from '../limits/credit-batches.ts';
import { holdDueKey, holdShardOf } from '../limits/credit-holds.ts';
import type { CreditStore, SharedBatch } from '../limits/store.ts';
import { usageItemTtl } from '../limits/windows.ts';
import { describeError, logger } from '../log.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { batchGet, conditionalUpdate, db, queryAll, transactWrite } from './client.ts';
import { balanceChange, balanceOf, cancelled } from './credit-balance.ts';
import { isCharged, newReservation, reservationPut, settleUpdate, type Hold } from './credit-reservations.ts';
import { addUsage, keyCreditsScope, usageKey } from './usage.ts';

/** What a batched hold records besides its credits (the take's `details`). */
export interface BatchedHoldDetails {
  hold: Hold;
  dueMs: number;
}

const BATCH_PREFIX = 'credit-batch#';

/** Batch n of an organization: a partition of its own. */
export function batchKey(organizationId: string, n: number): { pk: string; sk: string } {
  return { pk: `${BATCH_PREFIX}${organizationId}#${n}`, sk: 'batch' };
}

/** The organization's drain claim (one drain of its batches at a time): a partition of its own, not the balance's. */
function drainKey(organizationId: string): { pk: string; sk: string } {
  return { pk: `credit-drain#${organizationId}`, sk: 'drain' };
}

/** The organization and batch number of a batch item's pk; undefined for any other item. */
export function batchOfKey(pk: string): { organizationId: string; n: number } | undefined {
  if (!pk.startsWith(BATCH_PREFIX)) return undefined;
  const rest = pk.slice(BATCH_PREFIX.length);
  const at = rest.lastIndexOf('#');
  const n = Number(rest.slice(at + 1));
  return at > 0 && Number.isInteger(n) ? { organizationId: rest.slice(0, at), n } : undefined;
}

function batchOf(item: Record<string, unknown> | undefined): SharedBatch {
  return {
    remaining: Number(item?.remaining ?? 0),
    charged: Number(item?.charged ?? 0),
    filledAt: Number(item?.filledAt ?? 0),
    filled: Number(item?.filled ?? 0),
    filling: Number(item?.filling ?? 0),
    billingRev: Number(item?.billingRev ?? 0),
  };
}

/** What a batch charged, into the organization's usage of `day` (a transaction item), when anything. */
function chargedIntoUsage(organizationId: string, charged: number, day: string) {
  if (charged === 0) return [];
  return [{
    Update: {
      TableName: tableName('usage'),
      Key: usageKey({ organizationId }, day),
      UpdateExpression: 'ADD credits :charged SET #ttl = if_not_exists(#ttl, :ttl)',
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':charged': charged, ':ttl': usageItemTtl(day) },
    },
  }];
}

export const creditStore: CreditStore = {
  balance: balanceOf,

  async readBatch(organizationId, n) {
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: batchKey(organizationId, n), ConsistentRead: true }));
    return batchOf(Item);
  },

  async readBatches(organizationId, { consistent = true } = {}) {
    const keys = Array.from({ length: BATCHES }, (_, n) => batchKey(organizationId, n));
    const found: [number, SharedBatch][] = [];
    // Every batch, however long DynamoDB takes: a batch left unread would not be drained at a 402.
    for (const [n, item] of (await batchGet(tableName('usage'), keys, { attempts: Infinity, consistent })).entries()) {
      if (item === undefined) continue;
      const batch = batchOf(item);
      if (batch.remaining !== 0 || batch.charged !== 0) found.push([n, batch]);
    }
    return found;
  },

  async claimBatch(organizationId, n, seen, until, now) {
    const claimed = await conditionalUpdate({
      TableName: tableName('usage'),
      Key: batchKey(organizationId, n),
      UpdateExpression: 'SET filling = :until',
      ConditionExpression: `(attribute_not_exists(filling) OR filling <= :now) AND ${seen.filledAt === 0 ? 'attribute_not_exists(filledAt)' : 'filledAt = :seenAt'}`,
      ExpressionAttributeValues: { ':until': until, ':now': now.getTime(), ...(seen.filledAt === 0 ? {} : { ':seenAt': seen.filledAt }) },
    });
    return claimed !== undefined;
  },

  async claimDrain(organizationId, until, now) {
    const claimed = await conditionalUpdate({
      TableName: tableName('usage'),
      Key: drainKey(organizationId),
      UpdateExpression: 'SET draining = :until, #ttl = :ttl',
      ConditionExpression: 'attribute_not_exists(draining) OR draining <= :now',
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':until': until, ':now': now.getTime(), ':ttl': epochSeconds(now) + 86_400 },
    });
    return claimed !== undefined;
  },

  async drainClaimedUntil(organizationId) {
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: drainKey(organizationId) }));
    return Number(Item?.draining ?? 0);
  },

  async fillBatch(organizationId, n, seen, size, until, now, billingRev = 0) {
    const day = utcDay(now);
    const result = await transactWrite({
      TransactItems: [
        balanceChange(organizationId, -size, size - seen.charged, size, billingRev),
        {
          Update: {
            TableName: tableName('usage'),
            Key: batchKey(organizationId, n),
            UpdateExpression: 'ADD remaining :size, charged :uncharged SET filled = :size, filledAt = :at, billingRev = :rev, holdShard = :shard, holdDue = :due, #ttl = :ttl REMOVE filling',
            ConditionExpression: 'filling = :until',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: {
              ':size': size,
              ':uncharged': -seen.charged,
              ':at': now.getTime(),
              ':until': until,
              ':rev': billingRev,
              ':shard': holdShardOf(),
              ':due': holdDueKey(now.getTime() + BATCH_IDLE_MS, `${organizationId}#${n}`),
              // Drained by the sweep long before; kept a while for the operators who read the table.
              ':ttl': epochSeconds(now) + 30 * 86_400,
            },
          },
        },
        ...chargedIntoUsage(organizationId, seen.charged, day),
      ],
    });
    return result.ok;
  },

  async take(organizationId, n, { requestKey, keyId, day, credits = 1, details, billingRev = 0 }, now) {
    const given = details as BatchedHoldDetails | undefined;
    const hold: Hold = given
      ? { ...given.hold, batch: n }
      : { organizationId, requestKey, keyId, day, held: credits, billing: { mode: 'reply' }, outputCap: 0, reservedAt: now.toISOString(), batch: n };
    const result = await transactWrite({
      TransactItems: [
        reservationPut(newReservation(hold, now, given?.dueMs ?? now.getTime()), now),
        {
          Update: {
            TableName: tableName('usage'),
            Key: batchKey(organizationId, n),
            UpdateExpression: 'ADD remaining :minus',
            ConditionExpression: 'remaining >= :credits AND (attribute_not_exists(billingRev) OR billingRev <= :rev)',
            ExpressionAttributeValues: { ':minus': -credits, ':credits': credits, ':rev': billingRev },
          },
        },
      ],
    });
    if (result.ok) return 'taken';
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') return 'alreadyCharged';
    if (result.reasons[1]?.Code === 'ConditionalCheckFailed') return 'short';
    throw cancelled('take', result.reasons);
  },

  async drainBatch(organizationId, n, seen, now) {
    const result = await transactWrite({
      TransactItems: [
        {
          Update: {
            TableName: tableName('usage'),
            Key: batchKey(organizationId, n),
            UpdateExpression: 'ADD remaining :minusRemaining, charged :minusCharged REMOVE holdShard, holdDue',
            ConditionExpression: 'remaining = :remaining',
            ExpressionAttributeValues: { ':remaining': seen.remaining, ':minusRemaining': -seen.remaining, ':minusCharged': -seen.charged },
          },
        },
        balanceChange(organizationId, seen.remaining, -(seen.remaining + seen.charged)),
        ...chargedIntoUsage(organizationId, seen.charged, utcDay(now)),
      ],
    });
    return result.ok;
  },

  async countKeyCredits(keyId, day, amount) {
    await addUsage(keyCreditsScope(keyId), day, 'credits', amount);
  },

  isCharged,

  drainOlder: (organizationId) => returnBatchesOf010(organizationId),
};

/**
 * Tell the organization's batches that its billing is now revision `billingRev` (after a billing
 * change): a hold priced with an older one can no longer take from any of them. Only batches that
 * hold credits need it (two reads find them): an empty one serves no take, and its next fill is
 * conditional on the organization's revision, which already is the new one. Each write is retried;
 * one that still fails is logged (that batch then serves older prices until this environment's
 * billing is 10 s old).
 */
export async function stampBillingRev(organizationId: string, billingRev: number): Promise<void> {
  const holding = (await creditStore.readBatches(organizationId)).filter(([, batch]) => batch.remaining > 0);
  await Promise.all(holding.map(async ([n]) => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await conditionalUpdate({
          TableName: tableName('usage'),
          Key: batchKey(organizationId, n),
          UpdateExpression: 'SET billingRev = :rev',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(billingRev) OR billingRev < :rev)',
          ExpressionAttributeValues: { ':rev': billingRev },
        });
        return;
      } catch (error) {
        if (attempt === 3) logger.error('credit batch not told of a billing change', { organizationId, error: describeError(error) });
      }
    }
  }));
}

/**
 * Settle a hold taken out of a batch: the rest goes back into the batch and the charge is counted on
 * it (taken off `creditsHeld` at its next fill or drain), with the reservation's flip, in one
 * transaction. False when the hold was settled already.
 */
export async function settleFromBatch(hold: Hold & { batch: number }, charged: number, by: 'reply' | 'sweep', now: Date): Promise<boolean> {
  const result = await transactWrite({
    TransactItems: [
      settleUpdate(hold, charged, by, now),
      {
        Update: {
          TableName: tableName('usage'),
          Key: batchKey(hold.organizationId, hold.batch),
          UpdateExpression: 'ADD remaining :rest, charged :charged',
          ExpressionAttributeValues: { ':rest': hold.held - charged, ':charged': charged },
        },
      },
    ],
  });
  if (!result.ok) {
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') return false;
    throw cancelled('settle', result.reasons);
  }
  if (charged > 0) {
    try {
      await addUsage(keyCreditsScope(hold.keyId), hold.day, 'credits', charged);
    } catch (error) {
      // Usage only, after the money moved: a failure leaves a usage figure off, never the balance.
      logger.warn('credit usage not counted', { organizationId: hold.organizationId, keyId: hold.keyId, error: describeError(error) });
    }
  }
  return true;
}

/**
 * Return the batches a stack of version 0.1.0 left (one environment's each, pk
 * `credit-batch#org#<orgId>`): what each still holds back to the balance (0.1.0 took batches out of
 * `credits` only), what was spent from it into its day's usage. What a 402 does with the shared
 * batches' drain; nothing is found once they are gone. Returns the credits moved.
 */
export async function returnBatchesOf010(organizationId: string): Promise<number> {
  const pk = `credit-batch#org#${organizationId}`;
  const items = await queryAll<Record<string, unknown>>({
    TableName: tableName('usage'),
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': pk },
    ConsistentRead: true,
  });
  let returned = 0;
  for (const item of items) {
    const remaining = Number(item.remaining ?? 0);
    const spent = Number(item.size ?? 0) - remaining;
    const result = await transactWrite({
      TransactItems: [
        {
          Delete: {
            TableName: tableName('usage'),
            Key: { pk, sk: item.sk },
            ConditionExpression: 'remaining = :remaining',
            ExpressionAttributeValues: { ':remaining': remaining },
          },
        },
        balanceChange(organizationId, remaining, 0),
        ...chargedIntoUsage(organizationId, spent, String(item.day ?? utcDay(new Date()))),
      ],
    });
    if (result.ok) returned += remaining;
  }
  return returned;
}

