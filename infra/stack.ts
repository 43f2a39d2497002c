// The Keygate stack: tables, functions, portal user pool, session secret and the REST API, for one
// stage. Environment-agnostic (no account, region or lookups), so it synthesizes offline.
import { resolve } from 'node:path';
import { App, CfnOutput, Duration, Stack, Tags, Validations, type StackProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { TABLES, tableOutputId, type TableKey } from '../shared/tables.ts';
import { KeygateApi } from './constructs/api.ts';
import { BEDROCK_MODEL_ENV, grantBedrockInvoke, grantBedrockModel, grantSecretKeys, grantSecretValues, KMS_KEY_ARN } from './constructs/bedrock-access.ts';
import {
  BEDROCK_UPSTREAM,
  DEFAULT_MAX_DURATION_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
  parseUpstreams,
  replyFunctionTimeoutSeconds,
  upstreamEnvironment,
  UpstreamConfigError,
  type UpstreamConfig,
} from '../shared/chat/upstreams.ts';
import { DEFAULT_BEDROCK_MODEL } from '../shared/chat/bedrock-model.ts';
import { DEPLOYED_FUNCTIONS, FUNCTION_SPECS, type DeployedFunctionName } from './constructs/function-specs.ts';
import { KeygateFunction } from './constructs/keygate-function.ts';
import { DEFAULT_ACCOUNT_CONCURRENCY_LIMIT } from './constructs/alarm-thresholds.ts';
import { KeygateOperations } from './constructs/operations.ts';
import { DEFAULT_API_THROTTLE_RATE } from './constructs/api.ts';
import { DEFAULT_WAF_RATE_LIMIT_PER_IP, KeygateWaf, WAF_RULES } from './constructs/waf.ts';
import { PortalHosting } from './constructs/portal-hosting.ts';
import { WidgetHosting } from './constructs/widget-hosting.ts';
import { WIDGET_DIST } from '../web/build.ts';
import { PortalUserPool } from './constructs/portal-user-pool.ts';
import { SessionSigningSecret } from './constructs/session-secret.ts';
import { KeygateTables, type TableAccess } from './constructs/tables.ts';
import { KeygateWebhooks } from './constructs/webhooks.ts';
import { CreditSweep } from './constructs/credit-sweep.ts';

export interface KeygateConfig {
  stage: string;
  secretKeyPrefix: string;
  publishableKeyPrefix: string;
  initialCredits: number;
  maxOrganizationsPerUser: number;
  /** Model or inference profile id replies come from (context `bedrockModelId`, default DEFAULT_BEDROCK_MODEL). */
  bedrockModelId: string;
  /**
   * The chat upstreams (context `upstreams`, validated with AWS rules, and `defaultUpstream`). Absent:
   * the one bedrock upstream on bedrockModelId.
   */
  upstreams?: UpstreamConfig;
  /**
   * Customer-managed KMS keys (ARNs) that encrypt the upstreams' secrets (context
   * `upstreamSecretKeys`): the reply function may kms:Decrypt with them through Secrets Manager.
   */
  upstreamSecretKeys: string[];
  /** Alarm notifications go to this address (context `alarmEmail`); none without it. */
  alarmEmail?: string;
  /** The account's Lambda concurrency quota, for the concurrency alarm (context `accountConcurrencyLimit`). */
  accountConcurrencyLimit: number;
  /** The user pool's email through SES (context `sesFromAddress`, and `sesIdentity` when the domain is the verified identity). */
  ses?: { fromAddress: string; identity: string };
  /** Deletion protection on the durable tables and the user pool (context `deletionProtection`, default false). */
  deletionProtection: boolean;
  /** Create the account's API Gateway CloudWatch Logs role (context `apiGatewayCloudWatchRole`, default true). */
  apiGatewayCloudWatchRole: boolean;
  /** Requests per client IP per 5 minutes before the web ACL answers 429 (context `wafRateLimitPerIp`). */
  wafRateLimitPerIp: number;
  /** The stage's throttle: steady requests/s and burst (context `apiThrottleRate`, `apiThrottleBurst`). */
  apiThrottle: { rate: number; burst: number };
}

export interface KeygateStackProps extends StackProps {
  config: KeygateConfig;
}

export class KeygateStack extends Stack {
  readonly tables: KeygateTables;
  readonly functions: Record<DeployedFunctionName, KeygateFunction>;
  readonly portal: PortalUserPool;
  readonly portalHosting: PortalHosting;
  readonly sessionSecret: SessionSigningSecret;
  readonly api: KeygateApi;
  readonly operations: KeygateOperations;
  readonly waf: KeygateWaf;
  /** Webhook queue, dead-letter queue (alarmed on), KMS key and expiry schedule. */
  readonly webhooks: KeygateWebhooks;

  constructor(scope: Construct, id: string, props: KeygateStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { stage } = config;

    this.tables = new KeygateTables(this, 'Tables', { stage, deletionProtection: config.deletionProtection });
    this.portal = new PortalUserPool(this, 'Portal', { stage, deletionProtection: config.deletionProtection, ...(config.ses ? { ses: config.ses } : {}) });
    this.sessionSecret = new SessionSigningSecret(this, 'SessionSigningSecret', { stage });

    const shared = {
      SECRET_KEY_PREFIX: config.secretKeyPrefix,
      PUBLISHABLE_KEY_PREFIX: config.publishableKeyPrefix,
    };
    const perFunction: Partial<Record<DeployedFunctionName, Record<string, string>>> = {
      management: {
        PORTAL_ISSUER: this.portal.issuer,
        INITIAL_CREDITS: String(config.initialCredits),
        MAX_ORGANIZATIONS_PER_USER: String(config.maxOrganizationsPerUser),
      },
    };

    const functions = {} as Record<DeployedFunctionName, KeygateFunction>;
    for (const name of DEPLOYED_FUNCTIONS) {
      const spec = FUNCTION_SPECS[name];
      const fn = new KeygateFunction(this, `${name[0]!.toUpperCase()}${name.slice(1)}`, {
        stage,
        name,
        entry: spec.entry,
        memorySize: spec.memorySize,
        timeout: name === 'chatStream' ? replyFunctionTimeout(config, spec.timeout) : spec.timeout,
        environment: { ...shared, ...perFunction[name] },
      });
      for (const [table, access] of Object.entries(spec.tables) as [TableKey, TableAccess][]) {
        this.tables.bindTable(fn.function, table, access);
      }
      if (spec.sessionSecret) this.sessionSecret.bindReader(fn.function);
      if (config.upstreams) {
        if (spec.bedrock || spec.upstreamSettings) {
          for (const [key, value] of Object.entries(upstreamEnvironment(config.upstreams))) fn.function.addEnvironment(key, value);
        }
        // Only the functions that reply call upstreams: the others read the settings, never a model or secret.
        if (spec.bedrock) {
          grantUpstreams(fn.function, config.upstreams);
          grantSecretKeys(fn.function, config.upstreamSecretKeys);
        }
      } else if (spec.bedrock) grantBedrockModel(fn.function, config.bedrockModelId);
      else if (spec.upstreamSettings) fn.function.addEnvironment(BEDROCK_MODEL_ENV, config.bedrockModelId);
      if (spec.userDirectory) this.portal.bindUserDirectory(fn.function);
      functions[name] = fn;
    }
    this.functions = functions;

    this.api = new KeygateApi(this, 'Api', {
      stage,
      streamTimeout: Duration.seconds(functions.chatStream.function.timeout!.toSeconds() + STREAM_INTEGRATION_MARGIN_SECONDS),
      cloudWatchRole: config.apiGatewayCloudWatchRole,
      throttle: config.apiThrottle,
      functions: Object.fromEntries(DEPLOYED_FUNCTIONS.map((name) => [name, functions[name].function])) as Record<
        DeployedFunctionName,
        KeygateFunction['function']
      >,
    });

    this.operations = new KeygateOperations(this, 'Operations', {
      stage,
      api: this.api.restApi,
      functions: Object.fromEntries(DEPLOYED_FUNCTIONS.map((name) => [name, functions[name].function])) as Record<
        DeployedFunctionName,
        KeygateFunction['function']
      >,
      tables: this.tables.tables,
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
      accountConcurrencyLimit: config.accountConcurrencyLimit,
    });

    this.operations.watchUpstreams(deployedUpstreams(config).upstreams);

    this.webhooks = new KeygateWebhooks(this, 'Webhooks', {
      stage,
      apiKeysTable: this.tables.tables.apiKeys,
      organizationsTable: this.tables.tables.organizations,
      management: functions.management.function,
      events: functions.webhookEvents.function,
      delivery: functions.webhookDelivery.function,
      sweep: functions.expirySweep.function,
    });
    this.operations.alarmOnDeadLetterQueue('WebhookDeadLetters', this.webhooks.deadLetterQueue);
    new CreditSweep(this, 'CreditHoldSweep', { stage, sweep: functions.creditSweep.function });

    this.waf = new KeygateWaf(this, 'Waf', { stage, api: this.api.restApi, rateLimitPerIp: config.wafRateLimitPerIp, secretKeyPrefix: config.secretKeyPrefix });
    this.operations.addGraph(
      'Requests blocked by the web ACL',
      (Object.keys(WAF_RULES) as (keyof typeof WAF_RULES)[]).map((rule) => this.waf.blockedRequests(rule)),
    );

    // The portal: its hosting needs the API (CSP, config.json); its app client needs the hosting's URL;
    // the management function then learns the client id and answers CORS for that origin only.
    const apiOrigin = `https://${this.api.restApi.restApiId}.execute-api.${this.region}.${this.urlSuffix}`;
    this.portalHosting = new PortalHosting(this, 'PortalHosting', {
      stage,
      assetsDir: PORTAL_ASSETS_DIR,
      connectSrc: [apiOrigin, `https://cognito-idp.${this.region}.amazonaws.com`, this.portal.domain.baseUrl()],
    });
    const portalClient = this.portal.addPortalClient(this.portalHosting.url, stage);
    this.portalHosting.deploy(PORTAL_ASSETS_DIR, {
      apiUrl: this.api.restApi.url,
      authority: this.portal.issuer,
      clientId: portalClient.userPoolClientId,
      signOutUrl: this.portal.signOutUrl,
      scope: 'openid email profile',
    });
    // widget.js beside the portal (docs/api.md "Chat widget"): config.json above names the API for it.
    new WidgetHosting(this, 'WidgetHosting', {
      distribution: this.portalHosting.distribution,
      origin: this.portalHosting.origin,
      bucket: this.portalHosting.bucket,
      widgetDir: WIDGET_DIST,
    });
    functions.management.function.addEnvironment('PORTAL_CLIENT_ID', portalClient.userPoolClientId);
    functions.management.function.addEnvironment('PORTAL_ORIGINS', this.portalHosting.url);
    this.api.allowPortalPreflights(this.portalHosting.url);

    new CfnOutput(this, 'PortalUrl', { value: `${this.portalHosting.url}/`, description: 'The portal (sign in here)' });
    new CfnOutput(this, 'CognitoDomain', { value: this.portal.domain.baseUrl(), description: 'Managed login of the user pool' });
    new CfnOutput(this, 'ApiUrl', { value: this.api.restApi.url, description: 'Base URL of the stage' });
    new CfnOutput(this, 'UserPoolId', { value: this.portal.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.portal.client.userPoolClientId });
    new CfnOutput(this, 'PortalIssuer', { value: this.portal.issuer });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.operations.topic.topicArn, description: 'SNS topic of every alarm' });
    new CfnOutput(this, 'DashboardName', { value: this.operations.dashboard.dashboardName });
    new CfnOutput(this, 'WebhookQueueUrl', { value: this.webhooks.deliveryQueue.queueUrl });
    new CfnOutput(this, 'WebhookDeadLetterQueueUrl', { value: this.webhooks.deadLetterQueue.queueUrl });
    for (const key of Object.keys(TABLES) as TableKey[]) {
      new CfnOutput(this, tableOutputId(key), { value: this.tables.tables[key].tableName });
    }
  }
}

export { tableOutputId };

/** The stream integration waits a little longer than the function, so the function ends the response. */
const STREAM_INTEGRATION_MARGIN_SECONDS = 5;

/** The upstreams a stack deploys: context `upstreams`, or the one bedrock upstream on bedrockModelId. */
export function deployedUpstreams(config: Pick<KeygateConfig, 'upstreams' | 'bedrockModelId'>): UpstreamConfig {
  return (
    config.upstreams ?? {
      upstreams: [
        { name: BEDROCK_UPSTREAM, kind: 'bedrock', models: [config.bedrockModelId], timeoutSeconds: DEFAULT_TIMEOUT_SECONDS, maxDurationSeconds: DEFAULT_MAX_DURATION_SECONDS },
      ],
      defaultUpstream: BEDROCK_UPSTREAM,
    }
  );
}

/** The reply function outlives the longest upstream reply (maxDurationSeconds) by a margin, within Lambda's limit. */
export function replyFunctionTimeout(config: Pick<KeygateConfig, 'upstreams' | 'bedrockModelId'>, base: Duration): Duration {
  return Duration.seconds(Math.max(base.toSeconds(), replyFunctionTimeoutSeconds(deployedUpstreams(config))));
}

/** Every model of the bedrock upstreams, and every secret the upstreams name. */
function grantUpstreams(fn: KeygateFunction['function'], config: UpstreamConfig): void {
  const models = [...new Set(config.upstreams.flatMap((u) => (u.kind === 'bedrock' ? u.models : [])))];
  models.forEach((model, i) => grantBedrockInvoke(fn, model, i === 0 ? '' : String(i + 1)));
  const secrets = config.upstreams.flatMap((u) =>
    u.kind === 'openai' && u.apiKeySecretName ? [u.apiKeySecretName] : u.kind === 'http' && u.signingSecretName ? [u.signingSecretName] : [],
  );
  grantSecretValues(fn, secrets);
}

/** Context `upstreams` (a JSON string, or an object in cdk.json) and `defaultUpstream`, checked as AWS settings. */
function upstreamsFromContext(app: App): UpstreamConfig | undefined {
  const upstreams: unknown = app.node.tryGetContext('upstreams');
  const defaultUpstream: unknown = app.node.tryGetContext('defaultUpstream');
  const given = upstreams !== undefined && upstreams !== null && upstreams !== '';
  try {
    const config = parseUpstreams(given ? upstreams : undefined, defaultUpstream, 'aws');
    return given ? config : undefined;
  } catch (error) {
    if (error instanceof UpstreamConfigError) throw new Error(`Invalid CDK context upstreams/defaultUpstream: ${error.message}`);
    throw error;
  }
}

/** Context `upstreamSecretKeys`: KMS key ARNs, as a JSON array or a comma-separated list; only with upstreams that name secrets. */
function upstreamSecretKeysFromContext(app: App, upstreams: UpstreamConfig | undefined): string[] {
  const raw: unknown = app.node.tryGetContext('upstreamSecretKeys');
  if (raw === undefined || raw === null || raw === '') return [];
  let list: unknown = raw;
  if (typeof raw === 'string') {
    try {
      list = raw.trim().startsWith('[') ? JSON.parse(raw) : raw.split(',').map((k) => k.trim());
    } catch {
      list = undefined;
    }
  }
  if (!Array.isArray(list) || list.some((k) => typeof k !== 'string' || !KMS_KEY_ARN.test(k))) {
    throw new Error('upstreamSecretKeys must be KMS key ARNs (arn:aws:kms:<region>:<account>:key/<id>; not aliases)');
  }
  const secrets = upstreams?.upstreams.some((u) => (u.kind === 'openai' && u.apiKeySecretName) || (u.kind === 'http' && u.signingSecretName));
  if (!secrets) throw new Error('upstreamSecretKeys is set but no upstream names a secret (apiKeySecretName, signingSecretName)');
  return list as string[];
}

/** The portal build the stack uploads (infra/app.ts builds it before synthesizing). */
export const PORTAL_ASSETS_DIR = resolve(import.meta.dirname, '../web/dist/portal');

function contextString(app: App, key: string): string {
  const value: unknown = app.node.tryGetContext(key);
  if (typeof value !== 'string' || value === '') throw new Error(`CDK context "${key}" must be a non-empty string`);
  return value;
}

/** A true/false context value (`-c key=true` arrives as a string). */
function contextBoolean(app: App, key: string, fallback: boolean): boolean {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined) return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`CDK context "${key}" must be true or false`);
}

/** Deploy settings from CDK context (cdk.json, or `-c key=value`). */
export function configFromContext(app: App): KeygateConfig {
  const stage = contextString(app, 'stage');
  // The stage names tables, functions and the stack: keep it short and lowercase.
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(stage)) throw new Error(`Invalid stage "${stage}": use [a-z][a-z0-9-]{0,15}`);
  const secretKeyPrefix = contextString(app, 'secretKeyPrefix');
  const publishableKeyPrefix = contextString(app, 'publishableKeyPrefix');
  for (const prefix of [secretKeyPrefix, publishableKeyPrefix]) {
    if (!/^[A-Za-z0-9_]{1,16}$/.test(prefix)) throw new Error(`Invalid key prefix "${prefix}"`);
  }
  if (secretKeyPrefix === publishableKeyPrefix) throw new Error('Secret and publishable key prefixes must differ');
  const initialCredits = Number(app.node.tryGetContext('initialCredits'));
  if (!Number.isSafeInteger(initialCredits) || initialCredits < 0) throw new Error('initialCredits must be an integer >= 0');
  const maxOrganizationsPerUser = Number(app.node.tryGetContext('maxOrganizationsPerUser') ?? 10);
  if (!Number.isSafeInteger(maxOrganizationsPerUser) || maxOrganizationsPerUser < 1) {
    throw new Error('maxOrganizationsPerUser must be an integer >= 1');
  }
  const bedrockModelId = app.node.tryGetContext('bedrockModelId') === undefined ? DEFAULT_BEDROCK_MODEL : contextString(app, 'bedrockModelId');
  const upstreams = upstreamsFromContext(app);
  const upstreamSecretKeys = upstreamSecretKeysFromContext(app, upstreams);
  const alarmEmail: unknown = app.node.tryGetContext('alarmEmail');
  if (alarmEmail !== undefined && alarmEmail !== '' && (typeof alarmEmail !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail))) {
    throw new Error(`alarmEmail must be an email address, got "${String(alarmEmail)}"`);
  }
  const accountConcurrencyLimit = Number(app.node.tryGetContext('accountConcurrencyLimit') ?? DEFAULT_ACCOUNT_CONCURRENCY_LIMIT);
  if (!Number.isSafeInteger(accountConcurrencyLimit) || accountConcurrencyLimit < 1) {
    throw new Error('accountConcurrencyLimit must be an integer >= 1');
  }
  const wafRateLimitPerIp = Number(app.node.tryGetContext('wafRateLimitPerIp') ?? DEFAULT_WAF_RATE_LIMIT_PER_IP);
  // WAF's own bounds for a rate-based rule over a 5-minute window.
  if (!Number.isSafeInteger(wafRateLimitPerIp) || wafRateLimitPerIp < 100 || wafRateLimitPerIp > 2_000_000_000) {
    throw new Error('wafRateLimitPerIp must be an integer from 100 to 2,000,000,000 (requests per IP per 5 minutes)');
  }
  const apiThrottleRate = Number(app.node.tryGetContext('apiThrottleRate') ?? DEFAULT_API_THROTTLE_RATE);
  if (!Number.isSafeInteger(apiThrottleRate) || apiThrottleRate < 1) throw new Error('apiThrottleRate must be an integer >= 1 (requests per second)');
  // Twice the steady rate by default, capped at the account's default burst quota (5,000 per region).
  const apiThrottleBurst = Number(app.node.tryGetContext('apiThrottleBurst') ?? Math.min(5_000, apiThrottleRate * 2));
  if (!Number.isSafeInteger(apiThrottleBurst) || apiThrottleBurst < 1) throw new Error('apiThrottleBurst must be an integer >= 1 (requests)');
  const apiGatewayCloudWatchRole = contextBoolean(app, 'apiGatewayCloudWatchRole', true);
  const deletionProtection = contextBoolean(app, 'deletionProtection', false);
  const sesFromAddress: unknown = app.node.tryGetContext('sesFromAddress');
  if (sesFromAddress !== undefined && sesFromAddress !== '' && (typeof sesFromAddress !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(sesFromAddress))) {
    throw new Error(`sesFromAddress must be an email address, got "${String(sesFromAddress)}"`);
  }
  const sesIdentity: unknown = app.node.tryGetContext('sesIdentity');
  const ses =
    typeof sesFromAddress === 'string' && sesFromAddress !== ''
      ? { fromAddress: sesFromAddress, identity: typeof sesIdentity === 'string' && sesIdentity !== '' ? sesIdentity : sesFromAddress }
      : undefined;
  return {
    stage,
    apiGatewayCloudWatchRole,
    deletionProtection,
    ...(ses ? { ses } : {}),
    secretKeyPrefix,
    publishableKeyPrefix,
    initialCredits,
    maxOrganizationsPerUser,
    bedrockModelId,
    ...(upstreams ? { upstreams } : {}),
    upstreamSecretKeys,
    ...(typeof alarmEmail === 'string' && alarmEmail !== '' ? { alarmEmail } : {}),
    accountConcurrencyLimit,
    wafRateLimitPerIp,
    apiThrottle: { rate: apiThrottleRate, burst: apiThrottleBurst },
  };
}

/**
 * The stack for the stage in context, named `Keygate-<stage>`, with cdk-nag's AwsSolutions pack
 * run at synthesis (unacknowledged errors fail the synth) and acknowledgements written into the
 * template metadata for audit.
 */
export function createKeygateApp(app: App): KeygateStack {
  const config = configFromContext(app);
  const stack = new KeygateStack(app, `Keygate-${config.stage}`, {
    config,
    description: `Keygate (${config.stage}): serverless API keys in front of a chat API`,
  });
  Tags.of(stack).add('project', 'keygate');
  Tags.of(stack).add('stage', config.stage);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }));
  return stack;
}
