// The authorizer's only read: one strongly consistent GetItem on the api-keys table. A bare
// DynamoDBClient (no document client) keeps the authorizer bundle small. No projection: a key item
// is well under 4 KB, so it costs the same 1 RCU whole, and the bench measured the projection
// itself as the largest part of the authorizer's overhead over a bare GetItem.
import { DynamoDBClient, GetItemCommand, type ReturnConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { StoredKey } from '../domain/authorize.ts';
import { tableName } from '../tables.ts';
import { dynamoClientConfig } from './config.ts';

export const keyLookupClient = new DynamoDBClient(dynamoClientConfig());

export async function findStoredKey(
  id: string,
  returnConsumedCapacity: ReturnConsumedCapacity = 'NONE',
): Promise<StoredKey | undefined> {
  const { Item } = await keyLookupClient.send(
    new GetItemCommand({
      TableName: tableName('apiKeys'),
      Key: { id: { S: id } },
      ConsistentRead: true,
      ReturnConsumedCapacity: returnConsumedCapacity,
    }),
  );
  return Item ? (unmarshall(Item) as StoredKey) : undefined;
}
