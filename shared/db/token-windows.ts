// Token windows on DynamoDB (docs/limits.md, "Token windows"): the TokenStore of
// shared/limits/tokens.ts as UpdateItems on the usage table, and the calls a reply makes:
// `takeTokens` before calling its upstream, `returnTokens` when it ends.
//
// Items (pk, sk the UTC day): `usage#key#<keyId>#tw` (a key's own token windows),
// `usage#org#<orgId>#tw` (an organization's, one-item path) and `usage#org#<orgId>#tw#<0-63>` (its
// shards, high-volume path); attributes `tw` (minute id), `tm` (tokens in that minute), `td`
// (tokens that day), `ttl`; on shards, `tf`, `tfa`, `tfr` (every shard found short: ShortMark in
// shared/limits/tokens.ts).
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { RateSubject } from '../domain/plans.ts';
import { SHARD_COUNT } from '../limits/counters.ts';
import { rateLimitExceeded } from '../limits/headers.ts';
import { holdTokens, rebaseTokens, releaseTokens, type TokenAssignment, type TokenCounters, type TokenHold, type TokenLimits, type TokenStore, type TokenTarget, type TokenVersion } from '../limits/tokens.ts';
import { dayWindow, usageItemTtl } from '../limits/windows.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { batchGet, conditionalUpdate, countingDb, db, isConditionFailed } from './client.ts';
import { claimChange, sendCounterWrite, tokenMemory } from './rate-limits.ts';

export function tokenPartition(target: TokenTarget): string {
  if ('keyId' in target) return `usage#key#${target.keyId}#tw`;
  return target.shard === undefined ? `usage#org#${target.organizationId}#tw` : `usage#org#${target.organizationId}#tw#${target.shard}`;
}


/** A token item's conditional update, answering with the item after (or before, when refused). */
function tokenItemUpdate(target: TokenTarget, day: string, update: string, condition: string, values: Record<string, unknown>, fresh: boolean) {
  // DynamoDB refuses values an expression does not use.
  const used = new Set(`${update} ${condition}`.match(/:[A-Za-z0-9_]+/g));
  for (const name of Object.keys(values)) if (!used.has(name)) delete values[name];
  return {
    TableName: tableName('usage'),
    Key: { pk: tokenPartition(target), sk: day },
    UpdateExpression: update,
    ConditionExpression: condition,
    ...(fresh ? { ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE } } : {}),
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW' as const,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
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
  return tokenItemUpdate(target, day, update, condition, values, kind === 'fresh');
}

/**
 * The UpdateItem that adds `amount` tokens to an organization token item under `version`: the
 * item counts under that version, is not being changed, and has the room (`rm` in its minute, `sm`
 * for a later one, `rd` for the day), which the write takes. A fresh item starts with `share` as
 * its room. Exported for tests; the expressions are the design.
 */
export function versionedTokenUpdate(target: TokenTarget, kind: 'same' | 'roll' | 'fresh', minute: string, day: string, share: TokenLimits, amount: number, version: TokenVersion) {
  const perMinute = version.limits.perMinute !== undefined;
  const perDay = version.limits.perDay !== undefined;
  const values: Record<string, unknown> = { ':w': minute, ':n': amount, ':v': version.v };
  const conditions: string[] = [];
  const sets: string[] = [];
  const adds: string[] = [];
  if (kind === 'fresh') {
    conditions.push('attribute_not_exists(lv)', 'attribute_not_exists(tw)', 'attribute_not_exists(fz)');
    sets.push('lv = :v', 'hv = :hv', 'tw = :w', 'tm = :n', 'td = :n', '#ttl = :ttl');
    values[':hv'] = version.highVolume;
    values[':ttl'] = usageItemTtl(day);
    if (perMinute) {
      sets.push('xm = :xm', 'sm = :sm', 'rm = :rm');
      values[':xm'] = version.limits.perMinute;
      values[':sm'] = share.perMinute ?? 0;
      values[':rm'] = (share.perMinute ?? 0) - amount;
    }
    if (perDay) {
      sets.push('xd = :xd', 'rd = :rd');
      values[':xd'] = version.limits.perDay;
      values[':rd'] = (share.perDay ?? 0) - amount;
    }
  } else {
    conditions.push('lv = :v', 'attribute_not_exists(fz)');
    if (perDay) {
      conditions.push('rd >= :n');
      adds.push('rd :minus');
    }
    adds.push('td :n');
    if (kind === 'same') {
      conditions.push('tw = :w');
      adds.push('tm :n');
      if (perMinute) {
        conditions.push('rm >= :n');
        adds.push('rm :minus');
      }
    } else {
      // A later minute of the day starts with the item's room for a minute (never an earlier one: tw < :w).
      conditions.push('tw < :w');
      sets.push('tw = :w', 'tm = :n');
      if (perMinute) {
        conditions.push('sm >= :n');
        sets.push('rm = sm - :n');
      }
    }
    values[':minus'] = -amount;
  }
  const update = [sets.length ? `SET ${sets.join(', ')}` : '', adds.length ? `ADD ${adds.join(', ')}` : ''].filter(Boolean).join(' ');
  const condition = conditions.join(' AND ');
  return tokenItemUpdate(target, day, update, condition, values, kind === 'fresh');
}

function itemOf(error: unknown): TokenCounters | undefined {
  const item = (error as { Item?: Record<string, AttributeValue> }).Item;
  return item ? (unmarshall(item) as TokenCounters) : undefined;
}

export const tokenStore: TokenStore = {
  async takeTokens(target, kind, minute, day, limits, amount, version) {
    const input = version && !('keyId' in target)
      ? versionedTokenUpdate(target, kind, minute.id, day, limits, amount, version)
      : tokenUpdate(target, kind, minute.id, day, limits, amount);
    try {
      const { Attributes = {} } = await sendCounterWrite(input);
      return { ok: true, state: Attributes as TokenCounters };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      return { ok: false, old: itemOf(error) };
    }
  },

  async freezeTokens(target, day, version, token, claimedAt) {
    const values: Record<string, unknown> = {
      ':token': token, ':v': version.v, ':hv': version.highVolume, ':ttl': usageItemTtl(day), ':none': '', ':zero': 0,
    };
    const sets = ['fz = :token', 'lv = :v', 'hv = :hv', 'ftw = if_not_exists(tw, :none)', 'ftm = if_not_exists(tm, :zero)', 'ftd = if_not_exists(td, :zero)', '#ttl = if_not_exists(#ttl, :ttl)'];
    if (claimedAt !== undefined) {
      sets.push('fzc = :fzc');
      values[':fzc'] = claimedAt;
    }
    const removes: string[] = [];
    if (version.limits.perMinute !== undefined) {
      sets.push('xm = :xm');
      values[':xm'] = version.limits.perMinute;
    } else removes.push('xm');
    if (version.limits.perDay !== undefined) {
      sets.push('xd = :xd');
      values[':xd'] = version.limits.perDay;
    } else removes.push('xd');
    try {
      const { Attributes = {} } = await db.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key: { pk: tokenPartition(target), sk: day },
        UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
        // Also an item that started its day under this version without a change applied (no kept counts).
        ConditionExpression: 'attribute_not_exists(lv) OR lv < :v OR fz = :token OR (lv = :v AND attribute_not_exists(ftd))',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { ok: true, state: Attributes as TokenCounters };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      return { ok: false, old: itemOf(error) };
    }
  },

  async assignTokens(target, day, token, a: TokenAssignment) {
    const sets = ['tw = :tw', 'tm = :tm', 'td = if_not_exists(td, :zero)'];
    const removes = ['fz'];
    const values: Record<string, unknown> = { ':token': token, ':tw': a.tw, ':tm': a.tm, ':zero': 0 };
    for (const [name, value] of [['rm', a.rm], ['sm', a.sm], ['rd', a.rd]] as const) {
      if (value === undefined) removes.push(name);
      else {
        sets.push(`${name} = :${name}`);
        values[`:${name}`] = value;
      }
    }
    const assigned = await conditionalUpdate({
      TableName: tableName('usage'),
      Key: { pk: tokenPartition(target), sk: day },
      UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      ConditionExpression: 'fz = :token',
      ExpressionAttributeValues: values,
    });
    return assigned !== undefined;
  },

  async returnToShard(target, minute, day, amount) {
    // The minute and the day, or the day only; never below zero, never while a limit change holds the shard.
    const counts = minute === undefined ? 'td >= :n' : 'tw = :w AND tm >= :n AND td >= :n';
    try {
      await countingDb.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key: { pk: tokenPartition(target), sk: day },
        UpdateExpression: minute === undefined ? 'ADD td :minus, rd :n' : 'ADD tm :minus, td :minus, rm :n, rd :n',
        ConditionExpression: `attribute_not_exists(fz) AND ${counts}`,
        ExpressionAttributeValues: { ':minus': -amount, ':n': amount, ...(minute === undefined ? {} : { ':w': minute }) },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { ok: true };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      return { ok: false, tw: itemOf(error)?.tw };
    }
  },

  async returnTokens(target, minute, day, amount) {
    const Key = { pk: tokenPartition(target), sk: day };
    // An organization's item gets the room back too (a key's counts against the limits its requests carry).
    const room = 'keyId' in target ? { minute: '', day: '' } : { minute: ', rm :plus', day: ', rd :plus' };
    try {
      await countingDb.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key,
        UpdateExpression: `ADD tm :minus, td :minus${room.minute}${room.day}`,
        ConditionExpression: 'tw = :w',
        ExpressionAttributeValues: { ':minus': -amount, ':w': minute, ...(room.day ? { ':plus': amount } : {}) },
      }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // The item moved to a later minute (its count restarted): only the day still holds them.
      await countingDb.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key,
        UpdateExpression: `ADD td :minus${room.day}`,
        ConditionExpression: 'attribute_exists(td)',
        ExpressionAttributeValues: { ':minus': -amount, ...(room.day ? { ':plus': amount } : {}) },
      })).catch((e: unknown) => {
        if (!isConditionFailed(e)) throw e;
      });
    }
  },

  claimTokenChange: (target, day, token, at) => claimChange({ pk: tokenPartition(target), sk: day }, token, at, 'shard' in target && target.shard !== undefined),

  readTokenShards(organizationId, day) {
    const keys = Array.from({ length: SHARD_COUNT }, (_, shard) => ({ pk: tokenPartition({ organizationId, shard }), sk: day }));
    // Eventually consistent: what it shows only picks which shards to write (a write decides); a
    // key left unprocessed reads as no item, and the hold then tries to write it.
    return batchGet<TokenCounters>(tableName('usage'), keys, { consistent: false });
  },

  async markShort(target, day, mark) {
    return db.send(new UpdateCommand({
      TableName: tableName('usage'),
      Key: { pk: tokenPartition(target), sk: day },
      UpdateExpression: 'SET tf = :tf, tfa = :tfa, tfr = :tfr',
      // Only on a started shard, and never over a mark as new or newer.
      ConditionExpression: 'attribute_exists(tw) AND (attribute_not_exists(tfa) OR tfa < :tfa)',
      ExpressionAttributeValues: { ':tf': mark.tf, ':tfa': mark.tfa, ':tfr': mark.tfr },
    })).then(() => true, (error: unknown) => {
      if (!isConditionFailed(error)) throw error;
      return false;
    });
  },
};

/**
 * Hold tokens in every token window of the subject (its organization's `tokensPerMinute` /
 * `tokensPerDay` and its key's own) before a reply calls its upstream: as many as `want`, at least
 * `atLeast` (default `want`), or none. Throws 429 RATE_LIMIT_EXCEEDED (with `retry_after` and the
 * X-RateLimit-* headers of the token window that refused) when fewer than `atLeast` fit. With no
 * token window, the hold is `want` tokens and writes nothing.
 */
export async function takeTokens(
  subject: Pick<RateSubject, 'organizationId' | 'keyId' | 'orgLimits' | 'keyLimits' | 'orgLimitsVersion'>,
  want: number,
  options: { atLeast?: number; now?: Date; random?: () => number } = {},
): Promise<TokenHold> {
  const now = options.now ?? new Date();
  const take = await holdTokens(tokenStore, subject, want, now, { atLeast: options.atLeast, random: options.random, memory: tokenMemory() });
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

/**
 * A limit change: apply the organization's new token limits (of `version`) to what today's token
 * windows have counted, on every token item of either path (rebaseTokens in
 * shared/limits/tokens.ts). Nothing to do when the organization counted no tokens today (its token
 * item is where every day's counting starts) or has no token limit now.
 */
export async function applyOrgTokenLimits(organizationId: string, version: TokenVersion, now: Date = new Date()): Promise<void> {
  if (version.limits.perMinute === undefined && version.limits.perDay === undefined) return;
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: { pk: tokenPartition({ organizationId }), sk: dayWindow(now).id }, ConsistentRead: true }));
  if (!Item) return;
  await rebaseTokens(tokenStore, organizationId, version, now);
}
