// Daily usage per organization and per key, in the usage table next to the rate-limit counters.
//
// The organization's day item (pk `usage#org#<orgId>`, sk `YYYY-MM-DD`) is also its rate-limit
// counter (shared/db/rate-limits.ts): the organization's day figures, and its keys' requests in
// maps keyed by key id, written by the same conditional write that admits the request: `kr`
// (admitted today) and `km` (this minute). The maps hold at most MAX_KEYS_PER_ORG_DAY keys, which
// keeps every write on the item at one write unit. (Items of earlier days may also hold `kl` and
// `kc`, refusals and credits per key: still read.)
//
// A key's own day item (pk `usage#key#<keyId>`) holds `base`, the key's lifetime admitted requests
// before that day (written once per key per day; usageCount on the key item is `base` plus the
// day's count), the key's refusals and credits, and, for a key the organization's item has no room
// for, its request counters.
// See docs/limits.md.
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { addDays, utcDay } from '../domain/time.ts';
import type { DailyUsage } from '../domain/usage.ts';
import { usageItemTtl } from '../limits/windows.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { db, isConditionFailed, pages, queryAll } from './client.ts';

/**
 * Keys counted per organization and day in the organization's item (its maps `kr` and `km`). A
 * write is billed by the item's size (1 WCU per KB started), and every request of the org writes
 * this item (a failed conditional write too): at 12 keys, each in both maps with a 28-character id,
 * and every counter at its widest, the item is under 1 KB, so every write on it costs 1 WCU. Keys
 * beyond the bound are counted on their own item (a second, small write).
 */
export const MAX_KEYS_PER_ORG_DAY = 12;

export type UsageScope = { organizationId: string } | { keyId: string };

/** Shard `shard` of a high-volume organization's day counter: `usage#org#<orgId>#<shard>` (shared/limits/sharded.ts). */
export function shardScope(organizationId: string, shard: number): UsageScope {
  return { organizationId: `${organizationId}#${shard}` };
}

/**
 * A key's credits on the high-volume path: `usage#key#<keyId>#credits`, an item of its own so
 * that each reply's credit does not land on the item each of the key's admissions writes
 * (which would halve the rate one key can take).
 */
export function keyCreditsScope(keyId: string): UsageScope {
  return { keyId: `${keyId}#credits` };
}

export function usagePartition(scope: UsageScope): string {
  return 'keyId' in scope ? `usage#key#${scope.keyId}` : `usage#org#${scope.organizationId}`;
}

export function usageKey(scope: UsageScope, day: string): { pk: string; sk: string } {
  return { pk: usagePartition(scope), sk: day };
}

export type { DailyUsage } from '../domain/usage.ts';

/**
 * Replies' tokens per day: a key's on `usage#key#<keyId>#tokens`, the organization's spread over
 * TOKEN_SHARDS items `usage#org#<orgId>#tokens#<n>` (one picked at random per reply), so the
 * organization's day item that every admission writes takes no extra write, and no one item takes
 * every reply of a busy organization. Written in the transaction that stores the turn.
 */
export const TOKEN_SHARDS = 4;

export function keyTokensScope(keyId: string): UsageScope {
  return { keyId: `${keyId}#tokens` };
}

export function orgTokensScope(organizationId: string, shard: number): UsageScope {
  return { organizationId: `${organizationId}#tokens#${shard}` };
}

/** The two updates that add a reply's tokens to its key's and its organization's day. */
export function tokenUsageUpdates(organizationId: string, keyId: string, day: string, tokens: { inputTokens: number; outputTokens: number }, random = Math.random) {
  const shard = Math.floor(random() * TOKEN_SHARDS);
  return [keyTokensScope(keyId), orgTokensScope(organizationId, shard)].map((scope) => ({
    Update: {
      TableName: tableName('usage'),
      Key: usageKey(scope, day),
      UpdateExpression: 'ADD inputTokens :i, outputTokens :o SET #ttl = :ttl',
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':i': tokens.inputTokens, ':o': tokens.outputTokens, ':ttl': usageItemTtl(day) },
    },
  }));
}

export type UsageCounter = 'requests' | 'rateLimited' | 'credits';

/** The per-key map of the organization's item that holds a counter. */
const KEY_MAP: Record<UsageCounter, 'kr' | 'kl' | 'kc'> = { requests: 'kr', rateLimited: 'kl', credits: 'kc' };

type Counts = Partial<Record<UsageCounter | 'inputTokens' | 'outputTokens', number>>;
const SUMMED = ['requests', 'rateLimited', 'credits', 'inputTokens', 'outputTokens'] as const;

function daysQuery(scope: UsageScope, from: string, to: string, projection: string, names?: Record<string, string>) {
  return queryAll<Record<string, unknown>>({
    TableName: tableName('usage'),
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': usagePartition(scope), ':from': from, ':to': to },
    ProjectionExpression: projection,
    ...(names ? { ExpressionAttributeNames: names } : {}),
  });
}

/**
 * The last `days` UTC days, newest first, zero-filled where nothing happened: the organization's,
 * or with `keyId` that key's (its share of the organization's items plus its own items, where it
 * was counted beyond the bound or on the high-volume path, and its credits item there). Reads are billed by whole item size, projections or not.
 */
export async function dailyUsage(scope: { organizationId: string; keyId?: string }, days: number, now: Date): Promise<DailyUsage[]> {
  const from = utcDay(addDays(now, -(days - 1)));
  const to = utcDay(now);
  const byDay = new Map<string, Counts>();
  const add = (day: string, counts: Counts) => {
    const sum = byDay.get(day) ?? {};
    for (const counter of SUMMED) sum[counter] = (sum[counter] ?? 0) + Number(counts[counter] ?? 0);
    byDay.set(day, sum);
  };
  const { organizationId, keyId } = scope;
  if (keyId === undefined) {
    const items = await daysQuery({ organizationId }, from, to, 'sk, requests, rateLimited, credits, shards');
    for (const item of items) add(item.sk as string, item);
    // High-volume days (shared/limits/sharded.ts): the counts are on the organization's shard items.
    const shards = Math.max(0, ...items.map((item) => Number(item.shards ?? 0)));
    const shardItems = await Promise.all(
      Array.from({ length: shards }, (_, i) => daysQuery(shardScope(organizationId, i), from, to, 'sk, requests, rateLimited, credits')),
    );
    for (const item of shardItems.flat()) add(item.sk as string, item);
    const tokenItems = await Promise.all(
      Array.from({ length: TOKEN_SHARDS }, (_, i) => daysQuery(orgTokensScope(organizationId, i), from, to, 'sk, inputTokens, outputTokens')),
    );
    for (const item of tokenItems.flat()) add(item.sk as string, item);
  } else {
    const [shares, own, credits, tokens] = await Promise.all([
      daysQuery({ organizationId }, from, to, 'sk, kr.#k, kl.#k, kc.#k', { '#k': keyId }),
      daysQuery({ keyId }, from, to, 'sk, requests, rateLimited, credits'),
      daysQuery(keyCreditsScope(keyId), from, to, 'sk, credits, rateLimited'),
      daysQuery(keyTokensScope(keyId), from, to, 'sk, inputTokens, outputTokens'),
    ]);
    for (const item of shares) {
      const of = (map: string) => (item[map] as Record<string, number> | undefined)?.[keyId];
      add(item.sk as string, { requests: of('kr'), rateLimited: of('kl'), credits: of('kc') });
    }
    for (const item of [...own, ...credits, ...tokens]) add(item.sk as string, item);
  }
  return Array.from({ length: days }, (_, i) => {
    const date = utcDay(addDays(now, -i));
    const counts = byDay.get(date) ?? {};
    return {
      date,
      requests: counts.requests ?? 0,
      rateLimited: counts.rateLimited ?? 0,
      credits: counts.credits ?? 0,
      inputTokens: counts.inputTokens ?? 0,
      outputTokens: counts.outputTokens ?? 0,
    };
  });
}

/** Add to one counter of one day's usage item (creating it, with its TTL, if need be); the item as it is now. */
export async function addUsage(scope: UsageScope, day: string, counter: UsageCounter, amount: number): Promise<Record<string, unknown>> {
  const { Attributes = {} } = await db.send(
    new UpdateCommand({
      TableName: tableName('usage'),
      Key: usageKey(scope, day),
      UpdateExpression: 'ADD #counter :amount SET #ttl = :ttl',
      ExpressionAttributeNames: { '#counter': counter, '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':amount': amount, ':ttl': usageItemTtl(day) },
      ReturnValues: 'ALL_NEW',
    }),
  );
  return Attributes;
}

/**
 * Count a refusal or credits for the organization and the key on `day`: the organization's total
 * on its day item, and the key's on its own day item (two small writes, at once). The
 * organization's day item holds no per-key refusals or credits: it is the admission counter every
 * request writes, billed by its size, so it keeps only what admission decides on.
 */
export async function addKeyUsage(organizationId: string, keyId: string, day: string, counter: 'rateLimited' | 'credits', amount: number): Promise<void> {
  await Promise.all([addUsage({ organizationId }, day, counter, amount), addUsage({ keyId }, day, counter, amount)]);
}

/** `base` per key and day, once known (it never changes once recorded). */
const knownBase = new Map<string, number>();
const KNOWN_BASE_CAP = 10_000;

/**
 * The key's lifetime admitted requests before `day`. Recorded once on the key's own item for that
 * day (the first writer wins, so concurrent callers agree), derived from the newest earlier day that
 * recorded one: its `base`, plus the key's requests that day (its share of the organization's item
 * and its own item), plus its own items' requests after it (days it was counted beyond the bound).
 * A day with admitted requests always records a base (on the key's first request of each minute
 * until it is recorded), so the walk back stops at the key's previous active day.
 */
export async function keyUsageBase(organizationId: string, keyId: string, day: string): Promise<number> {
  const cacheKey = `${keyId}#${day}`;
  const cached = knownBase.get(cacheKey);
  if (cached !== undefined) return cached;
  const { Item: today } = await db.send(
    new GetCommand({
      TableName: tableName('usage'),
      Key: usageKey({ keyId }, day),
      ProjectionExpression: '#base',
      ExpressionAttributeNames: { '#base': 'base' },
      ConsistentRead: true,
    }),
  );
  if (typeof today?.base === 'number') return rememberBase(cacheKey, today.base);
  const computed = await baseFromHistory(organizationId, keyId, day);
  const { Attributes } = await db.send(
    new UpdateCommand({
      TableName: tableName('usage'),
      Key: usageKey({ keyId }, day),
      UpdateExpression: 'SET #base = if_not_exists(#base, :base), #ttl = :ttl',
      ExpressionAttributeNames: { '#base': 'base', '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':base': computed, ':ttl': usageItemTtl(day) },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return rememberBase(cacheKey, Number(Attributes?.base ?? computed));
}

function rememberBase(cacheKey: string, base: number): number {
  if (knownBase.size >= KNOWN_BASE_CAP) knownBase.clear();
  knownBase.set(cacheKey, base);
  return base;
}

/** The key's lifetime admitted requests before `day`, from the newest earlier day that recorded a base (reads only). */
async function baseFromHistory(organizationId: string, keyId: string, day: string): Promise<number> {
  let sum = 0;
  let base: number | undefined;
  let baseDay: string | undefined;
  const newestFirst = (start: Record<string, unknown> | undefined) =>
    db.send(
      new QueryCommand({
        TableName: tableName('usage'),
        KeyConditionExpression: 'pk = :pk AND sk < :day',
        ExpressionAttributeValues: { ':pk': usagePartition({ keyId }), ':day': day },
        ProjectionExpression: 'sk, requests, #base',
        ExpressionAttributeNames: { '#base': 'base' },
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: 10,
        ExclusiveStartKey: start,
      }),
    );
  for await (const page of pages(newestFirst)) {
    for (const item of page.Items ?? []) {
      sum += Number(item.requests ?? 0);
      if (typeof item.base === 'number') {
        base = item.base;
        baseDay = item.sk as string;
        break;
      }
    }
    if (base !== undefined) break;
  }
  if (baseDay !== undefined) {
    const { Item: share } = await db.send(
      new GetCommand({
        TableName: tableName('usage'),
        Key: usageKey({ organizationId }, baseDay),
        ProjectionExpression: 'kr.#k',
        ExpressionAttributeNames: { '#k': keyId },
        ConsistentRead: true,
      }),
    );
    sum += Number((share?.kr as Record<string, number> | undefined)?.[keyId] ?? 0);
  }
  return (base ?? 0) + sum;
}

/**
 * Each key's lifetime admitted requests, exact as of now (docs/api.md "Rate limits and credits": `usageCount` is
 * exact whenever it is read), computed at read time from what the admission write itself records:
 * today's count (the key's share `kr` of the organization's day item, plus its own day item beyond
 * the bound) and its lifetime before today (`base` on its own day item, or, before today's first
 * request recorded one, derived from history as keyUsageBase does). Reads only: the admission path
 * gains no write. Consistent reads, so a request admitted before the read is counted.
 */
export async function lifetimeRequests(organizationId: string, keyIds: readonly string[], now: Date): Promise<Map<string, number>> {
  const day = utcDay(now);
  const counts = new Map<string, number>();
  if (keyIds.length === 0) return counts;
  const get = (scope: UsageScope, projection: string, names: Record<string, string>) =>
    db
      .send(
        new GetCommand({
          TableName: tableName('usage'),
          Key: usageKey(scope, day),
          ProjectionExpression: projection,
          ExpressionAttributeNames: names,
          ConsistentRead: true,
        }),
      )
      .then((r) => r.Item);
  const [orgDay, ...ownDays] = await Promise.all([
    get({ organizationId }, '#kr', { '#kr': 'kr' }),
    ...keyIds.map((keyId) => get({ keyId }, '#base, #requests', { '#base': 'base', '#requests': 'requests' })),
  ]);
  const shares = (orgDay?.kr ?? {}) as Record<string, number>;
  await Promise.all(
    keyIds.map(async (keyId, i) => {
      const own = ownDays[i];
      const known = knownBase.get(`${keyId}#${day}`);
      const base = typeof own?.base === 'number' ? own.base : (known ?? (await baseFromHistory(organizationId, keyId, day)));
      counts.set(keyId, base + Number(shares[keyId] ?? 0) + Number(own?.requests ?? 0));
    }),
  );
  return counts;
}

/**
 * Key objects with `usageCount` exact as of now (docs/api.md "Rate limits and credits"), for the API and the
 * operator CLI alike: the key item's own copy is refreshed only once a minute per key.
 */
export async function withExactUsage<T extends { id: string; usageCount: number }>(organizationId: string, views: T[], now: Date): Promise<T[]> {
  const counts = await lifetimeRequests(organizationId, views.map((v) => v.id), now);
  return views.map((view) => ({ ...view, usageCount: counts.get(view.id) ?? view.usageCount }));
}
