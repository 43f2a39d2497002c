// The webhook infrastructure as synthesized (what can be checked without an AWS account): the
// delivery queue and its dead-letter queue, the alarm on it, the streams and their filtered event
// sources, the sweep schedule, the KMS key and who may use it for what.
import { describe, expect, it } from 'vitest';
import {
  actions,
  functionByName,
  ofType,
  referencedIds,
  resourcesOf,
  roleStatements,
  synthBeforeAll,
  tableLogicalId,
} from '../support/stack.ts';

const s = synthBeforeAll();

/** Queues have generated names; they are found by construct path. */
const QUEUE_PATHS: Record<string, string> = { 'keygate-dev-webhook-deliveries': 'Deliveries', 'keygate-dev-webhook-dead-letters': 'DeadLetters' };
const queueId = (name: string) =>
  ofType(s.resources, 'AWS::SQS::Queue').find(([id]) => id.startsWith(`Webhooks${QUEUE_PATHS[name]}`))![0];
const fnId = (name: string) => functionByName(s, name)[0];
const statementsWith = (fn: string, prefix: string) => roleStatements(s, fn).filter((st) => actions(st).some((a) => a.startsWith(prefix)));

describe('webhook delivery infrastructure', () => {
  it('a delivery queue (SSE, TLS only) redriving to a dead-letter queue after 5 receives', () => {
    const deliveries = s.resources[queueId('keygate-dev-webhook-deliveries')]!.Properties!;
    const dlqId = queueId('keygate-dev-webhook-dead-letters');
    expect(deliveries.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 5 });
    expect(deliveries.SqsManagedSseEnabled).toBe(true);
    // At least 6 times the delivery function's timeout (AWS's recommendation for SQS event sources).
    const timeout = functionByName(s, 'webhookDelivery')[1].Properties!.Timeout;
    expect(deliveries.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
    expect(s.resources[dlqId]!.Properties!.MessageRetentionPeriod).toBe(14 * 86400);
    for (const id of [queueId('keygate-dev-webhook-deliveries'), dlqId]) {
      const policy = ofType(s.resources, 'AWS::SQS::QueuePolicy').find(([, p]) => referencedIds(p.Properties!.Queues).has(id));
      expect(JSON.stringify(policy?.[1].Properties!.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
  });

  it('an alarm on the dead-letter queue, notifying the alarm topic', () => {
    const dlq = s.stack.webhooks.deadLetterQueue;
    const alarms = ofType(s.resources, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
      JSON.stringify(a.Properties!.Dimensions ?? []).includes(s.stack.getLogicalId(dlq.node.defaultChild as never)),
    );
    expect(alarms).toHaveLength(1);
    expect(alarms[0]![1].Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS' });
    expect(alarms[0]![1].Properties!.AlarmActions).toEqual([{ Ref: s.stack.getLogicalId(s.stack.operations.topic.node.defaultChild as never) }]);
  });

  it('streams with new and old images on api-keys and organizations, filtered into the events function', () => {
    for (const table of ['apiKeys', 'organizations'] as const) {
      const id = tableLogicalId(s, table);
      expect(s.resources[id]!.Properties!.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
      const mapping = ofType(s.resources, 'AWS::Lambda::EventSourceMapping').find(([, m]) => referencedIds(m.Properties!.EventSourceArn).has(id));
      expect(mapping, table).toBeDefined();
      const props = mapping![1].Properties!;
      expect(props.FunctionName).toEqual({ Ref: fnId('webhookEvents') });
      expect(props).toMatchObject({ StartingPosition: 'LATEST', BisectBatchOnFunctionError: true, MaximumRecordAgeInSeconds: 86400 });
      expect(referencedIds(props.DestinationConfig.OnFailure.Destination)).toEqual(new Set([queueId('keygate-dev-webhook-dead-letters')]));
      expect(props.FilterCriteria.Filters.length).toBeGreaterThan(0);
    }
    const keyFilters = ofType(s.resources, 'AWS::Lambda::EventSourceMapping')
      .find(([, m]) => referencedIds(m.Properties!.EventSourceArn).has(tableLogicalId(s, 'apiKeys')))![1]
      .Properties!.FilterCriteria.Filters.map((f: { Pattern: string }) => JSON.parse(f.Pattern));
    expect(keyFilters).toContainEqual({ eventName: ['MODIFY'], dynamodb: { NewImage: { status: { S: ['revoked'] } } } });
    // It recognizes each record's table by name (functions/webhook-events.ts), so it is told both names.
    const env = functionByName(s, 'webhookEvents')[1].Properties!.Environment.Variables;
    expect(env.API_KEYS_TABLE).toEqual({ Ref: tableLogicalId(s, 'apiKeys') });
    expect(env.ORGANIZATIONS_TABLE).toEqual({ Ref: tableLogicalId(s, 'organizations') });
  });

  it('only the events function reads the streams', () => {
    const streamReaders = ['authorizer', 'management', 'publicApi', 'chatSession', 'chatStream', 'export', 'webhookEvents', 'webhookDelivery', 'expirySweep'].filter(
      (fn) => statementsWith(fn, 'dynamodb:GetRecords').length > 0,
    );
    expect(streamReaders).toEqual(['webhookEvents']);
    const readers = statementsWith('webhookEvents', 'dynamodb:GetRecords');
    const ids = new Set(readers.flatMap((st) => [...referencedIds(st.Resource)]));
    expect(ids).toEqual(new Set([tableLogicalId(s, 'apiKeys'), tableLogicalId(s, 'organizations')]));
  });

  it('the delivery function consumes the queue with partial batch failures', () => {
    const mapping = ofType(s.resources, 'AWS::Lambda::EventSourceMapping').find(([, m]) =>
      referencedIds(m.Properties!.EventSourceArn).has(queueId('keygate-dev-webhook-deliveries')),
    )![1].Properties!;
    expect(mapping).toMatchObject({ FunctionName: { Ref: fnId('webhookDelivery') }, BatchSize: 10, FunctionResponseTypes: ['ReportBatchItemFailures'] });
  });

  it('EventBridge Scheduler runs the expiry sweep every 5 minutes', () => {
    const [, schedule] = ofType(s.resources, 'AWS::Scheduler::Schedule')[0]!;
    expect(schedule.Properties).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    expect(referencedIds(schedule.Properties!.Target.Arn)).toEqual(new Set([fnId('expirySweep')]));
  });

  it('a rotating KMS key: management may only Encrypt, delivery may only Decrypt, nobody else either', () => {
    const [keyId, key] = ofType(s.resources, 'AWS::KMS::Key')[0]!;
    expect(key.Properties!.EnableKeyRotation).toBe(true);
    const kmsUse = (fn: string) => statementsWith(fn, 'kms:').flatMap((st) => {
      expect(referencedIds(st.Resource)).toEqual(new Set([keyId]));
      return actions(st);
    });
    expect(kmsUse('management')).toEqual(['kms:Encrypt']);
    expect(kmsUse('webhookDelivery')).toEqual(['kms:Decrypt']);
    for (const fn of ['authorizer', 'publicApi', 'chatSession', 'chatStream', 'export', 'webhookEvents', 'expirySweep']) {
      expect(statementsWith(fn, 'kms:'), fn).toEqual([]);
    }
    expect(functionByName(s, 'management')[1].Properties!.Environment.Variables.WEBHOOK_KMS_KEY_ID).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
  });

  it('only the management, events and delivery functions may queue deliveries; only delivery may dead-letter', () => {
    const deliveries = queueId('keygate-dev-webhook-deliveries');
    const dlq = queueId('keygate-dev-webhook-dead-letters');
    const senders = (queue: string) =>
      ['authorizer', 'management', 'publicApi', 'chatSession', 'chatStream', 'export', 'webhookEvents', 'webhookDelivery', 'expirySweep'].filter(
        (fn) => statementsWith(fn, 'sqs:SendMessage').some((st) => referencedIds(st.Resource).has(queue)),
      );
    expect(senders(deliveries).sort()).toEqual(['management', 'webhookDelivery', 'webhookEvents']);
    // The events function's failed stream batches go to the DLQ through the event source mapping.
    expect(senders(dlq).sort()).toEqual(['webhookDelivery', 'webhookEvents']);
    for (const st of statementsWith('webhookDelivery', 'sqs:')) expect(resourcesOf(st)).not.toContain('*');
  });

  it('outputs the queue URLs, and exposes the queues for alarms and dashboards', () => {
    const outputs = s.template.toJSON().Outputs;
    expect(outputs.WebhookQueueUrl.Value).toEqual({ Ref: queueId('keygate-dev-webhook-deliveries') });
    expect(outputs.WebhookDeadLetterQueueUrl.Value).toEqual({ Ref: queueId('keygate-dev-webhook-dead-letters') });
  });
});
