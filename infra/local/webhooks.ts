// Webhooks in the local runtime, running the code the Lambda functions run:
// - a poller on the DynamoDB Local streams of api-keys and organizations feeds the stream worker
//   (what the stream-triggered function does in AWS);
// - an in-process delivery queue stands in for SQS: each message is a timer, every attempt runs on
//   its own (a receiver that never answers holds only its own attempt), dead letters are kept in
//   memory and logged;
// - the expiry sweep runs on a timer (every minute; WEBHOOK_SWEEP_INTERVAL_MS) and on demand.
// The workers are the sources in this process by default; with --bundled they are the synthesized
// webhookEvents, webhookDelivery and expirySweep bundles (bundles/event-sources.ts), which reach
// this queue through the local SQS endpoint (bundles/aws-endpoint.ts).
import { DescribeTableCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { describeError, logger } from '../../shared/log.ts';
import { physicalTableName, TABLES } from '../../shared/tables.ts';
import { deliver, deliveryDepsFromEnv, logDeliveryError } from '../../shared/webhooks/deliver.ts';
import type { StreamChange, StreamTable } from '../../shared/webhooks/events.ts';
import { setDeliveryQueue, type DeliveryMessage, type DeliveryQueue } from '../../shared/webhooks/queue.ts';
import { matchesAny } from '../../shared/webhooks/event-pattern.ts';
import { handleChanges } from '../../shared/webhooks/stream.ts';
import { STREAM_FILTERS } from '../../shared/webhooks/stream-filters.ts';
import { sweepExpiringKeys } from '../../shared/webhooks/sweep.ts';

const STREAM_POLL_MS = 250;
const STREAM_TABLES: StreamTable[] = ['apiKeys', 'organizations'];

export interface LocalWebhooks {
  /** Run the expiry sweep now (time injectable for tests); resolves with the notices recorded. */
  sweep(now?: Date): Promise<number>;
  /** The local stand-in for the delivery queue (SQS) and its dead-letter queue. */
  queue: DeliveryQueue;
  /** Deliveries given up after their 24 hours (in memory). */
  deadLetters: { message: DeliveryMessage; reason: string }[];
  stop(): Promise<void>;
}

/** What the three webhook functions do with what their triggers hand them. */
export interface WebhookWorkers {
  /** The delivery function: one attempt of one queued message. */
  deliver(message: DeliveryMessage, queue: DeliveryQueue): Promise<void>;
  /** The stream function: a batch of one table's stream records. */
  handleRecords(table: StreamTable, streamArn: string, records: _Record[]): Promise<void>;
  /** The scheduled sweep (with an injected time only in process: a bundle reads the clock). */
  sweep(now?: Date): Promise<number>;
}

/** The workers as the sources, in this process. */
export const inProcessWorkers: WebhookWorkers = {
  async deliver(message, queue) {
    await deliver(message, { ...deliveryDepsFromEnv(), queue }).catch((error: unknown) => logDeliveryError(message, error));
  },
  async handleRecords(table, _streamArn, records) {
    await handleChanges(table, records.map(toChange));
  },
  sweep: (now = new Date()) => sweepExpiringKeys(now),
};

/** The records the deployed event source mapping would hand over: those matching one of its filters. */
export function passingFilters(table: StreamTable, records: _Record[]): _Record[] {
  return records.filter((record) => matchesAny(STREAM_FILTERS[table], record));
}

export function toChange(record: _Record): StreamChange {
  const image = (value: Record<string, unknown> | undefined) => (value ? unmarshall(value as Record<string, AttributeValue>) : undefined);
  const oldImage = image(record.dynamodb?.OldImage);
  const newImage = image(record.dynamodb?.NewImage);
  return {
    eventId: record.eventID ?? '',
    eventName: record.eventName as StreamChange['eventName'],
    ...(oldImage ? { oldImage } : {}),
    ...(newImage ? { newImage } : {}),
    at: record.dynamodb?.ApproximateCreationDateTime ?? new Date(),
  };
}

/**
 * Follows every shard of one table's stream from now on, handing each batch of records to
 * `onRecords`. Each poll asks for the records after the last one seen (DynamoDB Local's iterators
 * go stale between polls); what a shard held at boot is skipped.
 */
async function pollStream(streams: DynamoDBStreamsClient, streamArn: string, onRecords: (records: _Record[]) => Promise<void>) {
  const lastSeen = new Map<string, string | null>(); // shard id -> last sequence number handled (null: none yet)
  let stopped = false;

  /** Every record of a shard after `after` (from its start when null). */
  const read = async (shardId: string, after: string | null): Promise<_Record[]> => {
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ...(after ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after } : { ShardIteratorType: 'TRIM_HORIZON' }),
      }),
    );
    const records: _Record[] = [];
    let iterator = ShardIterator;
    for (let page = 0; iterator && page < 20; page++) {
      const result = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      if (!result.Records?.length) break;
      records.push(...result.Records);
      iterator = result.NextShardIterator;
    }
    return records;
  };

  const shards = async () => (await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription?.Shards ?? [];

  for (const shard of await shards()) {
    const old = await read(shard.ShardId!, null);
    lastSeen.set(shard.ShardId!, old.at(-1)?.dynamodb?.SequenceNumber ?? null);
  }

  const poll = async () => {
    for (const shard of await shards()) {
      const id = shard.ShardId!;
      const records = await read(id, lastSeen.get(id) ?? null);
      if (records.length === 0) {
        if (!lastSeen.has(id)) lastSeen.set(id, null);
        continue;
      }
      await onRecords(records);
      lastSeen.set(id, records.at(-1)!.dynamodb!.SequenceNumber!);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await poll().catch((error: unknown) => logger.warn('local stream poll failed', { error: describeError(error) }));
      await new Promise((resolve) => setTimeout(resolve, STREAM_POLL_MS));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

export interface LocalWebhookOptions {
  client: DynamoDBClient;
  endpoint: string;
  stage: string;
  /** Follow the streams and sweep on a timer; without, only queued deliveries run (and sweep() on demand). */
  events: boolean;
  /** Default: the sources in this process. */
  workers?: WebhookWorkers;
}

export async function startLocalWebhooks(options: LocalWebhookOptions): Promise<LocalWebhooks> {
  const workers = options.workers ?? inProcessWorkers;
  const pending = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  const deadLetters: LocalWebhooks['deadLetters'] = [];
  let stopped = false;
  const queue: DeliveryQueue = {
    async send(messages, delaySeconds = 0) {
      for (const message of messages) {
        const timer = setTimeout(() => {
          pending.delete(timer);
          if (stopped) return;
          const attempt = workers.deliver(message, queue).catch((error: unknown) => logDeliveryError(message, error));
          running.add(attempt);
          void attempt.finally(() => running.delete(attempt));
        }, delaySeconds * 1000);
        pending.add(timer);
      }
    },
    async deadLetter(message, reason) {
      deadLetters.push({ message, reason });
    },
  };
  setDeliveryQueue(queue);

  const streams = new DynamoDBStreamsClient({
    endpoint: options.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const stopPollers: (() => Promise<void>)[] = [];
  for (const table of options.events ? STREAM_TABLES : []) {
    const { Table } = await options.client.send(new DescribeTableCommand({ TableName: physicalTableName(options.stage, TABLES[table]) }));
    if (!Table?.LatestStreamArn) throw new Error(`Table ${Table?.TableName} has no stream`);
    const streamArn = Table.LatestStreamArn;
    stopPollers.push(
      await pollStream(streams, streamArn, async (records) => {
        const passing = passingFilters(table, records);
        if (passing.length > 0) await workers.handleRecords(table, streamArn, passing);
      }),
    );
  }

  const interval = Number(process.env.WEBHOOK_SWEEP_INTERVAL_MS ?? 60_000);
  const sweepTimer = options.events
    ? setInterval(() => {
        workers.sweep().catch((error: unknown) => logger.warn('local expiry sweep failed', { error: describeError(error) }));
      }, interval)
    : undefined;

  return {
    sweep: (now) => workers.sweep(now),
    queue,
    deadLetters,
    async stop() {
      stopped = true;
      clearInterval(sweepTimer);
      for (const timer of pending) clearTimeout(timer);
      await Promise.all(stopPollers.map((stop) => stop()));
      await Promise.allSettled([...running]);
      setDeliveryQueue(undefined);
      streams.destroy();
    },
  };
}
