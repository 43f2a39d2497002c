// The audit log table (README "Tables"). Every management change adds one entry through `auditPut`,
// an item of the change's own TransactWriteItems: the change and its entry land together or not at
// all. Entries are only ever put, never updated or deleted (TTL removes them after 400 days).
//
// Keys: organizationId (partition) and a time-ordered id (`aud_` + 10 base36 digits of the epoch
// milliseconds + 10 random characters), so one Query reads an organization's entries newest first
// and a time range is a key condition. The byTarget index (`<orgId>#<targetId>`, id) serves the
// targetId filter the same way; `action` is a filter on top.
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import {
  assertNoSecrets,
  AUDIT_RETENTION_DAYS,
  type AuditActor,
  type AuditAction,
  type AuditChange,
  type AuditContext,
  type AuditRecord,
  type AuditTarget,
} from '../domain/audit.ts';
import { timeOrderedId } from '../domain/ids.ts';
import { addDays, epochSeconds, iso } from '../domain/time.ts';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { db } from './client.ts';

export interface AuditEntryItem {
  organizationId: string;
  id: string;
  action: AuditAction;
  actor: AuditActor;
  target: AuditTarget;
  targetKey: string;
  occurredAt: string;
  requestId: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  changes: AuditChange[];
  ttl: number;
}

const targetKey = (organizationId: string, targetId: string) => `${organizationId}#${targetId}`;

export function auditEntry(context: AuditContext, organizationId: string, record: AuditRecord, now: Date): AuditEntryItem {
  assertNoSecrets(record.changes);
  return {
    organizationId,
    id: timeOrderedId('aud', now),
    action: record.action,
    actor: context.actor,
    target: record.target,
    targetKey: targetKey(organizationId, record.target.id),
    occurredAt: iso(now),
    requestId: context.requestId,
    sourceIp: context.sourceIp,
    userAgent: context.userAgent,
    changes: record.changes,
    [TTL_ATTRIBUTE]: epochSeconds(addDays(now, AUDIT_RETENTION_DAYS)),
  };
}

/** The entry for a change, as one item of that change's TransactWriteItems. */
export function auditPut(context: AuditContext, organizationId: string, record: AuditRecord, now: Date) {
  return {
    Put: {
      TableName: tableName('auditLog'),
      Item: auditEntry(context, organizationId, record, now),
      ConditionExpression: 'attribute_not_exists(id)',
    },
  };
}

export function auditView(item: AuditEntryItem) {
  return {
    id: item.id,
    action: item.action,
    actor: item.actor,
    target: item.target,
    occurredAt: item.occurredAt,
    requestId: item.requestId,
    sourceIp: item.sourceIp,
    userAgent: item.userAgent,
    changes: item.changes,
  };
}

export interface AuditQuery {
  limit: number;
  cursor?: string;
  action?: AuditAction;
  targetId?: string;
  from?: Date;
  to?: Date;
}

/** The smallest id an entry made at `date` can have (no real id equals it: ids are longer). */
const idBound = (date: Date) => `aud_${date.getTime().toString(36).padStart(10, '0')}`;
const AUDIT_ID = /^aud_[0-9a-z]{10}[0-9A-Za-z]{10}$/;
/** Sorts after every audit id. */
const AFTER_ALL_IDS = 'aud_~';
/** Queries a page may take when the action filter drops items (a page can then come back short). */
const MAX_ROUNDS = 5;

/** Newest first; `from` inclusive, `to` exclusive; the cursor is the last id returned. */
export async function listAuditLog(organizationId: string, query: AuditQuery) {
  const cursorId = query.cursor ? decodeCursor(query.cursor, ['id'], (c) => AUDIT_ID.test(c.id)).id : undefined;
  const low = query.from ? idBound(query.from) : 'aud_';
  // BETWEEN is inclusive: the cursor's own entry comes back first and is dropped below.
  const high = cursorId ?? (query.to ? idBound(query.to) : AFTER_ALL_IDS);
  const byTarget = query.targetId !== undefined;
  const input: QueryCommandInput = {
    TableName: tableName('auditLog'),
    ...(byTarget ? { IndexName: 'byTarget' } : {}),
    KeyConditionExpression: `${byTarget ? 'targetKey = :p' : 'organizationId = :p'} AND id BETWEEN :low AND :high`,
    ExpressionAttributeValues: {
      ':p': byTarget ? targetKey(organizationId, query.targetId!) : organizationId,
      ':low': low,
      ':high': high,
      ...(query.action ? { ':action': query.action } : {}),
    },
    ...(query.action ? { FilterExpression: '#action = :action', ExpressionAttributeNames: { '#action': 'action' } } : {}),
    ScanIndexForward: false,
  };
  const items: AuditEntryItem[] = [];
  let start: Record<string, unknown> | undefined;
  let more = false;
  for (let round = 0; round < MAX_ROUNDS && items.length < query.limit; round++) {
    const page = await db.send(
      new QueryCommand({ ...input, Limit: query.limit - items.length + 1, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    for (const item of (page.Items ?? []) as AuditEntryItem[]) {
      if (item.id === cursorId) continue;
      if (items.length === query.limit) {
        more = true;
        break;
      }
      items.push(item);
    }
    start = page.LastEvaluatedKey;
    if (more || !start) break;
  }
  more ||= start !== undefined;
  // A short page (the action filter dropped many entries) continues below the last id evaluated.
  const lastId = items.length === query.limit ? items[items.length - 1]!.id : (start?.id as string | undefined);
  return { items: items.map(auditView), nextCursor: more && lastId ? encodeCursor({ id: lastId }) : null };
}
