// Databases an organization owns; publishable keys may be scoped to one.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditContext } from '../domain/audit.ts';
import { newId } from '../domain/ids.ts';
import { iso } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import { auditPut } from './audit-log.ts';
import { db, queryAll, transactWrite } from './client.ts';

export interface DatabaseItem {
  organizationId: string;
  id: string;
  name: string;
  createdAt: string;
}

export function databaseView(item: DatabaseItem) {
  return { id: item.id, name: item.name, createdAt: item.createdAt };
}

export async function createDatabase(organizationId: string, name: string, audit: AuditContext, now: Date): Promise<DatabaseItem> {
  const item: DatabaseItem = { organizationId, id: newId('db'), name, createdAt: iso(now) };
  const result = await transactWrite({
    TransactItems: [
      { Put: { TableName: tableName('databases'), Item: item, ConditionExpression: 'attribute_not_exists(id)' } },
      auditPut(audit, organizationId, {
        action: 'database.created',
        target: { type: 'database', id: item.id },
        changes: [{ field: 'name', from: null, to: name }],
      }, now),
    ],
  });
  if (!result.ok) throw new Error('Database id collision'); // 119 random bits: not expected
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
