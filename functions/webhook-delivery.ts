// SQS consumer: one delivery attempt per message, all messages of a batch at once (a receiver that
// never answers holds only its own message, for 10 s). Failed attempts are re-queued by deliver()
// itself; only unexpected errors (DynamoDB or KMS down) are reported as batch item failures, so SQS
// redelivers them and, after five receives, moves them to the dead-letter queue.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { deliver, deliveryDepsFromEnv, logDeliveryError } from '../shared/webhooks/deliver.ts';
import type { DeliveryMessage } from '../shared/webhooks/queue.ts';

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const deps = deliveryDepsFromEnv();
  const results = await Promise.all(
    event.Records.map(async (record) => {
      let message: DeliveryMessage | undefined;
      try {
        message = JSON.parse(record.body) as DeliveryMessage;
        await deliver(message, deps);
        return undefined;
      } catch (error) {
        if (message) logDeliveryError(message, error);
        return { itemIdentifier: record.messageId };
      }
    }),
  );
  return { batchItemFailures: results.filter((r) => r !== undefined) };
}
