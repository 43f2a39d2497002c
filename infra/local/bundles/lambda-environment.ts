// The environment a synthesized function gets: the variables its template sets, plus what the
// Lambda service itself sets, with each AWS resource the function would reach replaced by its local
// stand-in. Only variables the template sets are translated: a variable the stack forgot stays
// missing, so the bundle fails here as it would in AWS.
//   Ref to a DynamoDB table        -> the same table's name for the local stage (DynamoDB Local)
//   SESSION_SECRET_ARN (a secret)  -> SESSION_SECRET with the local secret (no Secrets Manager)
//   PORTAL_ISSUER / PORTAL_CLIENT_ID (Cognito) -> the local identity provider, and its key set in PORTAL_JWKS
//   KEYGATE_UPSTREAMS (or BEDROCK_MODEL_ID) -> the local runtime's own upstreams (its KEYGATE_UPSTREAMS,
//                                     read as local settings; echo without it): no Bedrock, no Secrets Manager
//   USER_DIRECTORY=cognito, USER_POOL_ID -> USER_DIRECTORY=local over the local user directory table
//   Arn of the KMS key (WEBHOOK_KMS_KEY_ID) -> a local key ARN, Encrypt/Decrypt on the local AWS endpoint
//   Ref to an SQS queue (WEBHOOK_QUEUE_URL, WEBHOOK_DLQ_URL) -> that queue's URL on the local AWS endpoint
//   (named after its logical id, since the stack leaves queue names to CloudFormation)
//   (a webhook function, i.e. one with WEBHOOK_QUEUE_URL) -> WEBHOOK_ALLOW_LOCAL=1 (127.0.0.1 receivers)
//                                     and the local runtime's WEBHOOK_RETRY_SCALE when one is given
//   (CloudWatch)                   -> POWERTOOLS_METRICS_DISABLED=true unless asked otherwise, as the source runtime
// and DYNAMODB_ENDPOINT for every function, plus AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL_SQS (the
// SDK's own endpoint settings) when there is a local AWS endpoint (aws-endpoint.ts). Any other
// intrinsic, and the KMS and SQS references without a local AWS endpoint, become `unresolved:<expression>`.
import { DEFAULT_UPSTREAM_ENV, UPSTREAMS_ENV, UPSTREAMS_LOCAL_ENV } from '../../../shared/chat/upstreams.ts';
import { LOCAL_TABLES, physicalTableName, TABLES, type TableDefinition } from '../../../shared/tables.ts';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from '../dev-token.ts';
import type { LocalSecrets } from '../local-secrets.ts';
import type { CfnResource, SynthesizedApp, SynthesizedFunction } from './assembly.ts';
import { LOCAL_ACCOUNT, type LocalAwsEndpoint } from './aws-endpoint.ts';

export interface LocalStandIns {
  /** Stage whose tables the local DynamoDB holds. */
  stage: string;
  dynamodbEndpoint: string;
  secrets: Pick<LocalSecrets, 'portalPublicJwk' | 'sessionSecret'>;
  region?: string;
  /** Overrides LOG_LEVEL (tests keep the functions quiet). */
  logLevel?: string;
  /** No CloudWatch locally: EMF metric lines off as in the source runtime (default true; the bench keeps them on, as in AWS). */
  metricsDisabled?: boolean;
  /** The local KMS and SQS endpoint (aws-endpoint.ts); without it the webhook functions' KMS key and queues stay unresolved. */
  aws?: Pick<LocalAwsEndpoint, 'url' | 'queueUrl'>;
  /** WEBHOOK_RETRY_SCALE for the webhook functions (the local runtime's shortened waits; default: the real schedule). */
  webhookRetryScale?: string;
}

/** Credentials Lambda puts in the environment of every function (fake here: DynamoDB Local accepts any). */
export const LAMBDA_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'ASIALOCALLAMBDAKEY00',
  AWS_SECRET_ACCESS_KEY: 'local-lambda-secret-access-key',
  AWS_SESSION_TOKEN: 'local-lambda-session-token',
};

function localTableName(resource: CfnResource, stage: string): string | undefined {
  const deployed = resource.Properties?.TableName;
  const templateStage = /^keygate-([^-]+)-/.exec(String(deployed))?.[1];
  const def = (Object.values(TABLES) as TableDefinition[]).find((t) => templateStage && physicalTableName(templateStage, t) === deployed);
  return def ? physicalTableName(stage, def) : undefined;
}

/** A stage-named resource (`keygate-<stage>-<rest>`) as the local stage names it. */
function localStageName(deployed: unknown, stage: string): string | undefined {
  const match = /^keygate-[^-]+-(.+)$/.exec(String(deployed));
  return match ? `keygate-${stage}-${match[1]}` : undefined;
}

/**
 * A queue's local name: its stage-named QueueName as the local stage names it, or, for a queue the
 * stack lets CloudFormation name (names must be unique per account and region), one made from its
 * logical id, which is stable across synths.
 */
function localQueueName(logicalId: string, resource: { Properties?: Record<string, any> }, stage: string): string {
  const named = resource.Properties?.QueueName;
  return named === undefined ? `keygate-${stage}-${logicalId}` : (localStageName(named, stage) ?? `keygate-${stage}-${logicalId}`);
}

/** The local names of the webhook queues: the deliveries queue is the one with a redrive policy, the dead-letter queue its target. */
export function webhookQueueNames(app: SynthesizedApp, stage: string): { deliveries: string; deadLetters: string } {
  const queues = Object.entries(app.resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  const deliveries = queues.find(([, r]) => r.Properties?.RedrivePolicy);
  const deadLetterId = deliveries?.[1].Properties?.RedrivePolicy?.deadLetterTargetArn?.['Fn::GetAtt']?.[0];
  const deadLetters = queues.find(([id]) => id === deadLetterId);
  const names = [deliveries, deadLetters].map((q) => q && localQueueName(q[0], q[1], stage));
  if (!names[0] || !names[1]) throw new Error('the template has no webhook delivery queue with a dead-letter queue (keygate-<stage>-…)');
  return { deliveries: names[0], deadLetters: names[1] };
}

/** The function's environment in the local stand-in world. */
export function lambdaEnvironment(app: SynthesizedApp, fn: SynthesizedFunction, local: LocalStandIns): Record<string, string> {
  const region = local.region ?? 'local';
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(fn.environment)) {
    if (typeof value === 'string') {
      env[name] = value;
      continue;
    }
    const ref = (value as { Ref?: string })?.Ref;
    const resource = ref ? app.resources[ref] : undefined;
    const [attOf, attribute] = ((value as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt'] ?? []) as (string | undefined)[];
    const attResource = attOf ? app.resources[attOf] : undefined;
    if (resource?.Type === 'AWS::DynamoDB::Table') {
      env[name] = localTableName(resource, local.stage) ?? `unresolved:${JSON.stringify(value)}`;
    } else if (name === 'SESSION_SECRET_ARN' && resource?.Type === 'AWS::SecretsManager::Secret') {
      env.SESSION_SECRET = local.secrets.sessionSecret;
    } else if (name === 'PORTAL_ISSUER') {
      env.PORTAL_ISSUER = LOCAL_ISSUER;
      env.PORTAL_JWKS = JSON.stringify({ keys: [local.secrets.portalPublicJwk] });
    } else if (name === 'PORTAL_CLIENT_ID' && resource?.Type === 'AWS::Cognito::UserPoolClient') {
      env.PORTAL_CLIENT_ID = LOCAL_CLIENT_ID;
    } else if (name === 'USER_POOL_ID' && resource?.Type === 'AWS::Cognito::UserPool') {
      env.LOCAL_USERS_TABLE = physicalTableName(local.stage, LOCAL_TABLES.localUsers);
    } else if (local.aws && attResource?.Type === 'AWS::KMS::Key' && attribute === 'Arn') {
      env[name] = `arn:aws:kms:${region}:${LOCAL_ACCOUNT}:key/${attOf}`;
    } else if (local.aws && ref && resource?.Type === 'AWS::SQS::Queue') {
      env[name] = local.aws.queueUrl(localQueueName(ref, resource, local.stage));
    } else {
      env[name] = `unresolved:${JSON.stringify(value)}`;
    }
  }
  if (env.BEDROCK_MODEL_ID !== undefined || env[UPSTREAMS_ENV] !== undefined) {
    delete env.BEDROCK_MODEL_ID;
    env[UPSTREAMS_LOCAL_ENV] = '1';
    env[UPSTREAMS_ENV] = process.env[UPSTREAMS_ENV] ?? '';
    env[DEFAULT_UPSTREAM_ENV] = process.env[DEFAULT_UPSTREAM_ENV] ?? '';
  }
  if (env.LOCAL_USERS_TABLE) env.USER_DIRECTORY = 'local';
  if (env.WEBHOOK_QUEUE_URL) {
    env.WEBHOOK_ALLOW_LOCAL = '1';
    if (local.webhookRetryScale) env.WEBHOOK_RETRY_SCALE = local.webhookRetryScale;
  }
  if (local.aws) Object.assign(env, { AWS_ENDPOINT_URL_KMS: local.aws.url, AWS_ENDPOINT_URL_SQS: local.aws.url });
  if (local.logLevel) env.LOG_LEVEL = local.logLevel;
  if (local.metricsDisabled ?? true) env.POWERTOOLS_METRICS_DISABLED = 'true';
  return { ...env, DYNAMODB_ENDPOINT: local.dynamodbEndpoint, ...lambdaServiceVariables(fn, region) };
}

/** What the Lambda service sets for every function ("Defined runtime environment variables"), credentials included. */
export function lambdaServiceVariables(fn: SynthesizedFunction, region: string): Record<string, string> {
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: 'local',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    LAMBDA_TASK_ROOT: fn.taskRoot,
    _HANDLER: fn.handler,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...LAMBDA_CREDENTIALS,
    // Read by lambda-runtime.ts for getRemainingTimeInMillis.
    KEYGATE_FUNCTION_TIMEOUT_MS: String(fn.timeoutSeconds * 1000),
  };
}
