// Boot the whole local Keygate: DynamoDB Local (unless an endpoint is given), the tables, the
// environment the functions read (what the CDK stack sets in AWS), and the HTTP server.
import { join, resolve } from 'node:path';
import { createTables, tableEnv } from './bootstrap.ts';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from './dev-token.ts';
import { localDynamoClient, startDynamoDbLocal } from './dynamodb-local.ts';
import { loadLocalSecrets, type LocalSecrets } from './local-secrets.ts';

export const LOCAL_STAGE = 'local';
export const STATE_DIR = resolve(import.meta.dirname, '../../.keygate');

export interface LocalEnvOptions {
  dynamodbEndpoint: string;
  secrets: LocalSecrets;
  stage?: string;
}

/** The functions' environment, as the CDK stack would set it. */
export function localEnvironment({ dynamodbEndpoint, secrets, stage = LOCAL_STAGE }: LocalEnvOptions): Record<string, string> {
  return {
    ...tableEnv(stage),
    STAGE: stage,
    DYNAMODB_ENDPOINT: dynamodbEndpoint,
    AWS_REGION: process.env.AWS_REGION ?? 'local',
    PORTAL_ISSUER: LOCAL_ISSUER,
    PORTAL_CLIENT_ID: LOCAL_CLIENT_ID,
    PORTAL_JWKS: JSON.stringify({ keys: [secrets.portalPublicJwk] }),
    SESSION_SECRET: secrets.sessionSecret,
    CHAT_BACKEND: 'local',
    INITIAL_CREDITS: process.env.INITIAL_CREDITS ?? '100',
    SECRET_KEY_PREFIX: process.env.SECRET_KEY_PREFIX ?? 'sk_',
    PUBLISHABLE_KEY_PREFIX: process.env.PUBLISHABLE_KEY_PREFIX ?? 'pk_',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
    // No CloudWatch here: EMF metric lines would only flood the console (POWERTOOLS_METRICS_DISABLED=false shows them).
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
  };
}

export interface BootOptions {
  port?: number;
  /** Keep data in memory only (default: persist under .keygate/dynamodb). */
  inMemory?: boolean;
  /** Use this DynamoDB instead of starting DynamoDB Local. */
  dynamodbEndpoint?: string;
  stage?: string;
}

export interface LocalKeygate {
  url: string;
  dynamodbEndpoint: string;
  secrets: LocalSecrets;
  stop(): Promise<void>;
}

export async function bootLocalKeygate(options: BootOptions = {}): Promise<LocalKeygate> {
  const dynamo = options.dynamodbEndpoint
    ? { endpoint: options.dynamodbEndpoint, stop: async () => undefined }
    : await startDynamoDbLocal(options.inMemory ? {} : { dataDir: join(STATE_DIR, 'dynamodb') });
  try {
    const secrets = await loadLocalSecrets(options.inMemory ? undefined : STATE_DIR);
    const stage = options.stage ?? LOCAL_STAGE;
    const client = localDynamoClient(dynamo.endpoint);
    await createTables(client, stage);
    client.destroy();
    Object.assign(process.env, localEnvironment({ dynamodbEndpoint: dynamo.endpoint, secrets, stage }));
    // Imported only now: the functions read their environment when they load.
    const { startLocalApi } = await import('./server.ts');
    const api = await startLocalApi({ port: options.port ?? 3000, portalPrivateJwk: secrets.portalPrivateJwk });
    return {
      url: api.url,
      dynamodbEndpoint: dynamo.endpoint,
      secrets,
      async stop() {
        await api.close();
        await dynamo.stop();
      },
    };
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
}
