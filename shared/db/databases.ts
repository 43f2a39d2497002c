// Databases an organization owns; publishable keys may be scoped to one, and each may name the
// assistant that answers for it. They share the table's organization partition with its assistants
// (shared/db/assistants.ts): database items are the ids starting `db_`.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { changesBetween, type AuditContext } from '../domain/audit.ts';
import { ApiError, orNotFound } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import { iso } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import { transactNamingAssistant } from './assistants.ts';
import { auditPut } from './audit-log.ts';
import { db, queryAll, transactWrite } from './client.ts';

export const DATABASE_ID_PREFIX = 'db_';

export interface DatabaseItem {
  organizationId: string;
  id: string;
  name: string;
  /** The assistant that answers for this database (absent: the organization's default). */
  assistantId?: string | null;
  createdAt: string;
}

export function databaseView(item: DatabaseItem) {
  return { id: item.id, name: item.name, assistantId: item.assistantId ?? null, createdAt: item.createdAt };
}

export async function createDatabase(
  organizationId: string,
  input: { name: string; assistantId?: string | null },
  audit: AuditContext,
  now: Date,
): Promise<DatabaseItem> {
  const assistantId = input.assistantId ?? null;
  const item: DatabaseItem = { organizationId, id: newId('db'), name: input.name, assistantId, createdAt: iso(now) };
  const written = await transactNamingAssistant(organizationId, assistantId, [
    { Put: { TableName: tableName('databases'), Item: item, ConditionExpression: 'attribute_not_exists(id)' } },
    auditPut(audit, organizationId, {
      action: 'database.created',
      target: { type: 'database', id: item.id },
      changes: [
        { field: 'name', from: null, to: input.name },
        ...(assistantId ? [{ field: 'assistantId', from: null, to: assistantId }] : []),
      ],
    }, now),
  ]);
  if (!written) throw new Error('Database id collision'); // 119 random bits: not expected
  return item;
}

/** Change a database's name and/or assistant, with its `database.updated` entry. */
export async function updateDatabase(
  current: DatabaseItem,
  changes: { name?: string; assistantId?: string | null },
  audit: AuditContext,
  now: Date,
): Promise<DatabaseItem> {
  const next: DatabaseItem = { ...current, ...changes };
  const audited = changesBetween<DatabaseItem>(current, changes, ['name', 'assistantId']);
  if (audited.length === 0) return current;
  const newAssistant = changes.assistantId && changes.assistantId !== current.assistantId ? changes.assistantId : null;
  const written = await transactNamingAssistant(current.organizationId, newAssistant, [
    {
      Put: {
        TableName: tableName('databases'),
        Item: next,
        // Lands only on the database as read (a concurrent change makes this one retry).
        ConditionExpression: '#name = :name AND (attribute_not_exists(assistantId) OR assistantId = :assistant)',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: { ':name': current.name, ':assistant': current.assistantId ?? null },
      },
    },
    auditPut(audit, current.organizationId, {
      action: 'database.updated',
      target: { type: 'database', id: current.id },
      changes: audited,
    }, now),
  ]);
  if (!written) throw new ApiError('CONFLICT', 'The database changed meanwhile, try again');
  return next;
}

export function listDatabases(organizationId: string): Promise<DatabaseItem[]> {
  return queryAll<DatabaseItem>({
    TableName: tableName('databases'),
    KeyConditionExpression: 'organizationId = :o AND begins_with(id, :p)',
    ExpressionAttributeValues: { ':o': organizationId, ':p': DATABASE_ID_PREFIX },
  });
}

export async function getDatabase(organizationId: string, id: string): Promise<DatabaseItem | undefined> {
  // Only `db_` ids are databases (the partition also holds assistants); a longer id names none.
  if (!id.startsWith(DATABASE_ID_PREFIX) || id.length > 64) return undefined;
  const { Item } = await db.send(new GetCommand({ TableName: tableName('databases'), Key: { organizationId, id }, ConsistentRead: true }));
  return Item as DatabaseItem | undefined;
}

export async function requireDatabase(organizationId: string, id: string): Promise<DatabaseItem> {
  return orNotFound(await getDatabase(organizationId, id), 'Database not found');
}

export async function databaseExists(organizationId: string, id: string): Promise<boolean> {
  return (await getDatabase(organizationId, id)) !== undefined;
}
