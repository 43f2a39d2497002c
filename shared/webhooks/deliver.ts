// One delivery attempt of one event to one webhook, as the delivery function (SQS) and the local
// runtime run it: sign the stored body with a fresh timestamp, POST it, and on anything but a 2xx
// within 10 s put it back on the queue for the next attempt of the schedule (docs/api.md
// "Webhooks"), or dead-letter it once the 24 hours are used up. The event id and body never change.
import { getWebhook } from '../db/webhooks.ts';
import { iso } from '../domain/time.ts';
import { RETRY_WINDOW_MS, retryDelaySeconds, SIGNATURE_HEADER, signatureHeader } from '../domain/webhooks.ts';
import { urlPolicyFromEnv, type UrlPolicy } from '../domain/webhook-urls.ts';
import { describeError, logger } from '../log.ts';
import { recordWebhookDelivery } from '../metrics/emit.ts';
import { postJson, type Resolver } from './http-post.ts';
import { deliveryQueue, MAX_SQS_DELAY_SECONDS, type DeliveryMessage, type DeliveryQueue } from './queue.ts';
import { openSecret } from './secret-box.ts';

export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead_lettered' | 'dropped' | 'deferred';

export interface DeliveryDeps {
  queue: DeliveryQueue;
  now: () => Date;
  policy: UrlPolicy;
  /** Local runtime and tests: wait this fraction of each retry delay (the schedule itself is unchanged). */
  delayScale: number;
  resolve?: Resolver;
  timeoutMs?: number;
  random?: () => number;
}

export function deliveryDepsFromEnv(env: NodeJS.ProcessEnv = process.env): DeliveryDeps {
  return { queue: deliveryQueue(), now: () => new Date(), policy: urlPolicyFromEnv(env), delayScale: Number(env.WEBHOOK_RETRY_SCALE ?? 1) };
}

/** Decrypted secrets, briefly: a warm delivery function does not call KMS for every attempt. */
const secrets = new Map<string, { secret: string; until: number }>();
const SECRET_CACHE_MS = 5 * 60_000;

async function signingSecret(organizationId: string, webhookId: string, sealed: string): Promise<string> {
  const key = `${organizationId}/${webhookId}`;
  const cached = secrets.get(key);
  if (cached && cached.until > Date.now()) return cached.secret;
  const secret = await openSecret(sealed, { organizationId, webhookId });
  secrets.set(key, { secret, until: Date.now() + SECRET_CACHE_MS });
  return secret;
}

export async function deliver(message: DeliveryMessage, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const now = deps.now();
  const wait = message.notBefore ? Date.parse(message.notBefore) - now.getTime() : 0;
  if (wait > 0) {
    // Arrived early (retries past SQS's 15-minute delay wait in steps).
    await deps.queue.send([message], Math.min(MAX_SQS_DELAY_SECONDS, (wait / 1000) * deps.delayScale));
    return 'deferred';
  }
  const webhook = await getWebhook(message.organizationId, message.webhookId);
  if (!webhook) return 'dropped'; // deleted meanwhile: nothing to deliver to
  const log = { eventId: message.eventId, webhookId: message.webhookId, attempt: message.attempt };
  let failure: string;
  try {
    const secret = await signingSecret(webhook.organizationId, webhook.id, webhook.secretCiphertext);
    const status = await postJson(webhook.url, message.body, { [SIGNATURE_HEADER]: signatureHeader(secret, message.body, now) }, {
      policy: deps.policy,
      ...(deps.resolve ? { resolve: deps.resolve } : {}),
      ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
    });
    if (status >= 200 && status < 300) {
      recordWebhookDelivery('delivered');
      return 'delivered';
    }
    failure = `status ${status}`;
  } catch (error) {
    failure = describeError(error).name; // never the URL or the secret
  }
  recordWebhookDelivery('failed');
  const delay = retryDelaySeconds(message.attempt, deps.random);
  const nextAt = now.getTime() + delay * 1000;
  if (nextAt - Date.parse(message.firstAttemptAt) > RETRY_WINDOW_MS) {
    logger.warn('webhook delivery dead-lettered', { ...log, failure });
    await deps.queue.deadLetter(message, failure);
    recordWebhookDelivery('dead_lettered');
    return 'dead_lettered';
  }
  logger.info('webhook delivery failed, retrying', { ...log, failure, retryInSeconds: delay });
  await deps.queue.send(
    [{ ...message, attempt: message.attempt + 1, notBefore: iso(new Date(now.getTime() + delay * 1000 * deps.delayScale)) }],
    Math.min(MAX_SQS_DELAY_SECONDS, delay * deps.delayScale),
  );
  return 'retrying';
}

export function logDeliveryError(message: DeliveryMessage, error: unknown): void {
  logger.error('webhook delivery error', { eventId: message.eventId, webhookId: message.webhookId, error: describeError(error) });
}
