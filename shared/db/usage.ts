// Daily usage per organization and per key, kept in the usage table next to the rate-limit
// counters: pk `usage#org#<orgId>` or `usage#key#<keyId>`, sk `YYYY-MM-DD`.
//
// The organization's day item is also its rate-limit counter (shared/db/rate-limits.ts): its
// `requests` is the day window's count and it carries the current minute window. The key's day item
// is written once per admitted request (`requests`) and carries `lm` (the last minute the key was
// seen, which tells the first request of each minute) and `base` (the key's lifetime request count
// before that day, from which `usageCount` on the key item is maintained). See docs/limits.md.
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { addDays, utcDay } from '../domain/time.ts';
import { usageItemTtl } from '../limits/windows.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { db } from './client.ts';

export type UsageScope = { organizationId: string } | { keyId: string };

export function usagePartition(scope: UsageScope): string {
  return 'keyId' in scope ? `usage#key#${scope.keyId}` : `usage#org#${scope.organizationId}`;
}

export function usageKey(scope: UsageScope, day: string): { pk: string; sk: string } {
  return { pk: usagePartition(scope), sk: day };
}

export interface DailyUsage {
  date: string;
  requests: number;
  rateLimited: number;
  credits: number;
}

export type UsageCounter = 'requests' | 'rateLimited' | 'credits';

/** The last `days` UTC days, newest first, zero-filled where nothing happened. */
export async function dailyUsage(scope: UsageScope, days: number, now: Date): Promise<DailyUsage[]> {
  const from = utcDay(addDays(now, -(days - 1)));
  const { Items = [] } = await db.send(
    new QueryCommand({
      TableName: tableName('usage'),
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': usagePartition(scope), ':from': from, ':to': utcDay(now) },
      ScanIndexForward: false,
    }),
  );
  const byDay = new Map(Items.map((item) => [item.sk as string, item]));
  return Array.from({ length: days }, (_, i) => {
    const date = utcDay(addDays(now, -i));
    const item = byDay.get(date);
    return {
      date,
      requests: Number(item?.requests ?? 0),
      rateLimited: Number(item?.rateLimited ?? 0),
      credits: Number(item?.credits ?? 0),
    };
  });
}

/** Add to one counter of one day's usage item (creating it, with its TTL, if need be). */
export async function addUsage(scope: UsageScope, day: string, counter: UsageCounter, amount: number): Promise<void> {
  await db.send(
    new UpdateCommand({
      TableName: tableName('usage'),
      Key: usageKey(scope, day),
      UpdateExpression: 'ADD #counter :amount SET #ttl = :ttl',
      ExpressionAttributeNames: { '#counter': counter, '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':amount': amount, ':ttl': usageItemTtl(day) },
    }),
  );
}

/** Count one counter on the organization's and the key's day items at once (two writes in parallel). */
export async function addOrgAndKeyUsage(
  organizationId: string,
  keyId: string,
  day: string,
  counter: UsageCounter,
  amount: number,
): Promise<void> {
  await Promise.all([addUsage({ organizationId }, day, counter, amount), addUsage({ keyId }, day, counter, amount)]);
}

export interface KeyRequestCount {
  /** The key's admitted requests that day, this one included. */
  requests: number;
  /** This is the key's first admitted request in this minute window (time to refresh lastUsedAt). */
  firstInMinute: boolean;
  /** The key's lifetime requests before that day, if already recorded on the day item. */
  base: number | undefined;
}

/** Count an admitted request on the key's day item: one UpdateItem. */
export async function countKeyRequest(keyId: string, day: string, minuteId: string): Promise<KeyRequestCount> {
  const { Attributes: old = {} } = await db.send(
    new UpdateCommand({
      TableName: tableName('usage'),
      Key: usageKey({ keyId }, day),
      UpdateExpression: 'ADD requests :one SET lm = :minute, #ttl = :ttl',
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':one': 1, ':minute': minuteId, ':ttl': usageItemTtl(day) },
      ReturnValues: 'ALL_OLD',
    }),
  );
  return {
    requests: Number(old.requests ?? 0) + 1,
    firstInMinute: old.lm !== minuteId,
    base: typeof old.base === 'number' ? old.base : undefined,
  };
}

/**
 * The key's lifetime admitted requests before `day`, recorded once on that day's item (the first
 * writer wins, so concurrent callers agree). Derived from the newest earlier day item: its `base`
 * plus its `requests`, walking back over days that recorded no base (only 429s or credits).
 */
export async function keyUsageBase(keyId: string, day: string): Promise<number> {
  let sum = 0;
  let base: number | undefined;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: tableName('usage'),
        KeyConditionExpression: 'pk = :pk AND sk < :day',
        ExpressionAttributeValues: { ':pk': usagePartition({ keyId }), ':day': day },
        ProjectionExpression: 'requests, #base',
        ExpressionAttributeNames: { '#base': 'base' },
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: 10,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      sum += Number(item.requests ?? 0);
      if (typeof item.base === 'number') {
        base = item.base;
        break;
      }
    }
    start = base === undefined ? page.LastEvaluatedKey : undefined;
  } while (start);
  const computed = (base ?? 0) + sum;
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
  return Number(Attributes?.base ?? computed);
}
