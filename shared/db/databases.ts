// Databases an organization owns; publishable keys may be scoped to one.
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { newId } from '../domain/ids.ts';
import { iso } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import { db, queryAll } from './client.ts';

export interface DatabaseItem {
  organizationId: string;
  id: string;
  name: string;
  createdAt: string;
}

export function databaseView(item: DatabaseItem) {
  return { id: item.id, name: item.name, createdAt: item.createdAt };
}

export async function createDatabase(organizationId: string, name: string, now: Date): Promise<DatabaseItem> {
  const item: DatabaseItem = { organizationId, id: newId('db'), name, createdAt: iso(now) };
  await db.send(new PutCommand({ TableName: tableName('databases'), Item: item, ConditionExpression: 'attribute_not_exists(id)' }));
  return item;
}

export function listDatabases(organizationId: string): Promise<DatabaseItem[]> {
  return queryAll<DatabaseItem>({
    TableName: tableName('databases'),
    KeyConditionExpression: 'organizationId = :o',
    ExpressionAttributeValues: { ':o': organizationId },
  });
}

export async function databaseExists(organizationId: string, id: string): Promise<boolean> {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('databases'), Key: { organizationId, id } }));
  return Item !== undefined;
}
