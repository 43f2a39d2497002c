// Boot the whole local Keygate: DynamoDB Local (unless an endpoint is given), the tables, the
// environment the functions read (what the CDK stack sets in AWS), and the HTTP server.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalStandIns } from './bundles/lambda-environment.ts';
import { createTables, tableEnv } from './bootstrap.ts';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from './dev-token.ts';
import { localDynamoClient, startDynamoDbLocal } from './dynamodb-local.ts';
import { upstreamConfig } from '../../shared/chat/upstreams.ts';
import { SWEEP_EVERY_MS } from '../../shared/limits/credit-holds.ts';
import { loadLocalSecrets, type LocalSecrets } from './local-secrets.ts';
import type { DeliveryQueue } from '../../shared/webhooks/queue.ts';
import type { LocalWebhooks } from './webhooks.ts';

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
    // Members by email: the local user directory stands in for the Cognito user pool.
    USER_DIRECTORY: 'local',
    INITIAL_CREDITS: process.env.INITIAL_CREDITS ?? '100',
    MAX_ORGANIZATIONS_PER_USER: process.env.MAX_ORGANIZATIONS_PER_USER ?? '10',
    SECRET_KEY_PREFIX: process.env.SECRET_KEY_PREFIX ?? 'sk_',
    PUBLISHABLE_KEY_PREFIX: process.env.PUBLISHABLE_KEY_PREFIX ?? 'pk_',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
    // No CloudWatch here: EMF metric lines would only flood the console (POWERTOOLS_METRICS_DISABLED=false shows them).
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    // The API description also lists the local-only routes (POST /_dev/token).
    KEYGATE_LOCAL_RUNTIME: '1',
    // Webhooks (infra/local/webhooks.ts): http://localhost and http://127.0.0.1 receivers allowed,
    // secrets sealed with the local key (KMS in AWS), retry delays scaled by WEBHOOK_RETRY_SCALE.
    WEBHOOK_ALLOW_LOCAL: '1',
    WEBHOOK_SECRET_KEY: secrets.webhookSecretKey,
    WEBHOOK_RETRY_SCALE: process.env.WEBHOOK_RETRY_SCALE ?? '1',
  };
}

export interface BootOptions {
  port?: number;
  /** Keep data in memory only (default: persist under .keygate/dynamodb). */
  inMemory?: boolean;
  /** Use this DynamoDB instead of starting DynamoDB Local. */
  dynamodbEndpoint?: string;
  stage?: string;
  /**
   * Serve the synthesized Lambda bundles instead of the sources: `true` synthesizes the app first
   * (into a temporary directory), a string is the directory of an existing synth (cdk.out).
   */
  bundled?: boolean | string;
  /**
   * Webhook events: follow the tables' streams and run the expiry sweep on a timer (default on).
   * Deliveries queued by requests (the test route) run in process either way.
   */
  webhookEvents?: boolean;
}

export interface LocalKeygate {
  url: string;
  dynamodbEndpoint: string;
  secrets: LocalSecrets;
  webhooks: LocalWebhooks;
  /** Run the credit sweep now (it also runs every minute, CREDIT_SWEEP_INTERVAL_MS): the holds it settled. */
  sweepCredits(now?: Date): Promise<number>;
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
    Object.assign(process.env, localEnvironment({ dynamodbEndpoint: dynamo.endpoint, secrets, stage }));
    // A wrong KEYGATE_UPSTREAMS fails the boot with the field it names, not the first reply.
    upstreamConfig(process.env);
    const { startLocalWebhooks } = await import('./webhooks.ts');
    // Bundled: the functions run in their own processes and reach the local KMS and queue through
    // the local AWS endpoint, which feeds the webhooks' queue (started after the bundles, hence late-bound).
    let webhooks: LocalWebhooks | undefined;
    const bundles = options.bundled
      ? await startBundles(options.bundled, { stage, dynamodbEndpoint: dynamo.endpoint, secrets }, {
          send: (messages, delaySeconds) => webhooks!.queue.send(messages, delaySeconds),
          deadLetter: (message, reason) => webhooks!.queue.deadLetter(message, reason),
        })
      : undefined;
    try {
      webhooks = await startLocalWebhooks({
        client,
        endpoint: dynamo.endpoint,
        stage,
        events: options.webhookEvents ?? true,
        ...(bundles ? { workers: bundles.webhookWorkers } : {}),
      });
    } catch (error) {
      await bundles?.runtime.close();
      throw error;
    }
    client.destroy();
    // Imported only now: the functions read their environment when they load.
    const { startLocalApi } = await import('./server.ts');
    const running = webhooks;
    const api = await startLocalApi({
      port: options.port ?? 3000,
      portalPrivateJwk: secrets.portalPrivateJwk,
      portalPublicJwk: secrets.portalPublicJwk,
      ...(bundles ? { runtime: bundles.runtime } : {}),
    }).catch(async (error: unknown) => {
      await running.stop();
      await bundles?.runtime.close();
      throw error;
    });
    // The scheduled credit sweep (infra/constructs/credit-sweep.ts), in this process in both modes.
    const { sweepHolds } = await import('../../shared/db/credits.ts');
    const { describeError, logger } = await import('../../shared/log.ts');
    const sweepTimer = setInterval(() => {
      sweepHolds().catch((error: unknown) => logger.warn('local credit sweep failed', { error: describeError(error) }));
    }, Number(process.env.CREDIT_SWEEP_INTERVAL_MS ?? SWEEP_EVERY_MS));
    sweepTimer.unref();
    return {
      url: api.url,
      dynamodbEndpoint: dynamo.endpoint,
      secrets,
      webhooks: running,
      sweepCredits: (now) => sweepHolds(now),
      async stop() {
        clearInterval(sweepTimer);
        // Triggers first, so no delivery starts on a function that is already stopped.
        await running.stop();
        await api.close();
        await dynamo.stop();
      },
    };
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
}

/**
 * The synthesized bundles, every function started once (an init error fails the boot), with the
 * local AWS endpoint their KMS and SQS clients reach (its queues lead to `queue`) and the webhook
 * workers that invoke them.
 */
async function startBundles(bundled: true | string, local: Omit<LocalStandIns, 'logLevel' | 'aws' | 'secrets'> & { secrets: LocalSecrets }, queue: DeliveryQueue) {
  const { readAssembly, synthesizeApp } = await import('./bundles/assembly.ts');
  const { bundledRuntime } = await import('./bundles/runtime.ts');
  const { startLocalAwsEndpoint } = await import('./bundles/aws-endpoint.ts');
  const { webhookQueueNames } = await import('./bundles/lambda-environment.ts');
  const { bundledWebhookWorkers } = await import('./bundles/event-sources.ts');
  const app = bundled === true ? await synthesizeApp() : readAssembly(bundled);
  const removeSynth = () => {
    if (bundled === true) rmSync(app.outdir, { recursive: true, force: true });
  };
  const queues = webhookQueueNames(app, local.stage);
  const aws = await startLocalAwsEndpoint({
    webhookSecretKey: local.secrets.webhookSecretKey,
    queue,
    deliveryQueueName: queues.deliveries,
    deadLetterQueueName: queues.deadLetters,
  });
  const runtime = bundledRuntime(app, {
    ...local,
    aws,
    ...(process.env.LOG_LEVEL ? { logLevel: process.env.LOG_LEVEL } : {}),
    ...(process.env.WEBHOOK_RETRY_SCALE ? { webhookRetryScale: process.env.WEBHOOK_RETRY_SCALE } : {}),
    metricsDisabled: process.env.POWERTOOLS_METRICS_DISABLED !== 'false',
  });
  try {
    await runtime.warm();
  } catch (error) {
    runtime.close();
    await aws.close();
    removeSynth();
    throw error;
  }
  const close = runtime.close.bind(runtime);
  return {
    runtime: {
      ...runtime,
      async close() {
        close();
        await aws.close();
        removeSynth();
      },
    },
    webhookWorkers: bundledWebhookWorkers({ functions: runtime.functions, region: local.region ?? 'local', deliveryQueueName: queues.deliveries }),
  };
}
