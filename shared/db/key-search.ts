// Reads for the operator CLI (cli/keygate.ts): any key by id whatever its status, keys by display
// prefix through the byDisplayKey index (keys only, so a bounded Query plus one GetItem per match,
// never a Scan), and an organization's keys counted by type and status.
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { KeyType } from '../domain/api-key.ts';
import { tableName } from '../tables.ts';
import { keyStatus } from '../domain/key-status.ts';
import type { ApiKeyItem } from '../domain/key-item.ts';
import { db, queryAll } from './client.ts';

/** The key item by id, revoked tombstones included (consistent, like the authorizer's read). */
export async function getKeyItem(keyId: string): Promise<ApiKeyItem | undefined> {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('apiKeys'), Key: { id: keyId }, ConsistentRead: true }));
  return Item as ApiKeyItem | undefined;
}

/** At most this many keys are read for one display prefix; more means the prefix cannot tell them apart. */
export const DISPLAY_MATCH_LIMIT = 20;

/** Keys whose display key is exactly `displayKey`, at most DISPLAY_MATCH_LIMIT (and whether there are more). */
export async function findByDisplayKey(displayKey: string): Promise<{ items: ApiKeyItem[]; more: boolean }> {
  const page = await db.send(
    new QueryCommand({
      TableName: tableName('apiKeys'),
      IndexName: 'byDisplayKey',
      KeyConditionExpression: 'displayKey = :d',
      ExpressionAttributeValues: { ':d': displayKey },
      Limit: DISPLAY_MATCH_LIMIT,
    }),
  );
  const ids = (page.Items ?? []).map((item) => item.id as string);
  const items = (await Promise.all(ids.map(getKeyItem))).filter((item): item is ApiKeyItem => item !== undefined);
  return { items, more: page.LastEvaluatedKey !== undefined };
}

export type KeyCounts = Record<KeyType, Record<ReturnType<typeof keyStatus>, number>>;

/** An organization's keys by type and status (one Query of the byOrganization index, projected). */
export async function countKeys(organizationId: string, now: Date): Promise<KeyCounts> {
  const zero = () => ({ active: 0, disabled: 0, expired: 0, revoked: 0 });
  const counts: KeyCounts = { secret: zero(), publishable: zero() };
  const items = await queryAll<Pick<ApiKeyItem, 'type' | 'status' | 'expiresAt'>>({
    TableName: tableName('apiKeys'),
    IndexName: 'byOrganization',
    KeyConditionExpression: 'organizationId = :o',
    ExpressionAttributeValues: { ':o': organizationId },
    ProjectionExpression: '#type, #status, expiresAt',
    ExpressionAttributeNames: { '#type': 'type', '#status': 'status' },
  });
  for (const item of items) counts[item.type][keyStatus(item, now)] += 1;
  return counts;
}
