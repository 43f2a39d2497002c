// API keys. The partition key is the key id, which is derived from the key's SHA-256 (see
// shared/domain/api-key.ts), so the authorizer resolves a presented key with one consistent GetItem.
// A secret key's plaintext is never stored; a publishable key's is (it is public by design).
// Revoked keys stay as tombstones until TTL removes them, so a revoked key can never resolve again.
// The DynamoDB calls only: the rules (status, views, minting) are in shared/domain/key-*.ts.
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { KeyPrefixes, KeyType } from '../domain/api-key.ts';
import { changesBetween, createdFields, type AuditAction, type AuditContext } from '../domain/audit.ts';
import { ApiError } from '../domain/errors.ts';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import type { ApiKeyItem } from '../domain/key-item.ts';
import { mintKey, replacementOf } from '../domain/key-mint.ts';
import { expiredKeyTtl, keyStatus, revokedKeyTtl, rolledKeyExpiry, type KeyStatus } from '../domain/key-status.ts';
import { keyView } from '../domain/key-view.ts';
import type { Limits } from '../domain/plans.ts';
import { iso } from '../domain/time.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { transactNamingAssistant } from './assistants.ts';
import { auditPut } from './audit-log.ts';
import { conditionalUpdate, db, queryAll, setFieldsUpdate, transactWrite } from './client.ts';

/** The settings an audit entry records for a key (never its plaintext or hash). */
const AUDITED_KEY_FIELDS = ['name', 'type', 'expiresAt', 'allowedDomains', 'databaseId', 'assistantId', 'scopes', 'rateLimit'] as const;

export async function putNewKey(item: ApiKeyItem, audit: AuditContext, now: Date): Promise<void> {
  // The assistant it is pinned to must exist (and a deletion racing this must fail).
  const written = await transactNamingAssistant(item.organizationId, item.assistantId, [
    { Put: { TableName: tableName('apiKeys'), Item: item, ConditionExpression: 'attribute_not_exists(id)' } },
    auditPut(audit, item.organizationId, {
      action: 'api_key.created',
      target: { type: 'api_key', id: item.id },
      changes: createdFields(item, AUDITED_KEY_FIELDS),
    }, now),
  ]);
  if (!written) throw new Error('API key id collision'); // 190 random bits: not expected
}

/** Key ids are `key_` + 24 hex characters (keyIdFromHash); anything else names no key. */
const KEY_ID = /^key_[0-9a-f]{24}$/;

/** NOT_FOUND without a read for a path id no key can have (an oversized one would make DynamoDB refuse the key: a 500). */
function assertKeyId(keyId: string): void {
  if (!KEY_ID.test(keyId)) throw new ApiError('NOT_FOUND', 'API key not found');
}

/** A live (not revoked) key of this organization, or NOT_FOUND. */
export async function requireKey(organizationId: string, keyId: string): Promise<ApiKeyItem> {
  assertKeyId(keyId);
  const { Item } = await db.send(new GetCommand({ TableName: tableName('apiKeys'), Key: { id: keyId }, ConsistentRead: true }));
  const item = Item as ApiKeyItem | undefined;
  if (!item || item.organizationId !== organizationId || item.status === 'revoked') {
    throw new ApiError('NOT_FOUND', 'API key not found');
  }
  return item;
}

export interface KeyListQuery {
  type?: KeyType;
  status?: KeyStatus;
  limit: number;
  cursor?: string;
}

/** The filter for a derived status: `expired` is computed from expiresAt, revoked keys never list. */
function statusFilter(status: KeyStatus | undefined, now: Date): { expression: string; values: Record<string, unknown> } {
  switch (status) {
    case 'active':
    case 'disabled':
      return { expression: '#status = :status AND expiresAt > :now', values: { ':status': status, ':now': iso(now) } };
    case 'expired':
      return { expression: '#status <> :revoked AND expiresAt <= :now', values: { ':revoked': 'revoked', ':now': iso(now) } };
    default:
      return { expression: '#status <> :revoked', values: { ':revoked': 'revoked' } };
  }
}

/** Newest first, through the byOrganization index. Pages may come back short when filtered. */
export async function listKeys(organizationId: string, query: KeyListQuery, now: Date) {
  // Empty strings are refused too: DynamoDB rejects an empty key attribute in ExclusiveStartKey (a 500).
  const start = query.cursor ? decodeCursor(query.cursor, ['id', 'createdAt'], (c) => c.id !== '' && c.createdAt !== '') : undefined;
  const status = statusFilter(query.status, now);
  const filters = [status.expression];
  const values: Record<string, unknown> = { ':o': organizationId, ...status.values };
  if (query.type) {
    filters.push('#type = :type');
    values[':type'] = query.type;
  }
  const page = await db.send(
    new QueryCommand({
      TableName: tableName('apiKeys'),
      IndexName: 'byOrganization',
      KeyConditionExpression: 'organizationId = :o',
      FilterExpression: filters.join(' AND '),
      ExpressionAttributeNames: { '#status': 'status', ...(query.type ? { '#type': 'type' } : {}) },
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
      Limit: query.limit,
      ...(start ? { ExclusiveStartKey: { ...start, organizationId } } : {}),
    }),
  );
  const last = page.LastEvaluatedKey;
  return {
    items: ((page.Items ?? []) as ApiKeyItem[]).map((item) => keyView(item, now)),
    nextCursor: last ? encodeCursor({ id: last.id, createdAt: last.createdAt }) : null,
  };
}

export interface KeyChanges {
  name?: string;
  allowedDomains?: string[];
  status?: 'active' | 'disabled';
  rateLimit?: Partial<Limits> | null;
  assistantId?: string;
}

/** `api_key.disabled` / `api_key.enabled` when the status changes, else `api_key.updated`. */
function patchAction(current: ApiKeyItem, changes: KeyChanges): AuditAction {
  if (changes.status && changes.status !== current.status) return changes.status === 'disabled' ? 'api_key.disabled' : 'api_key.enabled';
  return 'api_key.updated';
}

/** Apply a patch to `current` (as just read), with its audit entry. Returns the key after. */
export async function updateKey(current: ApiKeyItem, changes: KeyChanges, audit: AuditContext, now: Date): Promise<ApiKeyItem> {
  const repinned = changes.assistantId !== current.assistantId ? changes.assistantId : undefined;
  const written = await transactNamingAssistant(current.organizationId, repinned, [
    setFieldsUpdate('apiKeys', { id: current.id }, { ...changes }, {
      condition: 'organizationId = :o AND #status <> :revoked',
      names: { '#status': 'status' },
      values: { ':o': current.organizationId, ':revoked': 'revoked' },
    }),
    auditPut(audit, current.organizationId, {
      action: patchAction(current, changes),
      target: { type: 'api_key', id: current.id },
      changes: changesBetween<ApiKeyItem>(current, changes, ['name', 'allowedDomains', 'status', 'rateLimit', 'assistantId']),
    }, now),
  ]);
  if (!written) throw new ApiError('NOT_FOUND', 'API key not found');
  return requireKey(current.organizationId, current.id);
}

/**
 * Revoke a key as whoever `audit` names (the API passes the portal user, the operator CLI an
 * `operator` actor): permanent and immediate, with its `api_key.revoked` entry in the same
 * transaction. The authorizer's next consistent read sees the tombstone, and every session of the
 * key ends with it (session requests read their key: docs/api.md "Keys"). NOT_FOUND when the
 * key is not a live key of this organization.
 */
export async function revokeKey(
  organizationId: string,
  keyId: string,
  audit: AuditContext,
  now: Date = new Date(),
  /** Why (the operator CLI's --reason): kept on the tombstone and in the entry's changes. */
  reason?: string,
): Promise<void> {
  const current = await requireKey(organizationId, keyId);
  const result = await transactWrite({
    TransactItems: [
      {
        Update: {
          TableName: tableName('apiKeys'),
          Key: { id: keyId },
          // A revoked key gets no expiry notices: it leaves the byNoticeDue index.
          UpdateExpression: `SET #status = :revoked, revokedAt = :now, #ttl = :ttl${reason ? ', revocationReason = :reason' : ''} REMOVE #key, noticeAt, noticeShard`,
          ConditionExpression: 'organizationId = :o AND #status <> :revoked',
          ExpressionAttributeNames: { '#status': 'status', '#ttl': TTL_ATTRIBUTE, '#key': 'key' },
          ExpressionAttributeValues: {
            ':o': organizationId,
            ':revoked': 'revoked',
            ':now': iso(now),
            ':ttl': revokedKeyTtl(now),
            ...(reason ? { ':reason': reason } : {}),
          },
        },
      },
      auditPut(audit, organizationId, {
        action: 'api_key.revoked',
        target: { type: 'api_key', id: keyId },
        changes: [
          { field: 'status', from: keyStatus(current, now), to: 'revoked' },
          ...(reason ? [{ field: 'revocationReason', from: null, to: reason }] : []),
        ],
      }, now),
    ],
  });
  if (!result.ok) throw new ApiError('NOT_FOUND', 'API key not found');
}

/**
 * Roll: a replacement with the same settings, and the old key's expiry brought forward to the end of
 * the grace period (never pushed later). Both land in one transaction or neither does.
 */
export async function rollKey(
  old: ApiKeyItem,
  gracePeriodHours: number,
  createdBy: string,
  prefixes: KeyPrefixes,
  audit: AuditContext,
  now: Date,
): Promise<{ item: ApiKeyItem; plaintext: string }> {
  const minted = mintKey(replacementOf(old, createdBy), prefixes, now);
  const oldExpiry = rolledKeyExpiry(old.expiresAt, gracePeriodHours, now);
  const result = await transactWrite({
    TransactItems: [
      { Put: { TableName: tableName('apiKeys'), Item: minted.item, ConditionExpression: 'attribute_not_exists(id)' } },
      {
        Update: {
          TableName: tableName('apiKeys'),
          Key: { id: old.id },
          // The replaced key's only notice left is api_key.expired, at the end of its grace period.
          UpdateExpression: 'SET expiresAt = :expiresAt, rolledTo = :rolledTo, noticeAt = :expiresAt, #ttl = :ttl',
          ConditionExpression: 'organizationId = :o AND #status <> :revoked',
          ExpressionAttributeNames: { '#status': 'status', '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ':o': old.organizationId,
            ':revoked': 'revoked',
            ':expiresAt': iso(oldExpiry),
            ':rolledTo': minted.item.id,
            ':ttl': expiredKeyTtl(oldExpiry),
          },
        },
      },
      auditPut(audit, old.organizationId, {
        action: 'api_key.rolled',
        target: { type: 'api_key', id: old.id },
        changes: [
          { field: 'expiresAt', from: old.expiresAt, to: iso(oldExpiry) },
          { field: 'rolledTo', from: old.rolledTo ?? null, to: minted.item.id },
        ],
      }, now),
    ],
  });
  if (!result.ok) throw new ApiError('NOT_FOUND', 'API key not found');
  return minted;
}

/**
 * Writes in flight at once while propagating limits. An organization can have thousands of keys;
 * firing them all at once queues them behind the client's socket pool, whose connection timeout
 * starts at the call, so most would fail (docs/limits.md, "Limits of the design").
 */
export const PROPAGATE_CONCURRENCY = 16;

/**
 * Waits before each new round over the keys whose copy failed: a copy is retried for about 12 s
 * (on top of the SDK's own retry) before the change is reported as failed. A key still holding
 * the older copy is decided under the newer limits anyway (the counters carry them), and brought
 * up to date at its next request (repairKeyCopy in shared/db/rate-limits.ts); repeating the PATCH
 * copies again.
 */
export const PROPAGATE_RETRY_MS = [100, 400, 1_600, 3_200, 6_400] as const;

/**
 * After a plan or limits change, copy the organization's limits (and their `version`, the
 * organization's `limitsVersion`) onto each of its keys. Every copy is conditional on the key
 * holding an older version, so copies of two changes can land in any order: each key ends with
 * the newest. Keys whose copy fails are tried again in rounds (PROPAGATE_RETRY_MS); if some still
 * fail, the last error is thrown (the change is stored; repeating it completes the copy).
 */
export async function propagateOrgLimits(organizationId: string, orgLimits: Limits, version: number): Promise<void> {
  const keys = await queryAll<Pick<ApiKeyItem, 'id'>>({
    TableName: tableName('apiKeys'),
    IndexName: 'byOrganization',
    KeyConditionExpression: 'organizationId = :o',
    ExpressionAttributeValues: { ':o': organizationId },
    ProjectionExpression: 'id',
  });
  let pending = keys.map((k) => k.id);
  for (let round = 0; ; round++) {
    const failed: string[] = [];
    let lastError: unknown;
    let next = 0;
    const worker = async () => {
      while (next < pending.length) {
        const keyId = pending[next++]!;
        try {
          await setOrgLimits(keyId, orgLimits, version);
        } catch (error) {
          failed.push(keyId);
          lastError = error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROPAGATE_CONCURRENCY, pending.length) }, worker));
    if (failed.length === 0) return;
    const wait = PROPAGATE_RETRY_MS[round];
    if (wait === undefined) throw lastError;
    await new Promise((resolve) => setTimeout(resolve, wait));
    pending = failed;
  }
}

/**
 * Copy the organization's limits of `version` onto one key, unless the key already holds that
 * version or a newer one (or was deleted meanwhile).
 */
export async function setOrgLimits(keyId: string, orgLimits: Limits, version: number): Promise<void> {
  await updateForward(keyId, 'SET orgLimits = :limits, orgLimitsVersion = :v', ['orgLimitsVersion', ':v'], { ':limits': orgLimits, ':v': version });
}

/**
 * Refresh `lastUsedAt` and `usageCount` after an admitted request. Called on the key's first
 * admitted request of each UTC minute (so lastUsedAt lags by under 60 s and this is not a write per
 * request), with the key's lifetime count at that moment. Counts only move forward: when two
 * refreshes race, the larger count (and its time) wins. A key that no longer exists is left alone.
 */
export async function recordKeyUse(keyId: string, usageCount: number, now: Date): Promise<void> {
  await updateForward(keyId, 'SET lastUsedAt = :now, usageCount = :count', ['usageCount', ':count'], { ':now': iso(now), ':count': usageCount });
}

/**
 * `update` on a key that still exists, only where it moves `field` forward: the key has no `field`
 * yet, or one below `value` (the placeholder `update` sets it to).
 */
function updateForward(keyId: string, update: string, [field, value]: [string, string], values: Record<string, unknown>) {
  return conditionalUpdate({
    TableName: tableName('apiKeys'),
    Key: { id: keyId },
    UpdateExpression: update,
    ConditionExpression: `attribute_exists(id) AND (attribute_not_exists(${field}) OR ${field} < ${value})`,
    ExpressionAttributeValues: values,
  });
}
