// An event becomes one delivery message per subscribed webhook of its organization.
import { subscribersOf, type WebhookItem } from '../db/webhooks.ts';
import type { WebhookEvent } from '../domain/webhooks.ts';
import { deliveryQueue, type DeliveryMessage } from './queue.ts';

/** Queue the event for `targets` (default: every webhook of the organization subscribed to its type). */
export async function dispatch(event: WebhookEvent, targets?: WebhookItem[]): Promise<number> {
  const webhooks = targets ?? (await subscribersOf(event.organizationId, event.type));
  if (webhooks.length === 0) return 0;
  const body = JSON.stringify(event);
  const messages: DeliveryMessage[] = webhooks.map((webhook) => ({
    organizationId: event.organizationId,
    webhookId: webhook.id,
    eventId: event.id,
    type: event.type,
    body,
    attempt: 1,
    firstAttemptAt: new Date().toISOString(),
  }));
  await deliveryQueue().send(messages);
  return messages.length;
}
