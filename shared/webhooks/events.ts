// Webhook events from the changes themselves: each DynamoDB stream record of the api-keys and
// organizations tables (new and old image) is turned into the events it means. A revoke, a roll
// and a credit balance crossing a threshold are single writes, so the event exists if and only if
// the change does; expiry notices are the sweep's conditional write of `lastNotice` on the key.
// Event ids derive from the stream record, so a redelivered record gives the same id.
import { createHash } from 'node:crypto';
import { iso } from '../domain/time.ts';
import { LOW_CREDITS, type EventType, type WebhookEvent } from '../domain/webhooks.ts';

export interface StreamChange {
  /** The stream record's id (unique per change, the same when a batch is retried). */
  eventId: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  oldImage?: Record<string, any>;
  newImage?: Record<string, any>;
  at: Date;
}

export type StreamTable = 'apiKeys' | 'organizations';

/** `createdAt` is the change's own time when the item records it, else the stream record's (whole seconds). */
function event(change: StreamChange, type: EventType, organizationId: string, data: Record<string, unknown>, at?: string): WebhookEvent {
  const id = `evt_${createHash('sha256').update(`${change.eventId}:${type}`).digest('hex').slice(0, 24)}`;
  return { id, type, createdAt: at ?? iso(change.at), organizationId, data };
}

function keyEvents(change: StreamChange): WebhookEvent[] {
  const before = change.oldImage;
  const after = change.newImage;
  if (change.eventName !== 'MODIFY' || !before || !after) return [];
  const key = { keyId: after.id, name: after.name, type: after.type };
  const events: WebhookEvent[] = [];
  if (after.status === 'revoked' && before.status !== 'revoked') {
    const revokedAt = after.revokedAt ?? iso(change.at);
    events.push(event(change, 'api_key.revoked', after.organizationId, { ...key, revokedAt }, revokedAt));
  }
  if (after.rolledTo && after.rolledTo !== before.rolledTo) {
    events.push(event(change, 'api_key.rolled', after.organizationId, { ...key, newKeyId: after.rolledTo, expiresAt: after.expiresAt }));
  }
  if (after.lastNotice && after.lastNotice !== before.lastNotice) {
    const [kind, days] = String(after.lastNotice).split(':');
    if (kind === 'expired') events.push(event(change, 'api_key.expired', after.organizationId, { ...key, expiresAt: after.expiresAt }));
    else events.push(event(change, 'api_key.expiring', after.organizationId, { ...key, expiresAt: after.expiresAt, daysBeforeExpiry: Number(days) }));
  }
  return events;
}

/** The settled balance: spendable plus held by replies in progress (a hold that returns moves nothing). */
function settledBalance(image: Record<string, unknown> | undefined): number {
  return Number(image?.credits) + Number(image?.creditsHeld ?? 0);
}

function creditEvents(change: StreamChange): WebhookEvent[] {
  const before = settledBalance(change.oldImage);
  const after = settledBalance(change.newImage);
  if (change.eventName !== 'MODIFY' || !Number.isFinite(before) || !Number.isFinite(after)) return [];
  const organizationId = change.newImage!.id as string;
  const events: WebhookEvent[] = [];
  if (before > LOW_CREDITS && after <= LOW_CREDITS) events.push(event(change, 'credits.low', organizationId, { credits: after, threshold: LOW_CREDITS }));
  if (before > 0 && after <= 0) events.push(event(change, 'credits.exhausted', organizationId, { credits: after }));
  return events;
}

export function eventsFromChange(table: StreamTable, change: StreamChange): WebhookEvent[] {
  return table === 'apiKeys' ? keyEvents(change) : creditEvents(change);
}
