// Credits on the high-volume path, on DynamoDB: the batch store of shared/limits/credit-batches.ts
// and the settle of a hold taken out of a batch.
//
// A batch is an item of the usage table (pk `credit-batch#org#<orgId>`, sk the batch id, which starts
// with its expiry). Opening one moves its credits from the organization's `credits` to its
// `creditsHeld` (they are spoken for, not spendable on the balance); returning one moves what it
// still holds back and counts what was taken out of it in the organization's usage of its day.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { iso, epochSeconds } from '../domain/time.ts';
import { batchIdsExpiredBefore, type CreditBatch, type CreditStore } from '../limits/store.ts';
import { usageItemTtl } from '../limits/windows.ts';
import { describeError, logger } from '../log.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { conditionalUpdate, db, queryAll, transactWrite } from './client.ts';
import { balanceOf, balanceChange, cancelled } from './credit-balance.ts';
import { isCharged, newReservation, reservationPut, settleUpdate, type Hold } from './credit-reservations.ts';
import { addUsage, keyCreditsScope, usageKey } from './usage.ts';

/** What a batched hold records besides its credits (the spend's `details`). */
export interface BatchedHoldDetails {
  hold: Hold;
  dueMs: number;
}

/** The batch items of an organization (pk `credit-batch#org#<orgId>`, sk the batch id). */
function batchKey(organizationId: string, batchId: string): { pk: string; sk: string } {
  return { pk: `credit-batch#org#${organizationId}`, sk: batchId };
}

/**
 * Returning a batch: delete it (condition: it holds exactly `remaining`), its credits back to the
 * balance (unless the same transaction's opening nets them), its spent credits into the
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
    ...(toBalance ? [balanceChange(organizationId, remaining, -batch.size)] : []),
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
        balanceChange(organizationId, back - batch.size, batch.size - (returning?.batch.size ?? 0), batch.size - back),
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

  async spend(organizationId, batchId, { requestKey, keyId, day, credits = 1, details }, now) {
    const given = details as BatchedHoldDetails | undefined;
    const hold: Hold = given
      ? { ...given.hold, batchId }
      : { organizationId, requestKey, keyId, day, held: credits, billing: { mode: 'reply' }, outputCap: 0, reservedAt: iso(now), batchId };
    const result = await transactWrite({
      TransactItems: [
        reservationPut(newReservation(hold, now, given?.dueMs ?? now.getTime()), now),
        {
          Update: {
            TableName: tableName('usage'),
            Key: batchKey(organizationId, batchId),
            UpdateExpression: 'ADD remaining :minus',
            ConditionExpression: 'remaining >= :credits',
            ExpressionAttributeValues: { ':minus': -credits, ':credits': credits },
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

  isCharged,

  async openBatches(organizationId, expiredBefore = Infinity) {
    const range = (condition: string, values: Record<string, string>) => queryAll<Record<string, unknown>>({
      TableName: tableName('usage'),
      KeyConditionExpression: `pk = :pk AND ${condition}`,
      ExpressionAttributeValues: { ':pk': `credit-batch#org#${organizationId}`, ...values },
      ConsistentRead: true,
    });
    const [expired, legacy] = await Promise.all([
      range('sk < :before', { ':before': batchIdsExpiredBefore(expiredBefore) }),
      // Batches whose ids do not start with their expiry (random base62 ids; expiry ids start with
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

/**
 * Settle a hold taken out of a batch: the rest goes back into the batch while it is open (no write
 * on the balance; its return counts the organization's usage net of it), else to the balance, whose
 * day usage then uncounts it (the returned batch counted the whole hold as spent). False when the
 * hold was settled already. `returned` says where the rest went (for the owner's memory).
 */
export async function settleFromBatch(hold: Hold & { batchId: string }, charged: number, by: 'reply' | 'sweep', now: Date): Promise<{ settled: boolean; intoBatch: boolean }> {
  const rest = hold.held - charged;
  const flip = settleUpdate(hold, charged, by, now);
  if (rest === 0) {
    // Nothing goes back (a reply billed per reply, or one that used its whole hold): one write.
    if (!(await conditionalUpdate(flip.Update))) return { settled: false, intoBatch: false };
    if (charged > 0) await countUsage(() => addUsage(keyCreditsScope(hold.keyId), hold.day, 'credits', charged), hold);
    return { settled: true, intoBatch: false };
  }
  let intoBatch = true;
  let result = await transactWrite({
    TransactItems: [
      flip,
      {
        Update: {
          TableName: tableName('usage'),
          Key: batchKey(hold.organizationId, hold.batchId),
          UpdateExpression: 'ADD remaining :rest',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':rest': rest },
        },
      },
    ],
  });
  if (!result.ok && result.reasons[0]?.Code !== 'ConditionalCheckFailed' && result.reasons[1]?.Code === 'ConditionalCheckFailed') {
    // The batch was returned: the rest goes to the balance.
    intoBatch = false;
    result = await transactWrite({ TransactItems: [flip, balanceChange(hold.organizationId, rest, 0)] });
    if (result.ok) await countUsage(() => addUsage({ organizationId: hold.organizationId }, hold.day, 'credits', -rest), hold);
  }
  if (!result.ok) {
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') return { settled: false, intoBatch: false };
    throw cancelled('settle', result.reasons);
  }
  if (charged > 0) await countUsage(() => addUsage(keyCreditsScope(hold.keyId), hold.day, 'credits', charged), hold);
  return { settled: true, intoBatch };
}

/** Usage only, after the money moved: a failure leaves a usage figure off, never the balance. */
async function countUsage(write: () => Promise<unknown>, hold: Hold): Promise<void> {
  try {
    await write();
  } catch (error) {
    logger.warn('credit usage not counted', { organizationId: hold.organizationId, keyId: hold.keyId, error: describeError(error) });
  }
}
