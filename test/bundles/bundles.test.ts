// What Lambda runs, run: the bundles of this run's real `cdk synth` (test/support/synth-setup.ts),
// each function in fresh Node processes with the Lambda runtime's handler contract and the
// environment its template sets (infra/local/bundles/), behind the local API gateway, over
// DynamoDB Local, with KMS and SQS on the local AWS endpoint. Expected answers are the ones docs/api.md gives.
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildBundles } from '../../bench/bundles.ts';
import { DEPLOYED_FUNCTIONS } from '../../infra/constructs/function-specs.ts';
import { FUNCTION_BUILD } from '../../infra/constructs/keygate-function.ts';
import { handlerModule, moduleFiles, readAssembly, startupBytes, startupFiles, unresolvedImports, type SynthesizedFunction } from '../../infra/local/bundles/assembly.ts';
import { startLocalAwsEndpoint } from '../../infra/local/bundles/aws-endpoint.ts';
import { LambdaInstance } from '../../infra/local/bundles/lambda-host.ts';
import { lambdaEnvironment } from '../../infra/local/bundles/lambda-environment.ts';
import { bundledRuntime } from '../../infra/local/bundles/runtime.ts';
import { freePort } from '../../infra/local/dynamodb-local.ts';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { startLocalApi, type LocalApi } from '../../infra/local/server.ts';
import { db } from '../../shared/db/client.ts';
import { FUNCTION_ENTRIES } from '../../shared/routes.ts';
import { physicalTableName, TABLES } from '../../shared/tables.ts';
import type { DeliveryMessage } from '../../shared/webhooks/queue.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';
import { Receiver, verifySignature } from '../support/webhook-receiver.ts';
import { TEST_STAGE } from '../support/stage.ts';
import { createTestOrg, deltas, postMessage, type TestOrg } from '../e2e/chat-helpers.ts';

const outdir = inject('bundlesOutdir');
const app = readAssembly(outdir);
const standIns = () => ({
  stage: TEST_STAGE,
  dynamodbEndpoint: inject('dynamodbEndpoint'),
  secrets: globalThis.__keygateTestSecrets,
  logLevel: 'SILENT',
});

const INVALID_KEY = { error: 'unauthorized', message: 'Invalid or missing API key', code: 'INVALID_API_KEY' };
const NO_ACCESS = { error: 'forbidden', message: 'API key does not have access to this resource', code: 'INSUFFICIENT_PERMISSIONS' };
const UNAVAILABLE = { error: 'service_unavailable', message: 'A dependency is unavailable, try again shortly', code: 'SERVICE_UNAVAILABLE' };

describe('the synthesized template', () => {
  it('has every deployed function, each found through its Code asset', () => {
    expect(app.functions.map((f) => f.name).sort()).toEqual(expect.arrayContaining([...DEPLOYED_FUNCTIONS].sort()));
    for (const fn of app.functions) expect(fn.runtime, fn.name).toBe('nodejs24.x');
  });
});

// Generic over the template: a function added to the stack is checked here without a line changed.
describe.each(app.functions.map((fn) => [fn.name, fn] as const))('bundle of %s', (_name, fn) => {
  it('has the module its Handler names', () => {
    expect(handlerModule(fn), `${fn.handler} in ${fn.taskRoot}`).toBeDefined();
  });

  it('imports only Node builtins (everything else is inside the bundle)', async () => {
    expect(await unresolvedImports(fn)).toEqual([]);
  });

  it('loads in a fresh Node process and exports its handler', async () => {
    const instance = await LambdaInstance.start(fn, lambdaEnvironment(app, fn, standIns()));
    // Only the streaming route's function is a response-streaming handler.
    const streamed = fn.name === 'chatStream';
    expect(instance.streaming).toBe(streamed);
    instance.close();
  });
});

// Code splitting: what a function loads by import() on first use is a file of its own, not read at start.
it('management reads its route modules on first use only: its asset has chunks that its start does not read', async () => {
  const management = app.functions.find((f) => f.name === 'management')!;
  const atStart = await startupFiles(management);
  const lazy = moduleFiles(management).filter((file) => !atStart.includes(file));
  expect(atStart.map((file) => basename(file))).toContain('index.mjs');
  expect(lazy.length).toBeGreaterThanOrEqual(5);
  expect(await startupBytes(management)).toBeLessThan(moduleFiles(management).reduce((sum, file) => sum + statSync(file).size, 0) / 2);
});

// Bundle bytes are deterministic, so the size goal is a test too (the bench prints it with the timings).
it('the authorizer bundle is at most 0.75 of a default-config DynamoDBClient + GetItem bundle', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'keygate-baseline-'));
  try {
    const { baseline } = await buildBundles({}, scratch);
    const authorizer = app.functions.find((f) => f.name === 'authorizer')!;
    const ratio = (await startupBytes(authorizer)) / baseline.bytes!;
    expect(ratio).toBeLessThanOrEqual(0.75);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

describe('the harness fails a broken bundle', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'keygate-broken-'));
  const authorizer = app.functions.find((f) => f.name === 'authorizer')!;
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** The authorizer as the construct builds it, but with one dependency left out of the bundle. */
  async function bundledWithExternal(external: string): Promise<SynthesizedFunction> {
    const taskRoot = join(scratch, external.replace(/\W+/g, '_'));
    await build({
      ...FUNCTION_BUILD,
      mainFields: [...FUNCTION_BUILD.mainFields],
      entryPoints: { index: join(import.meta.dirname, '../..', 'functions/authorizer.ts') },
      outdir: taskRoot,
      bundle: true,
      external: [external],
      logLevel: 'silent',
    });
    return { ...authorizer, taskRoot };
  }

  it('a dependency marked external: an unresolved import, and the function cannot start', async () => {
    const broken = await bundledWithExternal('@aws-sdk/client-dynamodb');
    expect(await unresolvedImports(broken)).toEqual(['import-statement "@aws-sdk/client-dynamodb"']);
    const start = LambdaInstance.start(broken, lambdaEnvironment(app, broken, standIns()));
    await expect(start).rejects.toMatchObject({ errorType: 'Runtime.ImportModuleError' });
  });

  it('a Handler the bundle does not export', async () => {
    const wrong = { ...authorizer, handler: 'index.authorize' };
    await expect(LambdaInstance.start(wrong, lambdaEnvironment(app, wrong, standIns()))).rejects.toMatchObject({
      errorType: 'Runtime.HandlerNotFound',
    });
  });

  it('a chunk missing from the asset: an unresolved import', async () => {
    const management = app.functions.find((f) => f.name === 'management')!;
    const taskRoot = join(scratch, 'management-without-a-chunk');
    cpSync(management.taskRoot, taskRoot, { recursive: true });
    const copy = { ...management, taskRoot };
    const chunk = moduleFiles(copy).find((file) => basename(file).startsWith('chunk-'))!;
    rmSync(chunk);
    expect(await unresolvedImports(copy)).toContainEqual(expect.stringContaining(`"./${basename(chunk)}"`));
  });

  it('an asset missing from the synth output', () => {
    const copy = join(scratch, 'cdk.out');
    cpSync(outdir, copy, { recursive: true });
    rmSync(join(copy, authorizer.taskRoot.slice(outdir.length)), { recursive: true });
    expect(() => readAssembly(copy)).toThrow(/keygate-dev-authorizer: its Code asset directory .* is missing from the synth output/);
  });
});

describe('a flow through the bundles, behind the local gateway', () => {
  let keygate: LocalKeygate;
  let org: TestOrg;
  let secret: { id: string; key: string; api: ApiClient };

  beforeAll(async () => {
    keygate = await startTestApi(); // bundled: this project provides bundlesOutdir
    org = await createTestOrg(keygate.url, 'Bundled Co');
    secret = await org.secretKey();
  });
  afterAll(async () => {
    await keygate?.stop();
  });

  it('authorizer allows: whoami answers with the key', async () => {
    const res = await secret.api.get('/v1/auth/whoami');
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ keyId: secret.id, organizationId: org.id, type: 'secret', scopes: ['chat', 'completions', 'export'] });
  });

  it('authorizer says unauthorized: 401 for a key that does not exist', async () => {
    const res = await new ApiClient(keygate.url, { 'X-API-Key': `sk_${'A'.repeat(38)}` }).get('/v1/auth/whoami');
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_KEY);
  });

  it('authorizer denies: 403 for a key without the export scope', async () => {
    const chatOnly = await org.secretKey(['chat']);
    const res = await chatOnly.api.get('/api/export?resource=sessions');
    expect(res.status).toBe(403);
    expect(res.body).toEqual(NO_ACCESS);
  });

  it('a session, a streamed reply read as SSE, its history and the export', async () => {
    const session = await secret.api.post('/v1/chat/sessions', {});
    expect(session.status, session.text).toBe(201);
    expect(session.body).toMatchObject({ type: 'chat', sessionId: expect.any(String), token: expect.any(String) });
    const { sessionId, token } = session.body;

    const reply = await postMessage(keygate.url, sessionId, token, { content: 'hello bundles' });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(deltas(reply).length).toBeGreaterThan(1);
    expect(reply.events.at(-1)?.event).toBe('message.completed');
    const text = deltas(reply).join('');
    expect(text).toContain('hello bundles');

    const history = await new ApiClient(keygate.url, { Authorization: `Bearer ${token}` }).get(`/v1/chat/sessions/${sessionId}/messages`);
    expect(history.status).toBe(200);
    expect(history.body.items.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'hello bundles'],
      ['assistant', text],
    ]);

    const exported = await secret.api.get(`/api/export?resource=messages&from=${new Date(Date.now() - 60_000).toISOString()}`);
    expect(exported.status, exported.text).toBe(200);
    expect(exported.body.items.map((m: { sessionId: string; role: string }) => [m.sessionId, m.role])).toEqual([
      [sessionId, 'user'],
      [sessionId, 'assistant'],
    ]);
  });

  it('revoke: once the DELETE has returned, the key is refused', async () => {
    const doomed = await org.secretKey();
    expect((await doomed.api.get('/v1/auth/whoami')).status).toBe(200);
    const deleted = await org.owner.delete(`/v1/organizations/${org.id}/api-keys/${doomed.id}`);
    expect(deleted.status).toBe(204);
    const res = await doomed.api.get('/v1/auth/whoami');
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_KEY);
  });
});

describe('the bundles with DynamoDB down', () => {
  let api: LocalApi;
  let org: TestOrg;
  let keygate: LocalKeygate;

  beforeAll(async () => {
    keygate = await startTestApi();
    org = await createTestOrg(keygate.url, 'Outage Co');
    // The same bundles, pointed at a port nothing listens on.
    const runtime = bundledRuntime(app, { ...standIns(), secrets: keygate.secrets, dynamodbEndpoint: `http://127.0.0.1:${await freePort()}` });
    api = await startLocalApi({ port: 0, portalPrivateJwk: keygate.secrets.portalPrivateJwk, runtime });
  });
  afterAll(async () => {
    await api?.close();
    await keygate?.stop();
  });

  it('answers 503 SERVICE_UNAVAILABLE with Retry-After, from the authorizer and from a function', async () => {
    const { key } = await org.secretKey();
    const whoami = await new ApiClient(api.url, { 'X-API-Key': key }).get('/v1/auth/whoami');
    expect(whoami.status).toBe(503);
    expect(whoami.body).toEqual(UNAVAILABLE);
    expect(whoami.headers.get('retry-after')).toBe('1');
    const orgs = await new ApiClient(api.url, { Authorization: org.owner.headers.Authorization! }).get('/v1/organizations');
    expect(orgs.status).toBe(503);
    expect(orgs.body).toEqual(UNAVAILABLE);
  });
});

// The bundles' own KMS and SQS clients (in their processes) reach this endpoint; here the same SDK
// clients check what it answers: what they validate (SQS's MD5 of each body) and what KMS refuses.
describe('the local AWS endpoint, through the SDK clients', () => {
  const sent: { message: DeliveryMessage; delaySeconds: number | undefined }[] = [];
  const dead: { message: DeliveryMessage; reason: string }[] = [];
  let endpoint: Awaited<ReturnType<typeof startLocalAwsEndpoint>>;
  const client = { region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };

  beforeAll(async () => {
    endpoint = await startLocalAwsEndpoint({
      webhookSecretKey: globalThis.__keygateTestSecrets.webhookSecretKey,
      queue: {
        send: async (messages, delaySeconds) => void sent.push(...messages.map((message) => ({ message, delaySeconds }))),
        deadLetter: async (message, reason) => void dead.push({ message, reason }),
      },
      deliveryQueueName: 'keygate-t-webhook-deliveries',
      deadLetterQueueName: 'keygate-t-webhook-dead-letters',
    });
  });
  afterAll(() => endpoint?.close());

  it('KMS: a ciphertext opens under the encryption context it was sealed with, and only under it', async () => {
    const kms = new KMSClient({ ...client, endpoint: endpoint.url });
    const context = { organizationId: 'org_1', webhookId: 'wh_1' };
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: 'arn:aws:kms:local:000000000000:key/k', Plaintext: Buffer.from('whsec_x'), EncryptionContext: context }));
    expect(Buffer.from(CiphertextBlob!).toString()).not.toContain('whsec_x');
    const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(Plaintext!).toString()).toBe('whsec_x');
    await expect(kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { ...context, webhookId: 'wh_2' } }))).rejects.toMatchObject({
      name: 'InvalidCiphertextException',
    });
    kms.destroy();
  });

  it('SQS: a batch reaches the local queue with its delay, the MD5s the client checks are right, an unknown queue is refused', async () => {
    const sqs = new SQSClient({ ...client, endpoint: endpoint.url });
    const message = { organizationId: 'org_1', webhookId: 'wh_1', eventId: 'evt_1', type: 'ping', body: '{"id":"evt_1"}', attempt: 1, firstAttemptAt: new Date().toISOString() };
    const result = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: endpoint.queueUrl('keygate-t-webhook-deliveries'), Entries: [{ Id: '0', MessageBody: JSON.stringify(message), DelaySeconds: 30 }] }),
    );
    expect(result.Successful).toHaveLength(1);
    expect(sent).toEqual([{ message, delaySeconds: 30 }]);
    await expect(
      sqs.send(new SendMessageBatchCommand({ QueueUrl: endpoint.queueUrl('keygate-t-other'), Entries: [{ Id: '0', MessageBody: '{}' }] })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
    expect(dead).toEqual([]);
    sqs.destroy();
  });
});

// The webhook flow on the bundles only: management seals the secret with KMS and queues the ping on
// SQS (the local AWS endpoint); the tables' streams invoke webhookEvents, the queue invokes
// webhookDelivery, the sweep invokes expirySweep, each a synthesized bundle in its own process.
describe('webhooks through the bundles', () => {
  const stage = `bw${Math.random().toString(36).slice(2, 8)}`;
  let keygate: LocalKeygate;
  let receiver: Receiver;
  let owner: ApiClient;
  let orgId: string;
  let hook: { id: string; secret: string };
  const O = () => `/v1/organizations/${orgId}`;

  beforeAll(async () => {
    receiver = new Receiver();
    await receiver.start();
    process.env.WEBHOOK_RETRY_SCALE = '0.01'; // the bundles' retry waits: 30 s -> 0.3 s, 2 min -> 1.2 s
    keygate = await startTestApi({ stage, webhookEvents: true });
    delete process.env.WEBHOOK_RETRY_SCALE;
    owner = await portalUser(keygate.url, uniqueUser('owner'));
    orgId = (await owner.post('/v1/organizations', { name: 'Hooks Bundled' })).body.id;
  });
  afterAll(async () => {
    await keygate?.stop();
    await receiver?.stop();
  });

  const signed = (raw: string, header: unknown) => verifySignature(header as string, raw, hook.secret).ok;

  it('creates a webhook whose secret is stored sealed by KMS, never in plaintext', async () => {
    const created = await owner.post(`${O()}/webhooks`, { url: `${receiver.url}/ok`, events: ['api_key.revoked', 'api_key.expiring', 'credits.low'] });
    expect(created.status, created.text).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[0-9A-Za-z]{32}$/);
    hook = created.body;
    const { Items = [] } = await db.send(new ScanCommand({ TableName: physicalTableName(stage, TABLES.webhooks) }));
    expect(Items).toHaveLength(1);
    expect(Items[0]!.secretCiphertext).toMatch(/^kms:/); // the bundle's KMS path, not the local sealing
    expect(JSON.stringify(Items)).not.toContain(hook.secret);
  });

  it('the test route: a signed ping, queued by management and delivered by webhookDelivery', async () => {
    const test = await owner.post(`${O()}/webhooks/${hook.id}/test`);
    expect(test.status, test.text).toBe(202);
    await receiver.waitFor(() => receiver.received.some((r) => r.body.id === test.body.id), 30_000);
    const ping = receiver.received.find((r) => r.body.id === test.body.id)!;
    expect(ping.body).toMatchObject({ type: 'ping', organizationId: orgId, data: { webhookId: hook.id } });
    expect(ping.headers['content-type']).toBe('application/json');
    expect(signed(ping.raw, ping.headers['keygate-signature'])).toBe(true);
    expect(signed(`${ping.raw} `, ping.headers['keygate-signature'])).toBe(false);
  });

  it('a revoke: the api-keys stream through webhookEvents, a signed api_key.revoked', async () => {
    const key = await owner.post(`${O()}/api-keys`, { name: 'Doomed', type: 'secret' });
    expect((await owner.delete(`${O()}/api-keys/${key.body.id}`)).status).toBe(204);
    const revoked = () => receiver.of('/ok', 'api_key.revoked').filter((r) => r.body.data.keyId === key.body.id);
    await receiver.waitFor(() => revoked().length > 0, 30_000);
    expect(revoked()[0]!.body).toMatchObject({ id: expect.stringMatching(/^evt_/), organizationId: orgId, data: { keyId: key.body.id, name: 'Doomed', type: 'secret' } });
    expect(signed(revoked()[0]!.raw, revoked()[0]!.headers['keygate-signature'])).toBe(true);
  });

  it('credits falling to 10: the organizations stream, a signed credits.low', async () => {
    const operator = await portalUser(keygate.url, uniqueUser('staff'), ['operators']);
    expect((await operator.post(`${O()}/credits`, { amount: -90 })).body.credits).toBe(10);
    await receiver.waitFor(() => receiver.of('/ok', 'credits.low').some((r) => r.body.organizationId === orgId), 30_000);
    const low = receiver.of('/ok', 'credits.low').find((r) => r.body.organizationId === orgId)!;
    expect(low.body.data).toEqual({ credits: 10, threshold: 10 });
    expect(signed(low.raw, low.headers['keygate-signature'])).toBe(true);
  });

  it('the sweep through expirySweep: a key with 7 days left gets its signed api_key.expiring', async () => {
    const key = await owner.post(`${O()}/api-keys`, { name: 'Short', type: 'secret', expiresInDays: 7 });
    await keygate.webhooks.sweep();
    const notices = () => receiver.of('/ok', 'api_key.expiring').filter((r) => r.body.data.keyId === key.body.id);
    await receiver.waitFor(() => notices().length > 0, 30_000);
    expect(notices()[0]!.body.data).toMatchObject({ keyId: key.body.id, daysBeforeExpiry: 7 });
    expect(signed(notices()[0]!.raw, notices()[0]!.headers['keygate-signature'])).toBe(true);
  });

  it('a receiver failing twice: webhookDelivery re-queues on SQS, the third attempt carries the same id and body', async () => {
    const flaky = await owner.post(`${O()}/webhooks`, { url: `${receiver.url}/flaky`, events: ['api_key.rolled'] });
    expect(flaky.status, flaky.text).toBe(201);
    const test = await owner.post(`${O()}/webhooks/${flaky.body.id}/test`);
    const attempts = () => receiver.of('/flaky').filter((r) => r.body.id === test.body.id);
    await receiver.waitFor(() => attempts().length >= 3, 30_000);
    expect(new Set(attempts().map((a) => a.raw)).size).toBe(1);
    for (const a of attempts()) expect(verifySignature(a.headers['keygate-signature'] as string, a.raw, flaky.body.secret).ok).toBe(true);
    expect(attempts()[1]!.at - attempts()[0]!.at).toBeGreaterThanOrEqual(300 - 50); // the (scaled) 30 s
    expect(keygate.webhooks.deadLetters).toEqual([]);
  });
});

// The route table's functions are exactly the template's (plus the authorizer): none is served from sources.
it('every function of the route table is in the template', () => {
  const names = new Set(app.functions.map((f) => f.name));
  for (const name of Object.keys(FUNCTION_ENTRIES)) expect(names.has(name), name).toBe(true);
});
