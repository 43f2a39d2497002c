// What an operator watches: an SNS topic (email from CDK context `alarmEmail`), the alarms of
// alarm-thresholds.ts on the API stage, every function and every table, and one dashboard of the
// same metrics plus the application metrics of shared/metrics/catalog.ts.
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS, METRICS_NAMESPACE, METRICS_SERVICE, REQUEST_OUTCOMES, UPSTREAM_FAILURES, WEBHOOK_RESULTS, type MetricName } from '../../shared/metrics/catalog.ts';
import type { Upstream } from '../../shared/chat/upstreams.ts';
import type { TableKey } from '../../shared/tables.ts';
import { ALARM_THRESHOLDS, MIN_REQUESTS_FOR_5XX_RATE, MIN_UPSTREAM_CALLS, type AlarmThreshold } from './alarm-thresholds.ts';
import type { DeployedFunctionName } from './function-specs.ts';

/** The operations shared/db issues (no Scan anywhere): the per-operation DynamoDB metrics to sum. */
export const TABLE_OPERATIONS = [
  dynamodb.Operation.GET_ITEM,
  dynamodb.Operation.BATCH_GET_ITEM,
  dynamodb.Operation.QUERY,
  dynamodb.Operation.PUT_ITEM,
  dynamodb.Operation.UPDATE_ITEM,
  dynamodb.Operation.DELETE_ITEM,
  dynamodb.Operation.BATCH_WRITE_ITEM,
  dynamodb.Operation.TRANSACT_WRITE_ITEMS,
];

export interface KeygateOperationsProps {
  stage: string;
  api: apigateway.RestApi;
  functions: Record<DeployedFunctionName, lambda.IFunction>;
  tables: Record<TableKey, dynamodb.ITable>;
  /** Where alarm notifications are emailed; without it the topic has no subscription. */
  alarmEmail?: string;
  /** The account's Lambda concurrency quota. */
  accountConcurrencyLimit: number;
}

export class KeygateOperations extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly stage: string;

  constructor(scope: Construct, id: string, props: KeygateOperationsProps) {
    super(scope, id);
    this.stage = props.stage;

    this.topic = new sns.Topic(this, 'AlarmTopic', {
      topicName: `keygate-${props.stage}-alarms`,
      displayName: `Keygate ${props.stage} alarms`,
      // Alarm messages hold alarm names and metric values, nothing confidential; no KMS key (CloudWatch
      // cannot publish to a topic under the AWS managed SNS key, and a customer managed one costs $1/month).
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const t = ALARM_THRESHOLDS;

    // API: 5xx rate of the stage.
    const requests = props.api.deploymentStage.metricCount({ period: minutes(t.api5xxRate), statistic: 'Sum' });
    const serverErrors = props.api.deploymentStage.metricServerError({ period: minutes(t.api5xxRate), statistic: 'Sum' });
    const clientErrors = props.api.deploymentStage.metricClientError({ period: minutes(t.api5xxRate), statistic: 'Sum' });
    const errorRate = new cloudwatch.MathExpression({
      expression: `IF(requests >= ${MIN_REQUESTS_FOR_5XX_RATE}, errors / requests, 0)`,
      usingMetrics: { requests, errors: serverErrors },
      period: minutes(t.api5xxRate),
      label: '5xx rate',
    });
    this.alarm('Api5xxRate', errorRate, t.api5xxRate, `API stage ${props.stage}: 5xx share of requests`);

    // Functions: errors and throttles of each; the authorizer's errors net of the invalid keys it refuses by throwing.
    for (const [name, fn] of Object.entries(props.functions) as [DeployedFunctionName, lambda.IFunction][]) {
      const id = `${name[0]!.toUpperCase()}${name.slice(1)}`;
      if (name === 'authorizer') {
        const errors = fn.metricErrors({ period: minutes(t.authorizerErrors), statistic: 'Sum' });
        const refused = this.appMetric('Requests', 'invalid_key', minutes(t.authorizerErrors));
        const unexpected = new cloudwatch.MathExpression({
          // Negative when EMF lines arrive before Lambda's own metric: never a breach.
          expression: 'FILL(errors, 0) - FILL(refused, 0)',
          usingMetrics: { errors, refused },
          period: minutes(t.authorizerErrors),
          label: 'authorizer errors (not invalid keys)',
        });
        this.alarm(`${id}Errors`, unexpected, t.authorizerErrors, 'Authorizer errors other than invalid-key refusals');
        this.alarm(
          `${id}LatencyP99`,
          fn.metricDuration({ period: minutes(t.authorizerP99Ms), statistic: 'p99' }),
          t.authorizerP99Ms,
          'Authorizer duration p99 (ms)',
        );
      } else {
        this.alarm(`${id}Errors`, fn.metricErrors({ period: minutes(t.functionErrors), statistic: 'Sum' }), t.functionErrors, `${name} errors`);
      }
      this.alarm(`${id}Throttles`, fn.metricThrottles({ period: minutes(t.functionThrottles), statistic: 'Sum' }), t.functionThrottles, `${name} throttles`);
    }

    // Tables: throttled requests and system errors, summed over the operations Keygate uses.
    for (const [key, table] of Object.entries(props.tables) as [TableKey, dynamodb.ITable][]) {
      const id = `${key[0]!.toUpperCase()}${key.slice(1)}Table`;
      this.alarm(
        `${id}Throttles`,
        tableOperationsSum(key, table, 'ThrottledRequests', minutes(t.dynamoThrottles)),
        t.dynamoThrottles,
        `${key} table throttled requests`,
      );
      this.alarm(
        `${id}SystemErrors`,
        tableOperationsSum(key, table, 'SystemErrors', minutes(t.dynamoSystemErrors)),
        t.dynamoSystemErrors,
        `${key} table system errors`,
      );
    }

    // Accounts created by invitations: farming, or Cognito's built-in email running out.
    this.alarm('UsersInvited', this.appMetric('UsersInvited', undefined, minutes(t.usersInvited)), t.usersInvited, 'Portal accounts created by invitations');

    // The account: claimed concurrency against its quota.
    const claimed = new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'ClaimedAccountConcurrency',
      statistic: 'Maximum',
      period: minutes(t.accountConcurrencyShare),
    });
    const concurrencyShare = new cloudwatch.MathExpression({
      expression: `claimed / ${props.accountConcurrencyLimit}`,
      usingMetrics: { claimed },
      period: minutes(t.accountConcurrencyShare),
      label: `share of ${props.accountConcurrencyLimit} concurrent executions`,
    });
    this.alarm('AccountConcurrency', concurrencyShare, t.accountConcurrencyShare, 'Lambda concurrency claimed in the account, as a share of its quota');

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      // Dashboard names are global to the account: the region keeps a stage's deployments apart.
      dashboardName: `keygate-${props.stage}-${Aws.REGION}`,
      defaultInterval: Duration.hours(3),
    });
    const fns = Object.entries(props.functions) as [DeployedFunctionName, lambda.IFunction][];
    const tables = Object.entries(props.tables) as [TableKey, dynamodb.ITable][];
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }),
    );
    this.dashboard.addWidgets(
      graph('Requests by outcome', REQUEST_OUTCOMES.map((o) => this.appMetric('Requests', o, Duration.minutes(1))), { stacked: true }),
      graph('API requests, 4xx and 5xx', [requests, clientErrors, serverErrors]),
      graph('5xx rate', [errorRate], { max: 1 }),
    );
    this.dashboard.addWidgets(
      graph('API latency p50 / p99 (ms)', [
        props.api.deploymentStage.metricLatency({ statistic: 'p50' }),
        props.api.deploymentStage.metricLatency({ statistic: 'p99' }),
      ]),
      graph('Authorizer duration p50 / p99 (ms)', [
        props.functions.authorizer.metricDuration({ statistic: 'p50' }),
        props.functions.authorizer.metricDuration({ statistic: 'p99' }),
      ]),
      graph('Reply time to first delta / total, p50 / p99 (ms)', [
        this.appMetric('ReplyTimeToFirstDelta', undefined, Duration.minutes(5), 'p50'),
        this.appMetric('ReplyTimeToFirstDelta', undefined, Duration.minutes(5), 'p99'),
        this.appMetric('ReplyTime', undefined, Duration.minutes(5), 'p50'),
        this.appMetric('ReplyTime', undefined, Duration.minutes(5), 'p99'),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Replies, credits spent, stream failures, users invited', [
        this.appMetric('Replies'),
        this.appMetric('CreditsSpent'),
        this.appMetric('StreamFailures'),
        this.appMetric('UsersInvited'),
      ]),
      graph('Webhook deliveries by result', WEBHOOK_RESULTS.map((r) => this.appMetric('WebhookDeliveries', r)), { stacked: true }),
      graph('Lambda claimed concurrency', [claimed], { horizontal: props.accountConcurrencyLimit }),
    );
    this.dashboard.addWidgets(
      graph('Function errors', fns.map(([name, fn]) => fn.metricErrors({ label: name, statistic: 'Sum' }))),
      graph('Function throttles', fns.map(([name, fn]) => fn.metricThrottles({ label: name, statistic: 'Sum' }))),
      graph('Function duration p99 (ms)', fns.map(([name, fn]) => fn.metricDuration({ label: name, statistic: 'p99' }))),
    );
    this.dashboard.addWidgets(
      graph(
        'DynamoDB throttled requests',
        tables.map(([key, table]) => tableOperationsSum(key, table, 'ThrottledRequests', Duration.minutes(5))),
      ),
      graph(
        'DynamoDB system errors',
        tables.map(([key, table]) => tableOperationsSum(key, table, 'SystemErrors', Duration.minutes(5))),
      ),
      graph('DynamoDB consumed capacity (RCU + WCU)', tables.flatMap(([key, table]) => [
        table.metricConsumedReadCapacityUnits({ label: `${key} read`, statistic: 'Sum' }),
        table.metricConsumedWriteCapacityUnits({ label: `${key} write`, statistic: 'Sum' }),
      ])),
    );
  }

  /**
   * Per deployed upstream: alarms on its error rate and on its p90 time to first byte (against its
   * own timeoutSeconds), and one dashboard row (calls and errors by kind, timings, tokens).
   */
  watchUpstreams(upstreams: readonly Upstream[]): void {
    const t = ALARM_THRESHOLDS;
    for (const upstream of upstreams) {
      const name = upstream.name;
      const calls = this.appMetric('UpstreamCalls', name, minutes(t.upstreamErrorRate));
      const errors = this.appMetric('UpstreamErrors', name, minutes(t.upstreamErrorRate));
      const errorRate = new cloudwatch.MathExpression({
        expression: `IF(calls >= ${MIN_UPSTREAM_CALLS}, FILL(errors, 0) / calls, 0)`,
        usingMetrics: { calls, errors },
        period: minutes(t.upstreamErrorRate),
        label: `${name} error rate`,
      });
      this.alarm(`Upstream-${name}-ErrorRate`, errorRate, t.upstreamErrorRate, `Upstream ${name} (${upstream.kind}): share of calls that failed`);
      const timeoutMs = upstream.timeoutSeconds * 1000;
      const firstByte = new cloudwatch.MathExpression({
        expression: `ttfb / ${timeoutMs}`,
        usingMetrics: { ttfb: this.appMetric('UpstreamTimeToFirstByte', name, minutes(t.upstreamFirstByteShare), 'p90') },
        period: minutes(t.upstreamFirstByteShare),
        label: `${name} first byte p90 / timeoutSeconds`,
      });
      this.alarm(
        `Upstream-${name}-FirstByteP90`,
        firstByte,
        t.upstreamFirstByteShare,
        `Upstream ${name} (${upstream.kind}): p90 time to first byte as a share of its timeoutSeconds (${upstream.timeoutSeconds} s)`,
      );
      this.dashboard.addWidgets(
        graph(`Upstream ${name}: calls and errors by kind`, [
          this.appMetric('UpstreamCalls', name, Duration.minutes(5)),
          ...UPSTREAM_FAILURES.filter((f) => f !== 'cancelled').map((failure) => this.appMetric('UpstreamErrorsByKind', name, Duration.minutes(5), 'Sum', failure)),
        ]),
        graph(`Upstream ${name}: first byte / duration, p50 / p90 (ms)`, [
          this.appMetric('UpstreamTimeToFirstByte', name, Duration.minutes(5), 'p50'),
          this.appMetric('UpstreamTimeToFirstByte', name, Duration.minutes(5), 'p90'),
          this.appMetric('UpstreamDuration', name, Duration.minutes(5), 'p50'),
          this.appMetric('UpstreamDuration', name, Duration.minutes(5), 'p90'),
        ]),
        graph(`Upstream ${name}: tokens in / out`, [
          this.appMetric('UpstreamInputTokens', name, Duration.minutes(5)),
          this.appMetric('UpstreamOutputTokens', name, Duration.minutes(5)),
        ]),
      );
    }
  }

  /** One more graph row on the dashboard (the stack adds the web ACL's). */
  addGraph(title: string, metrics: cloudwatch.IMetric[]): void {
    this.dashboard.addWidgets(graph(title, metrics, { stacked: true }));
  }

  /**
   * Alarm on a dead-letter queue (the webhook deliveries' DLQ) and show it on the dashboard. The stack
   * calls it with the queue the webhooks construct creates.
   */
  alarmOnDeadLetterQueue(id: string, queue: sqs.IQueue): cloudwatch.Alarm {
    const t = ALARM_THRESHOLDS.webhookDeadLetters;
    const visible = queue.metricApproximateNumberOfMessagesVisible({ period: minutes(t), statistic: 'Maximum' });
    const alarm = this.alarm(id, visible, t, 'Messages in the webhook dead-letter queue');
    this.dashboard.addWidgets(graph('Webhook dead-letter queue', [visible]));
    return alarm;
  }

  /** An application metric from shared/metrics/catalog.ts, with the dimensions its EMF lines carry. */
  private appMetric(name: MetricName, dimensionValue?: string, period = Duration.minutes(5), statistic = 'Sum', secondValue?: string): cloudwatch.Metric {
    const { dimension: extra, second } = METRICS[name] as { dimension?: string; second?: string };
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      dimensionsMap: {
        service: METRICS_SERVICE,
        stage: this.stage,
        ...(extra && dimensionValue !== undefined ? { [extra]: dimensionValue } : {}),
        ...(second && secondValue !== undefined ? { [second]: secondValue } : {}),
      },
      statistic,
      period,
      label: secondValue ? `${secondValue}` : dimensionValue ? `${name} ${dimensionValue}${statistic === 'Sum' ? '' : ` ${statistic}`}` : `${name} ${statistic}`,
    });
  }

  private alarm(id: string, metric: cloudwatch.IMetric, spec: AlarmThreshold, what: string): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName: `keygate-${this.stage}-${id}`,
      alarmDescription: `${what}. Threshold ${spec.threshold}: ${spec.reason} What to do: ${spec.action}`,
      metric,
      threshold: spec.threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: spec.evaluationPeriods,
      datapointsToAlarm: spec.datapoints,
      // No data is no traffic (or no failures): not a breach.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}

function minutes(spec: AlarmThreshold): Duration {
  return Duration.minutes(spec.periodMinutes);
}

/**
 * A table's per-operation metric (ThrottledRequests and SystemErrors exist only per Operation) summed
 * over TABLE_OPERATIONS. Like the table's own `metric…ForOperations`, but with metric ids named after
 * the table, so several tables can share one dashboard graph.
 */
function tableOperationsSum(
  key: TableKey,
  table: dynamodb.ITable,
  metricName: 'ThrottledRequests' | 'SystemErrors',
  period: Duration,
): cloudwatch.MathExpression {
  const usingMetrics = Object.fromEntries(
    TABLE_OPERATIONS.map((operation) => [
      `${key.toLowerCase()}${operation.toLowerCase()}`,
      table.metric(metricName, { dimensionsMap: { TableName: table.tableName, Operation: operation }, statistic: 'Sum', period }),
    ]),
  );
  return new cloudwatch.MathExpression({
    expression: Object.keys(usingMetrics).map((id) => `FILL(${id}, 0)`).join(' + '),
    usingMetrics,
    period,
    label: `${key} ${metricName}`,
  });
}

function graph(
  title: string,
  metrics: cloudwatch.IMetric[],
  options: { stacked?: boolean; max?: number; horizontal?: number } = {},
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({
    title,
    left: metrics,
    width: 8,
    height: 6,
    stacked: options.stacked ?? false,
    ...(options.max !== undefined ? { leftYAxis: { min: 0, max: options.max } } : {}),
    ...(options.horizontal !== undefined ? { leftAnnotations: [{ value: options.horizontal, label: 'account limit' }] } : {}),
  });
}
