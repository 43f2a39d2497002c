// The authorizer's only read: one strongly consistent GetItem on the api-keys table, projected to
// the fields it judges. A bare DynamoDBClient (no document client) keeps the authorizer bundle small.
import { DynamoDBClient, GetItemCommand, type ReturnConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { StoredKey } from '../domain/authorize.ts';
import { tableName } from '../tables.ts';
import { dynamoClientConfig } from './config.ts';

export const keyLookupClient = new DynamoDBClient(dynamoClientConfig());

const PROJECTION =
  'id, keyHash, organizationId, #type, #status, expiresAt, allowedDomains, databaseId, scopes, rateLimit, orgLimits';

export async function findStoredKey(
  id: string,
  returnConsumedCapacity: ReturnConsumedCapacity = 'NONE',
): Promise<StoredKey | undefined> {
  const { Item } = await keyLookupClient.send(
    new GetItemCommand({
      TableName: tableName('apiKeys'),
      Key: { id: { S: id } },
      ConsistentRead: true,
      ProjectionExpression: PROJECTION,
      ExpressionAttributeNames: { '#type': 'type', '#status': 'status' },
      ReturnConsumedCapacity: returnConsumedCapacity,
    }),
  );
  return Item ? (unmarshall(Item) as StoredKey) : undefined;
}
