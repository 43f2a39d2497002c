// Where deliveries wait: an SQS queue in AWS (WEBHOOK_QUEUE_URL, with WEBHOOK_DLQ_URL for those that
// used up their 24 hours), an in-process queue in the local runtime (infra/local/webhooks.ts), chosen
// once per process with setDeliveryQueue. The message carries the event's raw body, so every attempt
// sends the same bytes with the same event id.
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

export interface DeliveryMessage {
  organizationId: string;
  webhookId: string;
  eventId: string;
  type: string;
  /** The JSON body exactly as signed and sent. */
  body: string;
  /** 1 for the first attempt. */
  attempt: number;
  firstAttemptAt: string;
  /** Not to be attempted before this time (SQS delays stop at 15 minutes; later retries wait in steps). */
  notBefore?: string;
}

export interface DeliveryQueue {
  send(messages: DeliveryMessage[], delaySeconds?: number): Promise<void>;
  /** Give up on a delivery: it goes to the dead-letter queue (alarmed on) with the reason. */
  deadLetter(message: DeliveryMessage, reason: string): Promise<void>;
}

/** SQS allows at most 15 minutes of delay per message. */
export const MAX_SQS_DELAY_SECONDS = 900;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`Missing environment variable ${name}`);
  return value;
}

export function sqsDeliveryQueue(env: NodeJS.ProcessEnv = process.env, client = new SQSClient({})): DeliveryQueue {
  return {
    async send(messages, delaySeconds = 0) {
      const queueUrl = required(env, 'WEBHOOK_QUEUE_URL');
      for (let i = 0; i < messages.length; i += 10) {
        const batch = messages.slice(i, i + 10);
        const result = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((m, j) => ({
              Id: String(j),
              MessageBody: JSON.stringify(m),
              DelaySeconds: Math.min(MAX_SQS_DELAY_SECONDS, Math.ceil(delaySeconds)),
            })),
          }),
        );
        if (result.Failed?.length) throw new Error(`SQS refused ${result.Failed.length} delivery message(s)`);
      }
    },
    async deadLetter(message, reason) {
      await client.send(
        new SendMessageCommand({ QueueUrl: required(env, 'WEBHOOK_DLQ_URL'), MessageBody: JSON.stringify({ ...message, reason }) }),
      );
    },
  };
}

let current: DeliveryQueue | undefined;

export function setDeliveryQueue(queue: DeliveryQueue | undefined): void {
  current = queue;
}

export function deliveryQueue(): DeliveryQueue {
  return (current ??= sqsDeliveryQueue());
}
