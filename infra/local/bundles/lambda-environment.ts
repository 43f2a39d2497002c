// The environment a synthesized function gets: the variables its template sets, plus what the
// Lambda service itself sets, with each AWS resource the function would reach replaced by its local
// stand-in. Only variables the template sets are translated: a variable the stack forgot stays
// missing, so the bundle fails here as it would in AWS.
//   Ref to a DynamoDB table        -> the same table's name for the local stage (DynamoDB Local)
//   SESSION_SECRET_ARN (a secret)  -> SESSION_SECRET with the local secret (no Secrets Manager)
//   PORTAL_ISSUER / PORTAL_CLIENT_ID (Cognito) -> the local identity provider, and its key set in PORTAL_JWKS
//   BEDROCK_MODEL_ID               -> kept, plus CHAT_BACKEND=local (no Bedrock)
//   USER_DIRECTORY=cognito, USER_POOL_ID -> USER_DIRECTORY=local over the local user directory table
//   (CloudWatch)                   -> POWERTOOLS_METRICS_DISABLED=true unless asked otherwise, as the source runtime
// and DYNAMODB_ENDPOINT for every function. Any other intrinsic becomes `unresolved:<expression>`.
import { LOCAL_TABLES, physicalTableName, TABLES, type TableDefinition } from '../../../shared/tables.ts';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from '../dev-token.ts';
import type { LocalSecrets } from '../local-secrets.ts';
import type { CfnResource, SynthesizedApp, SynthesizedFunction } from './assembly.ts';

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
    } else {
      env[name] = `unresolved:${JSON.stringify(value)}`;
    }
  }
  if (env.BEDROCK_MODEL_ID) env.CHAT_BACKEND = 'local';
  if (env.LOCAL_USERS_TABLE) env.USER_DIRECTORY = 'local';
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
