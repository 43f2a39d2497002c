// Webhook endpoints (README "Tables"): organizationId × id, with the URL, the subscribed events and
// the signing secret as ciphertext only (shared/webhooks/secret-box.ts). The organization item
// counts its webhooks (`webhookCount`), so "at most 10" is one condition in the creating transaction.
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditContext } from '../domain/audit.ts';
import { randomBase62 } from '../domain/api-key.ts';
import { ApiError, orNotFound, retryLaterError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import { iso } from '../domain/time.ts';
import { MAX_WEBHOOKS_PER_ORG, SECRET_PREFIX, type DeliveryType, type EventType } from '../domain/webhooks.ts';
import { tableName } from '../tables.ts';
import { sealSecret } from '../webhooks/secret-box.ts';
import { auditPut } from './audit-log.ts';
import { db, isConditionFailed, queryAll, transactUpdate, transactWrite } from './client.ts';

export interface WebhookItem {
  organizationId: string;
  id: string;
  url: string;
  events: EventType[];
  createdAt: string;
  createdBy: string;
  secretCiphertext: string;
  /** When the test route last sent a ping (at most one a minute). */
  lastTestAt?: string;
}

export function webhookView(item: WebhookItem) {
  return { id: item.id, url: item.url, events: item.events, createdAt: item.createdAt };
}

const WEBHOOK_ID = /^wh_[0-9A-Za-z]{20}$/;

/** Create a webhook and its audit entry; the plaintext secret is returned once and stored sealed. */
export async function createWebhook(
  organizationId: string,
  input: { url: string; events: EventType[] },
  audit: AuditContext,
  now: Date,
): Promise<{ item: WebhookItem; secret: string }> {
  const id = newId('wh');
  const secret = `${SECRET_PREFIX}${randomBase62(32)}`;
  const item: WebhookItem = {
    organizationId,
    id,
    url: input.url,
    events: input.events,
    createdAt: iso(now),
    createdBy: audit.actor.id,
    secretCiphertext: await sealSecret(secret, { organizationId, webhookId: id }),
  };
  const result = await transactWrite({
    TransactItems: [
      transactUpdate(
        'organizations',
        { id: organizationId },
        'ADD webhookCount :one',
        'attribute_exists(id) AND (attribute_not_exists(webhookCount) OR webhookCount < :max)',
        { ':one': 1, ':max': MAX_WEBHOOKS_PER_ORG },
      ),
      { Put: { TableName: tableName('webhooks'), Item: item, ConditionExpression: 'attribute_not_exists(id)' } },
      auditPut(audit, organizationId, {
        action: 'webhook.created',
        target: { type: 'webhook', id },
        changes: [
          { field: 'url', from: null, to: item.url },
          { field: 'events', from: null, to: item.events },
        ],
      }, now),
    ],
  });
  if (!result.ok) {
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') {
      throw new ApiError('CONFLICT', `An organization can have at most ${MAX_WEBHOOKS_PER_ORG} webhooks`);
    }
    throw new Error('Webhook id collision'); // 119 random bits: not expected
  }
  return { item, secret };
}

export function listWebhooks(organizationId: string): Promise<WebhookItem[]> {
  return queryAll<WebhookItem>({
    TableName: tableName('webhooks'),
    KeyConditionExpression: 'organizationId = :o',
    ExpressionAttributeValues: { ':o': organizationId },
  });
}

export async function getWebhook(organizationId: string, id: string): Promise<WebhookItem | undefined> {
  if (!WEBHOOK_ID.test(id)) return undefined;
  const { Item } = await db.send(new GetCommand({ TableName: tableName('webhooks'), Key: { organizationId, id }, ConsistentRead: true }));
  return Item as WebhookItem | undefined;
}

export async function requireWebhook(organizationId: string, id: string): Promise<WebhookItem> {
  return orNotFound(await getWebhook(organizationId, id), 'Webhook not found');
}

export async function deleteWebhook(organizationId: string, id: string, audit: AuditContext, now: Date): Promise<void> {
  const current = await requireWebhook(organizationId, id);
  const result = await transactWrite({
    TransactItems: [
      { Delete: { TableName: tableName('webhooks'), Key: { organizationId, id }, ConditionExpression: 'attribute_exists(id)' } },
      transactUpdate('organizations', { id: organizationId }, 'ADD webhookCount :minus', 'attribute_exists(id)', { ':minus': -1 }),
      auditPut(audit, organizationId, {
        action: 'webhook.deleted',
        target: { type: 'webhook', id },
        changes: [
          { field: 'url', from: current.url, to: null },
          { field: 'events', from: current.events, to: null },
        ],
      }, now),
    ],
  });
  if (!result.ok) throw new ApiError('NOT_FOUND', 'Webhook not found');
}

/** The organization's webhooks that want this event (`ping` goes only where the test route sends it). */
export async function subscribersOf(organizationId: string, type: DeliveryType): Promise<WebhookItem[]> {
  const all = await listWebhooks(organizationId);
  return all.filter((w) => (w.events as DeliveryType[]).includes(type));
}

/** A webhook's test route sends at most one ping per this many milliseconds (docs/api.md "Webhooks"). */
export const TEST_INTERVAL_MS = 60_000;

/**
 * Claim this webhook's test for now: one conditional write of `lastTestAt`, refused (429 with the
 * seconds left) while the previous test is less than a minute old, so concurrent tests send one ping.
 */
export async function claimTest(organizationId: string, id: string, now: Date): Promise<WebhookItem> {
  if (!WEBHOOK_ID.test(id)) throw new ApiError('NOT_FOUND', 'Webhook not found');
  try {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: tableName('webhooks'),
        Key: { organizationId, id },
        UpdateExpression: 'SET lastTestAt = :now',
        ConditionExpression: 'attribute_exists(id) AND (attribute_not_exists(lastTestAt) OR lastTestAt <= :since)',
        ExpressionAttributeValues: { ':now': iso(now), ':since': iso(new Date(now.getTime() - TEST_INTERVAL_MS)) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes as WebhookItem;
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
  const current = await requireWebhook(organizationId, id);
  const last = Date.parse(current.lastTestAt ?? '');
  throw retryLaterError(Number.isNaN(last) ? 1 : (last + TEST_INTERVAL_MS - now.getTime()) / 1000);
}
