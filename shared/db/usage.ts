// Daily usage per organization and per key, kept in the usage table next to the rate-limit
// counters: pk `usage#org#<orgId>` or `usage#key#<keyId>`, sk `YYYY-MM-DD`.
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { addDays, utcDay } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import { db } from './client.ts';

export type UsageScope = { organizationId: string } | { keyId: string };

export function usagePartition(scope: UsageScope): string {
  return 'keyId' in scope ? `usage#key#${scope.keyId}` : `usage#org#${scope.organizationId}`;
}

export interface DailyUsage {
  date: string;
  requests: number;
  rateLimited: number;
  credits: number;
}

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
