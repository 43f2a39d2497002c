// The triggers of the webhook functions, played for the bundles: the local runtime's stream poller,
// delivery queue and sweep timer (infra/local/webhooks.ts) hand their work to the synthesized
// functions in the events Lambda's event sources would build:
//   a DynamoDB stream batch   -> webhookEvents, a DynamoDBStreamEvent (at most 100 records per invocation,
//                                as the event source mapping's batch size; its filters are not applied,
//                                the function gets every record as the in-process worker does)
//   a queued delivery message -> webhookDelivery, an SQSEvent of that one message (each attempt on its
//                                own, as the in-process queue runs them); a message the function reports
//                                in batchItemFailures goes to the local dead letters at once (SQS would
//                                make 5 receives of it first)
//   the sweep timer           -> expirySweep, the empty event of a Scheduler target without input
import { createHash, randomUUID } from 'node:crypto';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBStreamEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { WebhookWorkers } from '../webhooks.ts';
import { LOCAL_ACCOUNT } from './aws-endpoint.ts';
import type { LambdaFunction } from './lambda-host.ts';

const STREAM_BATCH_SIZE = 100;

export interface BundledWebhookOptions {
  functions: Map<string, LambdaFunction>;
  region: string;
  /** The local name of the deliveries queue (its ARN is the SQS records' eventSourceARN). */
  deliveryQueueName: string;
}

/** A stream record as the DynamoDB Streams API returned it, as Lambda's event carries it (creation time in epoch seconds). */
function streamRecord(record: _Record, streamArn: string, region: string): DynamoDBStreamEvent['Records'][number] {
  const created = record.dynamodb?.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(record.dynamodb as object),
      ...(created ? { ApproximateCreationDateTime: Math.floor(created.getTime() / 1000) } : {}),
    },
  } as DynamoDBStreamEvent['Records'][number];
}

export function bundledWebhookWorkers(options: BundledWebhookOptions): WebhookWorkers {
  const fn = (name: string): LambdaFunction => {
    const found = options.functions.get(name);
    if (!found) throw new Error(`no function "${name}" in the synthesized template`);
    return found;
  };
  const queueArn = `arn:aws:sqs:${options.region}:${LOCAL_ACCOUNT}:${options.deliveryQueueName}`;
  return {
    async deliver(message, queue) {
      const body = JSON.stringify(message);
      const now = String(Date.now());
      const event: SQSEvent = {
        Records: [
          {
            messageId: randomUUID(),
            receiptHandle: randomUUID(),
            body,
            attributes: { ApproximateReceiveCount: '1', SentTimestamp: now, SenderId: LOCAL_ACCOUNT, ApproximateFirstReceiveTimestamp: now },
            messageAttributes: {},
            md5OfBody: createHash('md5').update(body).digest('hex'),
            eventSource: 'aws:sqs',
            eventSourceARN: queueArn,
            awsRegion: options.region,
          },
        ],
      };
      const result = (await fn('webhookDelivery').invoke(event)) as SQSBatchResponse;
      if (result.batchItemFailures.length > 0) await queue.deadLetter(message, 'the delivery function reported it as a batch item failure');
    },
    async handleRecords(_table, streamArn, records) {
      for (let i = 0; i < records.length; i += STREAM_BATCH_SIZE) {
        const batch = records.slice(i, i + STREAM_BATCH_SIZE).map((r) => streamRecord(r, streamArn, options.region));
        await fn('webhookEvents').invoke({ Records: batch } satisfies DynamoDBStreamEvent);
      }
    },
    async sweep(now) {
      if (now) throw new Error('the expirySweep bundle reads the clock: sweep() takes no time in bundled mode');
      return ((await fn('expirySweep').invoke({})) as { notices: number }).notices;
    },
  };
}
