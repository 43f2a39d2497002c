// Cold start of what Lambda runs: the bundles of a real `cdk synth`, each function found in the
// template (infra/local/bundles/assembly.ts), so a function added to the stack is measured too.
// For every function and for the baseline (a bundle holding only a default-config DynamoDBClient
// and one GetItem, built as the CDK builds ours but untrimmed, run with Lambda's default options):
// - size of what it reads at start: index.mjs and the chunks it imports statically (code splitting);
// - import: a fresh Node process loading the bundle with the Lambda runtime's contract
//   (infra/local/bundles/lambda-runtime.ts), wall and CPU time of the import;
// - first request: import plus the first invocation, answering a real request over DynamoDB Local
//   (through the local gateway for the functions, one GetItem for the baseline).
// Each round starts every function cold; the median of the rounds is reported.
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startupBytes, type SynthesizedApp, type SynthesizedFunction } from '../infra/local/bundles/assembly.ts';
import { LambdaInstance } from '../infra/local/bundles/lambda-host.ts';
import { lambdaServiceVariables, type LocalStandIns } from '../infra/local/bundles/lambda-environment.ts';
import { bundledRuntime } from '../infra/local/bundles/runtime.ts';
import { startLocalApi } from '../infra/local/server.ts';
import type { JWK } from 'jose';
import { ApiClient, portalUser } from '../test/support/api.ts';
import { buildBundles, type BundleResult } from './bundles.ts';
import { median } from './stats.ts';

export interface ColdStart {
  name: string;
  bytes: number;
  importMs: number;
  importCpuMs: number;
  /** Import + first invocation; undefined when the bench has no request for the function. */
  firstMs?: number;
  firstCpuMs?: number;
  /** What the first request was, or why there is none. */
  request: string;
}

/** The functions' log lines (their EMF metrics among them) are not the bench's output. */
const discard = () => undefined;

interface Sample {
  importMs: number;
  importCpuMs: number;
  firstMs?: number;
  firstCpuMs?: number;
}

/** One request per function of the route table, in an order where each makes what the next needs. */
async function coldRequests(base: string, secretKey: string, portal: ApiClient): Promise<Record<string, string>> {
  const key = new ApiClient(base, { 'X-API-Key': secretKey });
  const done: Record<string, string> = {};
  const expect = async (name: string, what: string, call: Promise<{ status: number; text: string }>, status: number) => {
    const res = await call;
    if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${res.text.slice(0, 160)}`);
    done[name] ??= what;
  };
  await expect('publicApi', 'GET /v1/auth/whoami', key.get('/v1/auth/whoami'), 200);
  done.authorizer = 'its verdict for GET /v1/auth/whoami';
  await expect('management', 'GET /v1/organizations', portal.get('/v1/organizations'), 200);
  await expect('export', 'GET /api/export?resource=sessions', key.get('/api/export?resource=sessions'), 200);
  const session = await key.post('/v1/chat/sessions', {});
  if (session.status !== 201) throw new Error(`POST /v1/chat/sessions: ${session.status} ${session.text.slice(0, 160)}`);
  const { sessionId, token } = session.body as { sessionId: string; token: string };
  const asSession = new ApiClient(base, { Authorization: `Bearer ${token}` });
  await expect('chatSession', 'GET /v1/chat/sessions/{id}/messages', asSession.get(`/v1/chat/sessions/${sessionId}/messages`), 200);
  await expect('chatStream', 'POST /v1/chat/sessions/{id}/messages (SSE)', asSession.post(`/v1/chat/sessions/${sessionId}/messages`, { content: 'cold' }), 200);
  return done;
}

export interface ColdStartInput {
  app: SynthesizedApp;
  local: LocalStandIns;
  portalPrivateJwk: JWK;
  /** A key of an organization with credits and generous limits. */
  secret: { id: string; key: string };
  apiKeysTable: string;
  rounds: number;
  tmp: string;
}

export async function measureColdStarts(input: ColdStartInput): Promise<{ functions: ColdStart[]; baseline: ColdStart }> {
  const { app, local, rounds } = input;
  const { baseline: built } = await buildBundles({}, input.tmp);
  const baselineFn = baselineFunction(built, input.tmp);
  const samples = new Map<string, Sample[]>(app.functions.map((fn) => [fn.name, []]));
  const baselineSamples: Sample[] = [];
  let requests: Record<string, string> = {};

  for (let round = 0; round < rounds; round++) {
    // The functions, each cold: a fresh runtime and gateway per round.
    const runtime = bundledRuntime(app, local, { output: discard });
    const api = await startLocalApi({ port: 0, portalPrivateJwk: input.portalPrivateJwk, runtime });
    try {
      const base = `http://127.0.0.1:${new URL(api.url).port}`;
      const portal = await portalUser(base, `bench-cold-${round}`);
      requests = await coldRequests(base, input.secret.key, portal);
      // A function no request reached is imported alone.
      for (const fn of app.functions) if (!runtime.functions.get(fn.name)!.environments.length) await runtime.functions.get(fn.name)!.warm();
      for (const fn of app.functions) {
        const env = runtime.functions.get(fn.name)!.environments[0]!;
        samples.get(fn.name)!.push({
          importMs: env.importMs,
          importCpuMs: env.importCpuMs,
          ...(env.first ? { firstMs: env.importMs + env.first.durationMs, firstCpuMs: env.importCpuMs + env.first.cpuMs } : {}),
        });
      }
    } finally {
      await api.close();
    }
    // The baseline, cold: its one GetItem of the bench key.
    const env = baselineEnvironment(baselineFn, local, input.apiKeysTable);
    const instance = await LambdaInstance.start(baselineFn, env, discard);
    try {
      const item = await instance.invoke({ id: input.secret.id });
      if (!item) throw new Error('the baseline GetItem found no item');
      baselineSamples.push({
        importMs: instance.importMs,
        importCpuMs: instance.importCpuMs,
        firstMs: instance.importMs + instance.first!.durationMs,
        firstCpuMs: instance.importCpuMs + instance.first!.cpuMs,
      });
    } finally {
      instance.close();
    }
  }

  const summarize = async (name: string, fn: SynthesizedFunction, list: Sample[], request: string): Promise<ColdStart> => {
    const firsts = list.filter((s) => s.firstMs !== undefined);
    return {
      name,
      bytes: await startupBytes(fn),
      importMs: median(list.map((s) => s.importMs)),
      importCpuMs: median(list.map((s) => s.importCpuMs)),
      ...(firsts.length
        ? { firstMs: median(firsts.map((s) => s.firstMs!)), firstCpuMs: median(firsts.map((s) => s.firstCpuMs!)) }
        : {}),
      request,
    };
  };
  return {
    functions: await Promise.all(
      app.functions.map((fn) => summarize(fn.name, fn, samples.get(fn.name)!, requests[fn.name] ?? 'none (no bench request for this function yet)')),
    ),
    baseline: await summarize('baseline', baselineFn, baselineSamples, 'GetItem of the bench key'),
  };
}

/** The baseline bundle as a Lambda function (handler index.handler in its own task root). */
function baselineFunction(built: BundleResult, tmp: string): SynthesizedFunction {
  if (!built.ok || !built.file) throw new Error(`baseline did not build: ${built.error}`);
  const taskRoot = join(tmp, 'baseline-task');
  mkdirSync(taskRoot, { recursive: true });
  // Only the .mjs: it runs as a default Lambda does, without source maps.
  cpSync(built.file, join(taskRoot, 'index.mjs'));
  return {
    logicalId: 'Baseline',
    functionName: 'keygate-bench-baseline',
    name: 'baseline',
    handler: 'index.handler',
    runtime: 'nodejs24.x',
    memorySize: 512,
    timeoutSeconds: 10,
    taskRoot,
    environment: {},
  };
}

/** Lambda's environment for the baseline: default client config, so the endpoint comes from AWS_ENDPOINT_URL_DYNAMODB. */
function baselineEnvironment(fn: SynthesizedFunction, local: LocalStandIns, apiKeysTable: string): Record<string, string> {
  return {
    API_KEYS_TABLE: apiKeysTable,
    AWS_ENDPOINT_URL_DYNAMODB: local.dynamodbEndpoint,
    ...lambdaServiceVariables(fn, local.region ?? 'local'),
  };
}
