// Token windows on DynamoDB (docs/limits.md, "Token windows"): the TokenStore of
// shared/limits/tokens.ts as UpdateItems on the usage table, and the calls a reply makes:
// `takeTokens` before calling its upstream, `returnTokens` when it ends.
//
// Items (pk, sk the UTC day): `usage#key#<keyId>#tw` (a key's own token windows),
// `usage#org#<orgId>#tw` (an organization's, one-item path) and `usage#org#<orgId>#tw#<0-63>` (its
// shards, high-volume path); attributes `tw` (minute id), `tm` (tokens in that minute), `td`
// (tokens that day), `ttl`.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { RateSubject } from '../domain/plans.ts';
import { rateLimitExceeded } from '../limits/headers.ts';
import { holdTokens, releaseTokens, TokenMemory, type TokenCounters, type TokenHold, type TokenStore, type TokenTarget } from '../limits/tokens.ts';
import { usageItemTtl } from '../limits/windows.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { countingDb, isConditionFailed } from './client.ts';
import { sendCounterWrite } from './rate-limits.ts';

export function tokenPartition(target: TokenTarget): string {
  if ('keyId' in target) return `usage#key#${target.keyId}#tw`;
  return target.shard === undefined ? `usage#org#${target.organizationId}#tw` : `usage#org#${target.organizationId}#tw#${target.shard}`;
}

/** The UpdateItem that adds `amount` tokens. Exported for tests; the expressions are the design. */
export function tokenUpdate(target: TokenTarget, kind: 'same' | 'roll' | 'fresh', minute: string, day: string, limits: { perMinute?: number | undefined; perDay?: number | undefined }, amount: number) {
  const values: Record<string, unknown> = { ':w': minute, ':n': amount };
  const conditions: string[] = [];
  // A condition cannot add: "count + amount <= limit" is "count <= limit - amount".
  const dayRoom = limits.perDay === undefined ? undefined : limits.perDay - amount;
  const minuteRoom = limits.perMinute === undefined ? undefined : limits.perMinute - amount;
  if (dayRoom !== undefined) values[':dr'] = dayRoom;
  if (minuteRoom !== undefined) values[':mr'] = minuteRoom;
  let update: string;
  switch (kind) {
    case 'same':
      conditions.push('tw = :w');
      if (minuteRoom !== undefined) conditions.push('tm <= :mr');
      if (dayRoom !== undefined) conditions.push('td <= :dr');
      update = 'ADD tm :n, td :n';
      break;
    case 'roll':
      // A later minute of the day starts at `amount` (never an earlier one: tw < :w).
      conditions.push('tw < :w');
      if (dayRoom !== undefined) conditions.push('td <= :dr');
      update = 'SET tw = :w, tm = :n ADD td :n';
      break;
    case 'fresh':
      conditions.push('attribute_not_exists(tw)');
      values[':ttl'] = usageItemTtl(day);
      update = 'SET tw = :w, tm = :n, td = :n, #ttl = :ttl';
      break;
  }
  const condition = conditions.join(' AND ');
  // DynamoDB refuses values an expression does not use.
  const used = new Set(`${update} ${condition}`.match(/:[A-Za-z0-9_]+/g));
  for (const name of Object.keys(values)) if (!used.has(name)) delete values[name];
  return {
    TableName: tableName('usage'),
    Key: { pk: tokenPartition(target), sk: day },
    UpdateExpression: update,
    ConditionExpression: condition,
    ...(kind === 'fresh' ? { ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE } } : {}),
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW' as const,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

export const tokenStore: TokenStore = {
  async takeTokens(target, kind, minute, day, limits, amount) {
    const input = tokenUpdate(target, kind, minute.id, day, limits, amount);
    try {
      const { Attributes = {} } = await sendCounterWrite(input);
      return { ok: true, state: Attributes as TokenCounters };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { ok: false, old: item ? (unmarshall(item) as TokenCounters) : undefined };
    }
  },

  async returnTokens(target, minute, day, amount) {
    const Key = { pk: tokenPartition(target), sk: day };
    try {
      await countingDb.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key,
        UpdateExpression: 'ADD tm :minus, td :minus',
        ConditionExpression: 'tw = :w',
        ExpressionAttributeValues: { ':minus': -amount, ':w': minute },
      }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // The item moved to a later minute (its count restarted): only the day still holds them.
      await countingDb.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key,
        UpdateExpression: 'ADD td :minus',
        ConditionExpression: 'attribute_exists(td)',
        ExpressionAttributeValues: { ':minus': -amount },
      })).catch((e: unknown) => {
        if (!isConditionFailed(e)) throw e;
      });
    }
  },
};

/** This environment's memory of token shards short of room (it only saves failed writes). */
const memory = new TokenMemory();

/**
 * Hold tokens in every token window of the subject (its organization's `tokensPerMinute` /
 * `tokensPerDay` and its key's own) before a reply calls its upstream: as many as `want`, at least
 * `atLeast` (default `want`), or none. Throws 429 RATE_LIMIT_EXCEEDED (with `retry_after` and the
 * X-RateLimit-* headers of the token window that refused) when fewer than `atLeast` fit. With no
 * token window, the hold is `want` tokens and writes nothing.
 */
export async function takeTokens(
  subject: Pick<RateSubject, 'organizationId' | 'keyId' | 'orgLimits' | 'keyLimits'>,
  want: number,
  options: { atLeast?: number; now?: Date; random?: () => number } = {},
): Promise<TokenHold> {
  const now = options.now ?? new Date();
  const take = await holdTokens(tokenStore, subject, want, now, { atLeast: options.atLeast, random: options.random, memory });
  if (!take.ok) throw rateLimitExceeded(take.windows, now);
  return take.hold;
}

/**
 * Give back `tokens` of a hold (all of it by default): a reply that used u of its hold returns
 * `hold.tokens - u`; a failed reply returns all. The hold as it stands after. Each part of the
 * hold goes back to the item and minute it was taken in (only to the day once that minute is over).
 */
export function returnTokens(hold: TokenHold, tokens?: number): Promise<TokenHold> {
  return releaseTokens(tokenStore, hold, tokens);
}
