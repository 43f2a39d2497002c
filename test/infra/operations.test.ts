// Operations in the synthesized template: the alarm topic, every alarm with its threshold and
// actions, the dashboard, and JSON access logs that can never hold a key.
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYED_ROUTES } from '../../infra/constructs/api.ts';
import { DEPLOYED_FUNCTIONS } from '../../infra/constructs/function-specs.ts';
import { WAF_BLOCK_RESPONSES, type WafBlockResponse } from '../../infra/constructs/waf.ts';
import { CORS_ALLOW_HEADERS } from '../../shared/http/cors.ts';
import { configFromContext, createKeygateApp, type KeygateStack } from '../../infra/stack.ts';
import { TABLES, type TableKey } from '../../shared/tables.ts';
import { CDK_CONTEXT, functionByName, ofType, SETUP_TIMEOUT_MS, single, tableLogicalId, type CfnResource } from '../support/stack.ts';

// Every table and every function the stack deploys (the two source-of-truth lists) gets its alarms.
const TABLE_KEYS = Object.keys(TABLES) as TableKey[];
const FUNCTIONS = DEPLOYED_FUNCTIONS;
const capitalized = (name: string) => `${name[0]!.toUpperCase()}${name.slice(1)}`;

let stack: KeygateStack;
let resources: Record<string, CfnResource>;
let outputs: Record<string, any>;
let topicId: string;

beforeAll(() => {
  const app = new App({
    context: { ...CDK_CONTEXT, alarmEmail: 'oncall@example.com', accountConcurrencyLimit: 3000, wafRateLimitPerIp: 5000, 'aws:cdk:bundling-stacks': [] },
  });
  stack = createKeygateApp(app);
  const template = Template.fromStack(stack).toJSON();
  resources = template.Resources;
  outputs = template.Outputs;
  [topicId] = single(resources, 'AWS::SNS::Topic');
}, SETUP_TIMEOUT_MS);

function alarm(name: string): Record<string, any> {
  const found = ofType(resources, 'AWS::CloudWatch::Alarm').find(([, a]) => a.Properties!.AlarmName === `keygate-dev-${name}`);
  if (!found) throw new Error(`No alarm keygate-dev-${name}`);
  return found[1].Properties!;
}

/** The metric statistics an alarm reads (its own, or those its expression uses). */
function statsOf(props: Record<string, any>): { MetricName: string; Namespace: string; Dimensions?: { Name: string; Value: unknown }[]; Stat?: string }[] {
  if (props.MetricName) return [{ MetricName: props.MetricName, Namespace: props.Namespace, Dimensions: props.Dimensions, Stat: props.ExtendedStatistic ?? props.Statistic }];
  return (props.Metrics as any[]).filter((m) => m.MetricStat).map((m) => ({ ...m.MetricStat.Metric, Stat: m.MetricStat.Stat }));
}
const expressionOf = (props: Record<string, any>): string => (props.Metrics as any[]).find((m) => m.Expression).Expression;
const dims = (stat: { Dimensions?: { Name: string; Value: unknown }[] }) => Object.fromEntries((stat.Dimensions ?? []).map((d) => [d.Name, d.Value]));

describe('the alarm topic', () => {
  it('is one TLS-only topic with the email subscription from context, and its ARN is an output', () => {
    const topic = resources[topicId]!;
    expect(topic.Properties!.TopicName).toBe('keygate-dev-alarms');
    const [, subscription] = single(resources, 'AWS::SNS::Subscription');
    expect(subscription.Properties).toMatchObject({ Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topicId } });
    const [, policy] = single(resources, 'AWS::SNS::TopicPolicy');
    expect(JSON.stringify(policy.Properties!.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    expect(outputs.AlarmTopicArn.Value).toEqual({ Ref: topicId });
  });

  it('has no subscription without alarmEmail, and refuses an address that is not one', () => {
    const context = (extra: Record<string, unknown>) => {
      const app = new App({ context: { ...CDK_CONTEXT, ...extra } });
      return () => configFromContext(app);
    };
    expect(context({})().alarmEmail).toBeUndefined();
    expect(context({ alarmEmail: 'oncall@example.com' })().alarmEmail).toBe('oncall@example.com');
    expect(context({ alarmEmail: 'not an address' })).toThrow(/alarmEmail/);
    expect(context({ accountConcurrencyLimit: 0 })).toThrow(/accountConcurrencyLimit/);
    expect(context({})().wafRateLimitPerIp).toBe(10_000);
    expect(context({ wafRateLimitPerIp: 50 })).toThrow(/wafRateLimitPerIp/);
    expect(context({})().apiThrottle).toEqual({ rate: 200, burst: 400 });
    expect(context({ apiThrottleRate: 12_000 })().apiThrottle).toEqual({ rate: 12_000, burst: 5_000 });
    expect(context({ apiThrottleRate: '3000', apiThrottleBurst: '6000' })().apiThrottle).toEqual({ rate: 3000, burst: 6000 });
    expect(context({ apiThrottleRate: 0 })).toThrow(/apiThrottleRate/);
    expect(context({ apiThrottleBurst: 'lots' })).toThrow(/apiThrottleBurst/);
  });
});

describe('alarms', () => {
  it('exist for the API, each function, each table, the account and the webhook DLQ, and nothing else', () => {
    const expected = [
      'Api5xxRate',
      'AuthorizerLatencyP99',
      'AccountConcurrency',
      'WebhookDeadLetters',
      'UsersInvited',
      // The one upstream of a stack without context upstreams.
      'Upstream-bedrock-ErrorRate',
      'Upstream-bedrock-FirstByteP90',
      ...FUNCTIONS.flatMap((f) => [`${capitalized(f)}Errors`, `${capitalized(f)}Throttles`]),
      ...TABLE_KEYS.flatMap((t) => [`${capitalized(t)}TableThrottles`, `${capitalized(t)}TableSystemErrors`]),
    ].map((n) => `keygate-dev-${n}`);
    const names = ofType(resources, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties!.AlarmName as string);
    expect(names.sort()).toEqual(expected.sort());
  });

  it('each notify the topic when they fire and when they clear, and say what to do', () => {
    for (const [, a] of ofType(resources, 'AWS::CloudWatch::Alarm')) {
      expect(a.Properties!.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(a.Properties!.OKActions).toEqual([{ Ref: topicId }]);
      expect(a.Properties!.TreatMissingData).toBe('notBreaching');
      expect(a.Properties!.AlarmDescription).toMatch(/What to do: .{20,}/);
    }
  });

  it('API 5xx: the share of 5XXError in Count on the stage, judged from 20 requests, at 1% for two 5-minute periods', () => {
    const a = alarm('Api5xxRate');
    expect(expressionOf(a)).toBe('IF(requests >= 20, errors / requests, 0)');
    const stats = statsOf(a);
    const [stageId] = single(resources, 'AWS::ApiGateway::Stage');
    expect(stats.map((s) => s.MetricName).sort()).toEqual(['5XXError', 'Count']);
    for (const s of stats) {
      expect(s.Namespace).toBe('AWS/ApiGateway');
      expect(dims(s)).toEqual({ ApiName: 'keygate-dev', Stage: { Ref: stageId } });
      expect(s.Stat).toBe('Sum');
    }
    expect(a).toMatchObject({ Threshold: 0.01, EvaluationPeriods: 2, DatapointsToAlarm: 2, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
  });

  it('functions: any error or throttle of each function (its own FunctionName)', () => {
    for (const f of FUNCTIONS) {
      const [fnId] = functionByName({ resources } as never, f);
      const throttles = alarm(`${capitalized(f)}Throttles`);
      expect(statsOf(throttles)).toEqual([{ MetricName: 'Throttles', Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }], Stat: 'Sum' }]);
      expect(throttles.Threshold).toBe(1);
      if (f === 'authorizer') continue;
      const errors = alarm(`${capitalized(f)}Errors`);
      expect(statsOf(errors)).toEqual([{ MetricName: 'Errors', Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }], Stat: 'Sum' }]);
      expect(errors.Threshold).toBe(1);
    }
  });

  it("authorizer errors: Lambda's Errors minus the invalid_key refusals it answers by throwing", () => {
    const a = alarm('AuthorizerErrors');
    expect(expressionOf(a)).toBe('FILL(errors, 0) - FILL(refused, 0)');
    const [authorizerId] = functionByName({ resources } as never, 'authorizer');
    const byName = Object.fromEntries(statsOf(a).map((s) => [s.MetricName, s]));
    expect(dims(byName.Errors!)).toEqual({ FunctionName: { Ref: authorizerId } });
    // The dimensions the authorizer's EMF line carries (test/unit/metrics.test.ts).
    expect(byName.Requests).toMatchObject({ Namespace: 'Keygate', Stat: 'Sum' });
    expect(dims(byName.Requests!)).toEqual({ service: 'keygate', stage: 'dev', Outcome: 'invalid_key' });
    expect(a).toMatchObject({ Threshold: 5, EvaluationPeriods: 2, DatapointsToAlarm: 2 });
  });

  it('authorizer latency: p99 Duration of the authorizer at 250 ms for three 5-minute periods', () => {
    const a = alarm('AuthorizerLatencyP99');
    const [authorizerId] = functionByName({ resources } as never, 'authorizer');
    expect(a).toMatchObject({ MetricName: 'Duration', Namespace: 'AWS/Lambda', ExtendedStatistic: 'p99', Period: 300, Threshold: 250, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    expect(a.Dimensions).toEqual([{ Name: 'FunctionName', Value: { Ref: authorizerId } }]);
  });

  it('tables: ThrottledRequests and SystemErrors of each table, over every operation Keygate issues', () => {
    const operations = ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems'];
    for (const key of TABLE_KEYS) {
      const tableId = tableLogicalId({ resources } as never, key);
      for (const [suffix, metricName] of [['Throttles', 'ThrottledRequests'], ['SystemErrors', 'SystemErrors']] as const) {
        const a = alarm(`${capitalized(key)}Table${suffix}`);
        const stats = statsOf(a);
        expect(stats.map((s) => dims(s).Operation).sort()).toEqual([...operations].sort());
        for (const s of stats) {
          expect(s).toMatchObject({ MetricName: metricName, Namespace: 'AWS/DynamoDB', Stat: 'Sum' });
          expect(dims(s).TableName).toEqual({ Ref: tableId });
        }
        expect(a.Threshold).toBe(1);
      }
    }
  });

  it('account concurrency: ClaimedAccountConcurrency over the quota from context, at 80%', () => {
    const a = alarm('AccountConcurrency');
    expect(expressionOf(a)).toBe('claimed / 3000');
    expect(statsOf(a)).toEqual([{ MetricName: 'ClaimedAccountConcurrency', Namespace: 'AWS/Lambda', Stat: 'Maximum' }]);
    expect(a.Threshold).toBe(0.8);
  });

  it("webhook dead letters: any visible message in the webhook deliveries' dead-letter queue", () => {
    const a = alarm('WebhookDeadLetters');
    const queueId = stack.getLogicalId(stack.webhooks.deadLetterQueue.node.defaultChild as CfnElement);
    expect(a).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS', Statistic: 'Maximum', Threshold: 1 });
    expect(a.Dimensions).toEqual([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }]);
  });
});

describe('upstreams', () => {
  const UPSTREAMS = {
    claude: { kind: 'bedrock', models: ['amazon.nova-lite-v1:0'] },
    agent: { kind: 'http', url: 'https://agent.example.com/reply', signingSecretName: 'keygate/agent', timeoutSeconds: 20 },
  };
  let upstreamResources: Record<string, CfnResource>;
  beforeAll(() => {
    const app = new App({ context: { ...CDK_CONTEXT, upstreams: JSON.stringify(UPSTREAMS), 'aws:cdk:bundling-stacks': [] } });
    upstreamResources = Template.fromStack(createKeygateApp(app)).toJSON().Resources;
  }, SETUP_TIMEOUT_MS);
  const upstreamAlarm = (name: string) => ofType(upstreamResources, 'AWS::CloudWatch::Alarm').find(([, a]) => a.Properties!.AlarmName === `keygate-dev-${name}`)?.[1].Properties;

  it('each has an error-rate alarm: UpstreamErrors / UpstreamCalls of that upstream, judged from 10 calls, at 10% for two 5-minute periods', () => {
    for (const name of ['claude', 'agent']) {
      const a = upstreamAlarm(`Upstream-${name}-ErrorRate`)!;
      expect(expressionOf(a)).toBe('IF(calls >= 10, FILL(errors, 0) / calls, 0)');
      const stats = statsOf(a);
      expect(stats.map((st) => st.MetricName).sort()).toEqual(['UpstreamCalls', 'UpstreamErrors']);
      for (const st of stats) expect(dims(st)).toEqual({ service: 'keygate', stage: 'dev', Upstream: name });
      expect(a).toMatchObject({ Threshold: 0.1, EvaluationPeriods: 2, DatapointsToAlarm: 2, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    }
  });

  it("each has a first-byte alarm: p90 UpstreamTimeToFirstByte over half of that upstream's timeoutSeconds, for 15 minutes", () => {
    for (const [name, timeoutMs] of [['claude', 30_000], ['agent', 20_000]] as const) {
      const a = upstreamAlarm(`Upstream-${name}-FirstByteP90`)!;
      expect(expressionOf(a)).toBe(`ttfb / ${timeoutMs}`);
      const [st] = statsOf(a);
      expect(st).toMatchObject({ MetricName: 'UpstreamTimeToFirstByte', Namespace: 'Keygate', Stat: 'p90' });
      expect(dims(st!)).toEqual({ service: 'keygate', stage: 'dev', Upstream: name });
      expect(a).toMatchObject({ Threshold: 0.5, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    }
    expect(upstreamAlarm('Upstream-bedrock-ErrorRate')).toBeUndefined();
  });

  it('each has a dashboard row: calls and errors by kind, first byte and duration, tokens', () => {
    const [, dashboard] = single(upstreamResources, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties!.DashboardBody);
    for (const name of ['claude', 'agent']) {
      for (const title of [`Upstream ${name}: calls and errors by kind`, `Upstream ${name}: first byte / duration, p50 / p90 (ms)`, `Upstream ${name}: tokens in / out`]) {
        expect(body).toContain(title);
      }
      expect(body).toContain(`\\"UpstreamErrorsByKind\\",\\"Failure\\",\\"rate_limited\\",\\"Upstream\\",\\"${name}\\"`);
    }
    for (const metric of ['UpstreamCalls', 'UpstreamTimeToFirstByte', 'UpstreamDuration', 'UpstreamInputTokens', 'UpstreamOutputTokens']) expect(body).toContain(`\\"${metric}\\"`);
  });
});

describe('accounts created by invitations', () => {
  it('alarm at 50 UsersInvited in an hour (the management function counts each invitation that created an account)', () => {
    const a = alarm('UsersInvited');
    expect(statsOf(a)).toEqual([
      { MetricName: 'UsersInvited', Namespace: 'Keygate', Dimensions: expect.arrayContaining([{ Name: 'stage', Value: 'dev' }, { Name: 'service', Value: 'keygate' }]), Stat: 'Sum' },
    ]);
    expect(a).toMatchObject({ Threshold: 50, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
  });
});

describe('the dashboard', () => {
  it('is one dashboard named after the stage and region, showing every alarm and the application metrics by outcome', () => {
    const [, dashboard] = single(resources, 'AWS::CloudWatch::Dashboard');
    expect(dashboard.Properties!.DashboardName).toEqual({ 'Fn::Join': ['', ['keygate-dev-', { Ref: 'AWS::Region' }]] });
    const body = JSON.stringify(dashboard.Properties!.DashboardBody);
    const alarmIds = ofType(resources, 'AWS::CloudWatch::Alarm').map(([id]) => id);
    for (const id of alarmIds) expect(body).toContain(`"${id}","Arn"`);
    for (const outcome of ['admitted', 'rate_limited', 'no_credits', 'invalid_key', 'origin_refused', 'expired', 'disabled']) {
      expect(body).toContain(`\\"Outcome\\",\\"${outcome}\\"`);
    }
    for (const metric of ['ReplyTimeToFirstDelta', 'ReplyTime', 'Replies', 'CreditsSpent', 'StreamFailures', 'UsersInvited', 'WebhookDeliveries', 'ThrottledRequests', 'SystemErrors', 'ClaimedAccountConcurrency', '5XXError', 'ApproximateNumberOfMessagesVisible']) {
      expect(body).toContain(`\\"${metric}\\"`);
    }
    expect(outputs.DashboardName).toBeDefined();
  });
});

describe('API access logs', () => {
  it('are JSON with request id, route, status, latency and key id, kept 30 days', () => {
    const [, stage] = single(resources, 'AWS::ApiGateway::Stage');
    const format = JSON.parse(stage.Properties!.AccessLogSetting.Format);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      route: '$context.httpMethod $context.resourcePath',
      status: '$context.status',
      responseLatency: '$context.responseLatency',
      keyId: '$context.authorizer.principalId',
    });
    const logGroupId = stage.Properties!.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
    expect(resources[logGroupId]!.Properties!.RetentionInDays).toBe(30);
  });

  it('never name API Gateway\'s apiKey, a request header, a parameter or the body', () => {
    const [, stage] = single(resources, 'AWS::ApiGateway::Stage');
    const format: string = stage.Properties!.AccessLogSetting.Format;
    expect(format).not.toContain('$context.identity.apiKey');
    expect(format).not.toMatch(/header|authorization|x-api-key|cookie|\$input|\$method\.request|\$util/i);
    // Every value is one of the $context variables, with nothing that could carry a request's own text.
    for (const value of Object.values(JSON.parse(format) as Record<string, string>)) {
      expect(value).toMatch(/^\$context\.[A-Za-z.]+( \$context\.[A-Za-z.]+)*$/);
    }
  });
});

describe('the web ACL', () => {
  const rules = () => single(resources, 'AWS::WAFv2::WebACL')[1].Properties!.Rules as any[];

  it('is associated with the API stage, regional, allowing by default', () => {
    const [aclId, acl] = single(resources, 'AWS::WAFv2::WebACL');
    expect(acl.Properties).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    const [, association] = single(resources, 'AWS::WAFv2::WebACLAssociation');
    expect(association.Properties!.WebACLArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    const [stageId] = single(resources, 'AWS::ApiGateway::Stage');
    expect([...JSON.stringify(association.Properties!.ResourceArn).matchAll(/"Ref":"([^"]+)"/g)].map((m) => m[1])).toContain(stageId);
    expect(JSON.stringify(association.Properties!.ResourceArn)).toContain('/stages/');
  });

  const acl = () => single(resources, 'AWS::WAFv2::WebACL')[1].Properties!;
  const IS_OPTIONS = {
    ByteMatchStatement: {
      FieldToMatch: { Method: {} },
      PositionalConstraint: 'EXACTLY',
      SearchString: 'OPTIONS',
      TextTransformations: [{ Priority: 0, Type: 'NONE' }],
    },
  };
  /** A rule's custom response as a client gets it: status, headers by name, parsed JSON body. */
  function answerOf(ruleName: string): { status: number; headers: Record<string, string>; body?: unknown } {
    const response = rules().find((r) => r.Name === ruleName).Action.Block.CustomResponse;
    const headers = Object.fromEntries((response.ResponseHeaders ?? []).map((h: { Name: string; Value: string }) => [h.Name, h.Value]));
    const key = response.CustomResponseBodyKey;
    if (key) expect(acl().CustomResponseBodies[key].ContentType).toBe('APPLICATION_JSON');
    return { status: response.ResponseCode, headers, ...(key ? { body: JSON.parse(acl().CustomResponseBodies[key].Content) } : {}) };
  }

  const LABELLED = { LabelMatchStatement: { Scope: 'LABEL', Key: 'keygate:rate-limited' } };
  /** A secret key (cdk.json's prefix `sk_`) in X-API-Key, or as a Bearer token (scheme in any case). */
  const IS_SECRET_KEY = {
    OrStatement: {
      Statements: [
        {
          ByteMatchStatement: {
            FieldToMatch: { SingleHeader: { Name: 'x-api-key' } },
            PositionalConstraint: 'STARTS_WITH',
            SearchString: 'sk_',
            TextTransformations: [{ Priority: 0, Type: 'NONE' }],
          },
        },
        {
          ByteMatchStatement: {
            FieldToMatch: { SingleHeader: { Name: 'authorization' } },
            PositionalConstraint: 'STARTS_WITH',
            SearchString: 'bearer sk_',
            TextTransformations: [{ Priority: 0, Type: 'LOWERCASE' }],
          },
        },
      ],
    },
  };
  const RATE_LIMITED_BODY = {
    error: 'rate_limit_exceeded',
    message: 'Rate limit exceeded. Try again in 60 seconds.',
    code: 'RATE_LIMIT_EXCEEDED',
    retry_after: 60,
  };

  it('counts each client IP against the context rate over 5 minutes (preflights apart), labelling the requests over it', () => {
    const rate = rules().find((r) => r.Name === 'RatePerIp');
    expect(rate.Priority).toBe(0);
    expect(rate.Statement.RateBasedStatement).toEqual({
      Limit: 5000,
      AggregateKeyType: 'IP',
      EvaluationWindowSec: 300,
      ScopeDownStatement: { NotStatement: { Statement: IS_OPTIONS } },
    });
    // One counter per IP: the rule only labels, the rules after it block by that label.
    expect(rate.Action).toEqual({ Count: {} });
    expect(rate.RuleLabels).toEqual([{ Name: 'keygate:rate-limited' }]);
    expect(rules().filter((r) => r.Statement.RateBasedStatement && !r.Statement.RateBasedStatement.ScopeDownStatement.ByteMatchStatement)).toHaveLength(1);
  });

  it('answers a labelled request with the contract 429, without CORS headers for a secret key', () => {
    const secret = rules().find((r) => r.Name === 'RateLimitedSecretKey');
    const other = rules().find((r) => r.Name === 'RateLimited');
    // Labels are visible only to rules evaluated after the one that added them; the secret-key rule first.
    expect(secret.Priority).toBeGreaterThan(0);
    expect(other.Priority).toBe(secret.Priority + 1);
    expect(secret.Statement).toEqual({ AndStatement: { Statements: [LABELLED, IS_SECRET_KEY] } });
    expect(other.Statement).toEqual(LABELLED);

    const secretAnswer = answerOf('RateLimitedSecretKey');
    expect(secretAnswer.status).toBe(429);
    expect(secretAnswer.body).toEqual(RATE_LIMITED_BODY);
    expect(secretAnswer.headers).toEqual({ 'Retry-After': '60' });
    expect(Object.keys(secretAnswer.headers).filter((h) => h.toLowerCase().startsWith('access-control-'))).toEqual([]);

    // Otherwise readable by any page (WAF cannot echo the Origin), Retry-After included.
    const answer = answerOf('RateLimited');
    expect(answer.status).toBe(429);
    expect(answer.body).toEqual(RATE_LIMITED_BODY);
    expect(answer.headers['Retry-After']).toBe('60');
    expect(answer.headers['Access-Control-Allow-Origin']).toBe('*');
    expect(answer.headers['Access-Control-Expose-Headers']!.split(', ')).toContain('Retry-After');
  });

  it('counts preflights per IP too, answering a blocked one with a preflight so the page reaches the readable 429', () => {
    const preflight = rules().find((r) => r.Name === 'PreflightRatePerIp');
    expect(preflight.Priority).toBe(3);
    expect(preflight.Statement.RateBasedStatement).toEqual({ Limit: 5000, AggregateKeyType: 'IP', EvaluationWindowSec: 300, ScopeDownStatement: IS_OPTIONS });
    const answer = answerOf('PreflightRatePerIp');
    expect(answer.status).toBe(204);
    expect(answer.body).toBeUndefined();
    expect(answer.headers['Access-Control-Allow-Origin']).toBe('*');
    // Any header (the OpenAI SDKs send their own, and WAF cannot echo the ones asked for), Authorization named.
    expect(answer.headers['Access-Control-Allow-Headers']).toBe(`*, ${CORS_ALLOW_HEADERS}`);
    expect(answer.headers['Access-Control-Allow-Headers']!.split(', ')).toContain('Authorization');
    expect(Number(answer.headers['Access-Control-Max-Age'])).toBeGreaterThan(0);
    const methods = answer.headers['Access-Control-Allow-Methods']!.split(', ').sort();
    expect(methods).toEqual([...new Set([...DEPLOYED_ROUTES.map((r) => r.method), 'OPTIONS'])].sort());
  });

  it('refuses bodies over 64 KiB with the contract 413, inspecting the first 64 KB, readable by any page unless for a secret key', () => {
    const size = rules().find((r) => r.Name === 'BodySize');
    const secret = rules().find((r) => r.Name === 'BodySizeSecretKey');
    expect(size.Statement.SizeConstraintStatement).toMatchObject({
      FieldToMatch: { Body: { OversizeHandling: 'MATCH' } },
      ComparisonOperator: 'GT',
      Size: 65536,
    });
    expect(secret.Statement).toEqual({ AndStatement: { Statements: [size.Statement, IS_SECRET_KEY] } });
    expect(size.Priority).toBe(secret.Priority + 1);
    expect(acl().AssociationConfig).toEqual({ RequestBody: { API_GATEWAY: { DefaultSizeInspectionLimit: 'KB_64' } } });
    const body = { error: 'payload_too_large', message: 'Request body exceeds 64 KiB', code: 'PAYLOAD_TOO_LARGE' };
    const answer = answerOf('BodySize');
    expect(answer.status).toBe(413);
    expect(answer.body).toEqual(body);
    expect(answer.headers['Access-Control-Allow-Origin']).toBe('*');
    const secretAnswer = answerOf('BodySizeSecretKey');
    expect(secretAnswer.status).toBe(413);
    expect(secretAnswer.body).toEqual(body);
    expect(secretAnswer.headers).toEqual({});
  });

  it('never lets a page read an answer to a secret-key request', () => {
    const secretKeyRules = rules().filter((r) => JSON.stringify(r.Statement).includes(JSON.stringify(IS_SECRET_KEY)));
    expect(secretKeyRules.map((r) => r.Name).sort()).toEqual(['BodySizeSecretKey', 'RateLimitedSecretKey']);
    for (const rule of secretKeyRules) expect(answerOf(rule.Name).headers['Access-Control-Allow-Origin'], rule.Name).toBeUndefined();
  });

  it('keeps rule priorities unique', () => {
    const priorities = rules().map((r) => r.Priority);
    expect(new Set(priorities).size).toBe(priorities.length);
  });

  it('sends exactly the responses the browser test serves (WAF_BLOCK_RESPONSES)', () => {
    const byRule = {
      RateLimited: 'rateLimited',
      RateLimitedSecretKey: 'rateLimitedSecretKey',
      PreflightRatePerIp: 'preflight',
      BodySize: 'payloadTooLarge',
      BodySizeSecretKey: 'payloadTooLargeSecretKey',
    } as const;
    for (const [rule, key] of Object.entries(byRule)) {
      const expected = WAF_BLOCK_RESPONSES[key] as WafBlockResponse;
      expect(answerOf(rule), rule).toEqual({ status: expected.status, headers: expected.headers, ...(expected.body ? { body: expected.body } : {}) });
    }
  });

  it('custom response headers stay within what WAF accepts', () => {
    // CustomHTTPHeader: name ^[a-zA-Z0-9._$-]+$ (1..64), value 1..255; any name but Content-Type; no
    // duplicates; at most 100 custom response headers per web ACL (AWS WAF quotas).
    const all = rules().flatMap((r) => (r.Action?.Block?.CustomResponse?.ResponseHeaders ?? []) as { Name: string; Value: string }[]);
    expect(all.length).toBeGreaterThan(0);
    expect(all.length).toBeLessThanOrEqual(100);
    for (const rule of rules().filter((r) => r.Action?.Block?.CustomResponse)) {
      const headers = (rule.Action.Block.CustomResponse.ResponseHeaders ?? []) as { Name: string; Value: string }[];
      // Absent rather than empty: WAF refuses an empty list.
      if (rule.Action.Block.CustomResponse.ResponseHeaders !== undefined) expect(headers.length, rule.Name).toBeGreaterThan(0);
      const names = headers.map((h) => h.Name.toLowerCase());
      expect(new Set(names).size, rule.Name).toBe(names.length);
      expect(names).not.toContain('content-type');
      for (const { Name, Value } of headers) {
        expect(Name).toMatch(/^[a-zA-Z0-9._$-]{1,64}$/);
        expect(Value.length).toBeGreaterThan(0);
        expect(Value.length).toBeLessThanOrEqual(255);
      }
    }
  });

  it('graphs the requests each blocking rule blocked on the dashboard', () => {
    const [, dashboard] = single(resources, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties!.DashboardBody);
    const blocking = ['RateLimitedSecretKey', 'RateLimited', 'PreflightRatePerIp', 'BodySizeSecretKey', 'BodySize', 'IpReputation'];
    // Exactly these: the counting rule (RatePerIp) blocks nothing.
    const graphed = new Set([...body.matchAll(/keygate-dev-api-([A-Za-z]+)/g)].map((m) => m[1]));
    expect([...graphed].sort()).toEqual([...blocking].sort());
  });

  it('uses no managed rule group that reads request content (only the IP reputation list)', () => {
    const managed = rules().filter((r) => r.Statement.ManagedRuleGroupStatement).map((r) => r.Statement.ManagedRuleGroupStatement.Name);
    expect(managed).toEqual(['AWSManagedRulesAmazonIpReputationList']);
    expect(rules().map((r) => r.Name).sort()).toEqual(
      ['BodySize', 'BodySizeSecretKey', 'IpReputation', 'PreflightRatePerIp', 'RateLimited', 'RateLimitedSecretKey', 'RatePerIp'].sort(),
    );
  });
});
