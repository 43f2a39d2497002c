// Chat and voice sessions, and one-shot conversations, in the sessions table (pk `id`).
// A session item carries everything a session request needs besides its key's current state
// (organization, key, limits, bound origin), so the session authenticator reads the session and the
// creating key in one consistent BatchGetItem and nothing else.
// Items stay for SESSION_RETENTION_DAYS after they expire (export, history), then TTL removes them;
// expiry is always judged from `expiresAt` at read time, never left to TTL.
import { BatchGetCommand, type BatchGetCommandInput, type BatchGetCommandOutput, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { KeyType } from '../domain/api-key.ts';
import type { Assistant } from '../domain/assistants.ts';
import { ApiError } from '../domain/errors.ts';
import type { Limits } from '../domain/plans.ts';
import { addDays, epochSeconds, iso } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import type { ApiKeyItem } from '../domain/key-item.ts';
import { conditionalUpdate, db } from './client.ts';

export type SessionType = 'chat' | 'voice' | 'conversation';
export type SessionMetadata = Record<string, string | number | boolean | null>;

export const SESSION_RETENTION_DAYS = 30;

export interface SessionItem {
  id: string;
  organizationId: string;
  keyId: string;
  keyType: KeyType;
  type: SessionType;
  status: 'active' | 'ended';
  /** Publishable-key sessions: the Origin they were created from and are bound to. */
  origin: string | null;
  databaseId: string | null;
  metadata: SessionMetadata | null;
  /** What rate limiting needs, copied from the creating key's identity. */
  orgLimits: Limits;
  keyLimits: Partial<Limits> | null;
  /**
   * The assistant that answers, as it was when the session started: a session keeps it for its
   * whole life (and its messages need no read of it). Absent on items from before assistants.
   */
  assistant?: Assistant;
  createdAt: string;
  expiresAt: string;
  endedAt?: string;
  ttl: number;
}

/** The creating key's fields the session authenticator judges. */
export type SessionKeyState = Pick<
  ApiKeyItem,
  'id' | 'organizationId' | 'type' | 'status' | 'expiresAt' | 'allowedDomains' | 'rateLimit' | 'orgLimits' | 'orgLimitsVersion'
>;

export function retentionTtl(expiresAt: Date): number {
  return epochSeconds(addDays(expiresAt, SESSION_RETENTION_DAYS));
}

export function sessionStatus(item: Pick<SessionItem, 'status' | 'expiresAt'>, now: Date): 'active' | 'ended' | 'expired' {
  if (item.status === 'ended') return 'ended';
  return Date.parse(item.expiresAt) <= now.getTime() ? 'expired' : 'active';
}

export async function putSession(item: SessionItem): Promise<void> {
  await db.send(new PutCommand({ TableName: tableName('sessions'), Item: item, ConditionExpression: 'attribute_not_exists(id)' }));
}

const MAX_BATCH_ATTEMPTS = 3;

/**
 * The session and its creating key, strongly consistent, in one BatchGetItem. Only if DynamoDB
 * leaves keys unprocessed (throttling) is the remainder asked for again.
 */
export async function loadSessionAndKey(
  sessionId: string,
  keyId: string,
): Promise<{ session: SessionItem | undefined; key: SessionKeyState | undefined }> {
  const sessions = tableName('sessions');
  const keys = tableName('apiKeys');
  let request: BatchGetCommandInput['RequestItems'] = {
    [sessions]: { Keys: [{ id: sessionId }], ConsistentRead: true },
    [keys]: {
      Keys: [{ id: keyId }],
      ConsistentRead: true,
      ProjectionExpression: 'id, organizationId, #type, #status, expiresAt, allowedDomains, rateLimit, orgLimits, orgLimitsVersion',
      ExpressionAttributeNames: { '#type': 'type', '#status': 'status' },
    },
  };
  let session: SessionItem | undefined;
  let key: SessionKeyState | undefined;
  for (let attempt = 1; request && Object.keys(request).length > 0; attempt++) {
    if (attempt > MAX_BATCH_ATTEMPTS) {
      throw Object.assign(new Error('BatchGetItem left keys unprocessed'), { name: 'ProvisionedThroughputExceededException' });
    }
    if (attempt > 1) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
    const out: BatchGetCommandOutput = await db.send(new BatchGetCommand({ RequestItems: request }));
    session ??= out.Responses?.[sessions]?.[0] as SessionItem | undefined;
    key ??= out.Responses?.[keys]?.[0] as SessionKeyState | undefined;
    request = out.UnprocessedKeys;
  }
  return { session, key };
}

/** End an active session; SESSION_ENDED if it already was (or expired meanwhile). */
export async function endSession(sessionId: string, now: Date): Promise<void> {
  const updated = await conditionalUpdate({
    TableName: tableName('sessions'),
    Key: { id: sessionId },
    UpdateExpression: 'SET #status = :ended, endedAt = :now',
    ConditionExpression: '#status = :active AND expiresAt > :now',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':ended': 'ended', ':active': 'active', ':now': iso(now) },
  });
  if (!updated) throw new ApiError('SESSION_ENDED');
}

export async function getSessionItem(id: string): Promise<SessionItem | undefined> {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('sessions'), Key: { id }, ConsistentRead: true }));
  return Item as SessionItem | undefined;
}

export interface OrgPage<T> {
  items: T[];
  /** Key of the last item read, to continue after; undefined when the range is exhausted. */
  last: Record<string, unknown> | undefined;
}

/**
 * One page of an organization's items created in [from, to), oldest first, through a table's
 * byOrganization index (sessions and messages both have one keyed organizationId + createdAt).
 */
export async function queryOrganizationRange<T>(
  table: 'sessions' | 'messages',
  organizationId: string,
  from: Date,
  to: Date,
  limit: number,
  start: Record<string, unknown> | undefined,
): Promise<OrgPage<T>> {
  const page = await db.send(
    new QueryCommand({
      TableName: tableName(table),
      IndexName: 'byOrganization',
      KeyConditionExpression: 'organizationId = :o AND createdAt BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':o': organizationId, ':from': iso(from), ':to': iso(new Date(to.getTime() - 1)) },
      ScanIndexForward: true,
      Limit: limit,
      ...(start ? { ExclusiveStartKey: start } : {}),
    }),
  );
  return { items: (page.Items ?? []) as T[], last: page.LastEvaluatedKey };
}
