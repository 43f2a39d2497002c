// What the figures after the first two measure against: the synthesized app, DynamoDB Local in
// memory and the local API in this process on a free loopback port, the counting middleware on
// every DynamoDB client, the bench's organization and keys, and the authorizer module.
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { ensureWebBuilt } from '../../web/build.ts';
import { bootLocalKeygate, type LocalKeygate } from '../../infra/local/environment.ts';
import { buildAuthorizerEvent, buildProxyEvent } from '../../infra/local/gateway.ts';
import { synthesizeApp, type SynthesizedApp } from '../../infra/local/bundles/assembly.ts';
import { AUTHORIZER_ENTRY, ROUTES, routeKey, type RouteDefinition } from '../../shared/routes.ts';
import { DynamoCounter, type Window } from '../dynamo-counter.ts';
import { createFixtures, moduleUrl, type Fixtures } from '../fixtures.ts';
import { elapsedMs, type Summary } from '../stats.ts';
import { detail, section } from './report.ts';

export const WHOAMI = 'GET /v1/auth/whoami';
export const SETTLE_MS = 25; // wait after each counted response for work left running in the background

export type Authorize = (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;

export interface BenchEnvironment {
  tmp: string;
  app: SynthesizedApp;
  keygate: LocalKeygate;
  port: string;
  base: string;
  fx: Fixtures;
  counter: DynamoCounter;
  authorize: Authorize;
  whoamiRoute: RouteDefinition;
  proxyEvent: (headers: Record<string, string>) => APIGatewayProxyEvent;
  authEvent: (key: string) => APIGatewayRequestAuthorizerEvent;
  /** What one figure measured that a later one (5, the cost) builds on. */
  results: {
    whoamiWindows?: Window[];
    authorizerSummary?: Summary;
    functionSummary?: Summary;
    functionReason: string;
  };
}

export function routeOf(key: string): RouteDefinition {
  const route = ROUTES.find((r) => routeKey(r) === key);
  if (!route) throw new Error(`route ${key} is not in shared/routes.ts`);
  return route;
}

/** Start everything; `started` receives the local environment as soon as it runs, so it can be stopped even if a later step throws. */
export async function startEnvironment(tmp: string, counter: DynamoCounter, started: (keygate: LocalKeygate) => void): Promise<BenchEnvironment> {
  section('Starting DynamoDB Local (in memory) and the local API in this process; bundling the functions');
  detail(`machine: ${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (1/5/15 min), Node ${process.version}`);
  // The stack serves the portal's and the widget's builds, so synth needs them (as infra/app.ts).
  await ensureWebBuilt();
  // Synthesized first (it bundles every function, blocking this process for a few seconds).
  const synthStarted = process.hrtime.bigint();
  const app = await synthesizeApp(join(tmp, 'cdk.out'));
  detail(`cdk synth with bundling: ${(elapsedMs(synthStarted) / 1000).toFixed(1)} s`);
  const keygate = await bootLocalKeygate({ port: 0, inMemory: true });
  started(keygate);
  const port = new URL(keygate.url).port;
  const base = `http://127.0.0.1:${port}`;
  detail(`local API on ${base}, DynamoDB Local on ${keygate.dynamodbEndpoint}`);

  // The project's two DynamoDB clients (created when their modules load, after the environment
  // is set), and any other DynamoDB client on its first call.
  const { countingDb, db } = await import('../../shared/db/client.ts');
  const { keyLookupClient } = await import('../../shared/db/key-lookup.ts');
  counter.instrument(db, 'db');
  counter.instrument(keyLookupClient, 'keyLookupClient');
  counter.instrument(countingDb, 'countingDb');
  counter.discover();

  const fx = await createFixtures(base);
  detail(`organization ${fx.orgId} on enterprise limits; keys ${fx.secret.id} (secret), ${fx.publishable.id} (publishable)`);

  const authorizerModule = (await import(moduleUrl(AUTHORIZER_ENTRY))) as { handler: Authorize };
  const whoamiRoute = routeOf(WHOAMI);
  const proxyEvent = (headers: Record<string, string>): APIGatewayProxyEvent =>
    buildProxyEvent(
      { method: 'GET', path: '/v1/auth/whoami', headers: { host: `127.0.0.1:${port}`, ...headers }, query: {}, body: null, sourceIp: '127.0.0.1' },
      whoamiRoute,
      {},
    );
  return {
    tmp,
    app,
    keygate,
    port,
    base,
    fx,
    counter,
    authorize: authorizerModule.handler,
    whoamiRoute,
    proxyEvent,
    authEvent: (key) => buildAuthorizerEvent(proxyEvent({ 'x-api-key': key }), whoamiRoute),
    results: { functionReason: '' },
  };
}
