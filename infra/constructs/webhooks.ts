// Webhook delivery in AWS (docs/api.md "Webhooks"), around the three worker functions of
// function-specs.ts:
// - the api-keys and organizations tables' streams trigger `webhookEvents`, which queues one SQS
//   message per subscribed webhook (filtered at the event source: only records that can mean an event);
// - `webhookDelivery` consumes the queue (batches of 10, partial batch failures), re-queueing failed
//   attempts itself with the backoff schedule; messages that keep failing to process (5 receives),
//   deliveries past their 24 hours, and stream batches that cannot be handled go to the dead-letter queue;
// - EventBridge Scheduler runs `expirySweep` every 5 minutes;
// - a KMS key seals webhook secrets: management may Encrypt, delivery may Decrypt, nobody else.
// `deliveryQueue` and `deadLetterQueue` are public for alarms and dashboards (the stack alarms on the DLQ).
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EventPattern } from '../../shared/webhooks/event-pattern.ts';
import { STREAM_FILTERS } from '../../shared/webhooks/stream-filters.ts';
import { TABLES } from '../../shared/tables.ts';
import { scheduleInvocations } from './scheduled-invoke.ts';

export interface KeygateWebhooksProps {
  stage: string;
  apiKeysTable: dynamodb.ITable;
  organizationsTable: dynamodb.ITable;
  /** Seals secrets and tests webhooks (Encrypt, SendMessage). */
  management: lambda.Function;
  events: lambda.Function;
  delivery: lambda.Function;
  sweep: lambda.Function;
}

/** Visibility must outlast a delivery invocation (30 s) several times over, as AWS recommends (6x). */
const VISIBILITY_TIMEOUT = Duration.minutes(3);
export const SWEEP_RATE = Duration.minutes(5);

export class KeygateWebhooks extends Construct {
  readonly key: kms.Key;
  readonly deliveryQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly sweepSchedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: KeygateWebhooksProps) {
    super(scope, id);
    const { stage } = props;

    this.key = new kms.Key(this, 'SecretsKey', {
      description: `Keygate ${stage}: seals webhook signing secrets`,
      enableKeyRotation: true,
      // Without this key no stored webhook secret can be opened: kept on delete, except after a failed first create.
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    this.deliveryQueue = new sqs.Queue(this, 'Deliveries', {
      visibilityTimeout: VISIBILITY_TIMEOUT,
      // Retries wait in the queue (up to 15 minutes per step) for at most 24 hours in all.
      retentionPeriod: Duration.days(2),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });

    // Management: seal new secrets, queue test pings.
    this.key.grant(props.management, 'kms:Encrypt');
    this.deliveryQueue.grantSendMessages(props.management);
    props.management.addEnvironment('WEBHOOK_KMS_KEY_ID', this.key.keyArn);
    props.management.addEnvironment('WEBHOOK_QUEUE_URL', this.deliveryQueue.queueUrl);

    // Stream consumer: only records that can mean an event reach it.
    const streamSource = (table: dynamodb.ITable, filters: readonly EventPattern[]) =>
      new DynamoEventSource(table, {
        startingPosition: lambda.StartingPosition.LATEST,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        bisectBatchOnError: true,
        retryAttempts: 10,
        maxRecordAge: Duration.hours(24),
        onFailure: new SqsDlq(this.deadLetterQueue),
        filters: filters.map((pattern) => lambda.FilterCriteria.filter(pattern as Record<string, unknown>)),
      });
    props.events.addEventSource(streamSource(props.apiKeysTable, STREAM_FILTERS.apiKeys));
    props.events.addEventSource(streamSource(props.organizationsTable, STREAM_FILTERS.organizations));
    this.deliveryQueue.grantSendMessages(props.events);
    props.events.addEnvironment('WEBHOOK_QUEUE_URL', this.deliveryQueue.queueUrl);
    // Names only, no access: the function tells the two streams apart by the table name in each
    // record's eventSourceARN (functions/webhook-events.ts), so it must know both names.
    props.events.addEnvironment(TABLES.apiKeys.envVar, props.apiKeysTable.tableName);
    props.events.addEnvironment(TABLES.organizations.envVar, props.organizationsTable.tableName);

    // Delivery: read secrets (Decrypt only), re-queue retries, dead-letter what used up its 24 hours.
    props.delivery.addEventSource(
      new SqsEventSource(this.deliveryQueue, { batchSize: 10, maxBatchingWindow: Duration.seconds(1), reportBatchItemFailures: true }),
    );
    this.key.grant(props.delivery, 'kms:Decrypt');
    this.deliveryQueue.grantSendMessages(props.delivery);
    this.deadLetterQueue.grantSendMessages(props.delivery);
    props.delivery.addEnvironment('WEBHOOK_QUEUE_URL', this.deliveryQueue.queueUrl);
    props.delivery.addEnvironment('WEBHOOK_DLQ_URL', this.deadLetterQueue.queueUrl);

    this.sweepSchedule = scheduleInvocations(this, {
      roleId: 'SweepSchedulerRole',
      scheduleId: 'ExpirySweep',
      scheduleName: `keygate-${stage}-expiry-sweep`,
      functionName: `keygate-${stage}-expirySweep`,
      description: 'Records due api_key.expiring / api_key.expired notices (shared/webhooks/sweep.ts)',
      rate: SWEEP_RATE,
      fn: props.sweep,
      maxEventAge: Duration.minutes(10),
    });
  }
}
