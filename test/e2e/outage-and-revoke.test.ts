// Reliability over HTTP: DynamoDB Local stopped mid-test (fail closed with 503, recover when it is
// back), revocation under load (nothing admitted once the DELETE has returned), and no secret key
// in anything the process logged meanwhile.
// This file runs its own DynamoDB Local (it stops it), not the one the other files share.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootLocalKeygate, type LocalKeygate } from '../../infra/local/environment.ts';
import { freePort, startDynamoDbLocal, type RunningDynamoDb } from '../../infra/local/dynamodb-local.ts';
import { ApiClient, portalUser, uniqueUser } from '../support/api.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'keygate-outage-'));
let port: number;
let dynamo: RunningDynamoDb;
let keygate: LocalKeygate;
let owner: ApiClient;
let operator: ApiClient;
let api: ApiClient;
let orgId: string;
const secrets: string[] = [];
const logged: string[] = [];
const restoreOutput: (() => void)[] = [];

/** Everything the process writes to stdout/stderr while this file runs (where Lambda logs go). */
function captureOutput(): void {
  process.env.LOG_LEVEL = 'DEBUG';
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      logged.push(String(chunk));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restoreOutput.push(() => {
      stream.write = write;
    });
  }
}

/** DynamoDB Local back on its port (the API keeps its endpoint); retried if the port is briefly busy. */
async function restartOnSamePort(): Promise<RunningDynamoDb> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDynamoDbLocal({ port, dataDir });
    } catch (error) {
      if (attempt === 5) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function createSecret(name: string): Promise<{ id: string; key: string }> {
  const res = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name, type: 'secret' });
  expect(res.status, res.text).toBe(201);
  secrets.push(res.body.key);
  return res.body;
}

beforeAll(async () => {
  captureOutput();
  port = await freePort();
  dynamo = await startDynamoDbLocal({ port, dataDir });
  keygate = await bootLocalKeygate({ port: 0, inMemory: true, dynamodbEndpoint: dynamo.endpoint, stage: 'outage' });
  owner = await portalUser(keygate.url, uniqueUser('owner'));
  operator = await portalUser(keygate.url, uniqueUser('staff'), ['operators']);
  api = new ApiClient(keygate.url);
  orgId = (await owner.post('/v1/organizations', { name: 'Outage Inc' })).body.id;
  // Generous limits: this file is about outages and revocation, not rate limiting.
  await operator.patch(`/v1/organizations/${orgId}`, { plan: 'enterprise', limits: { perMinute: 1_000_000, perDay: 10_000_000 } });
});

afterAll(async () => {
  await keygate?.stop();
  await dynamo?.stop();
  for (const restore of restoreOutput) restore();
});

describe('DynamoDB stops mid-test', () => {
  it('fails closed with 503 SERVICE_UNAVAILABLE, admits nothing, and recovers once it is back', async () => {
    const key = await createSecret('outage');
    expect((await api.get('/v1/auth/whoami', { 'X-API-Key': key.key })).status).toBe(200);

    await dynamo.stop();
    const during = await Promise.all(Array.from({ length: 20 }, () => api.get('/v1/auth/whoami', { 'X-API-Key': key.key })));
    for (const res of during) {
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ error: 'service_unavailable', message: 'A dependency is unavailable, try again shortly', code: 'SERVICE_UNAVAILABLE' });
      expect(res.headers.get('retry-after')).toBe('1');
    }
    const management = await owner.get(`/v1/organizations/${orgId}`);
    expect(management.status).toBe(503);
    expect(management.body.code).toBe('SERVICE_UNAVAILABLE');

    dynamo = await restartOnSamePort();
    let recovered = false;
    for (let i = 0; i < 50 && !recovered; i++) {
      recovered = (await api.get('/v1/auth/whoami', { 'X-API-Key': key.key })).status === 200;
      if (!recovered) await new Promise((r) => setTimeout(r, 200));
    }
    expect(recovered).toBe(true);
    expect((await owner.get(`/v1/organizations/${orgId}`)).status).toBe(200);
  });
});

describe('revocation under load', () => {
  it('admits no request that starts after the DELETE has returned', async () => {
    const key = await createSecret('busy');
    let revokedAt = Infinity;
    const results: { startedAt: number; status: number }[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const startedAt = performance.now();
        const res = await api.get('/v1/auth/whoami', { 'X-API-Key': key.key });
        results.push({ startedAt, status: res.status });
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await new Promise((r) => setTimeout(r, 300));
    const deleted = await owner.delete(`/v1/organizations/${orgId}/api-keys/${key.id}`);
    revokedAt = performance.now();
    expect(deleted.status).toBe(204);
    // Keep the load on until enough requests have started after the revoke (bounded in time).
    const deadline = Date.now() + 10_000;
    while (results.filter((r) => r.startedAt > revokedAt).length < 20 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    stop = true;
    await Promise.all(workers);

    const before = results.filter((r) => r.startedAt < revokedAt);
    const after = results.filter((r) => r.startedAt > revokedAt);
    expect(before.some((r) => r.status === 200)).toBe(true);
    expect(after.length).toBeGreaterThan(10);
    expect(after.filter((r) => r.status !== 401)).toEqual([]);
  });
});

describe('logs', () => {
  it('never contain a secret key, after successes, failures and an outage', async () => {
    const key = await createSecret('logged');
    await api.get('/v1/auth/whoami', { 'X-API-Key': key.key });
    await api.get('/v1/auth/whoami', { Authorization: `Bearer ${key.key}x` });
    await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: key.key, type: 'nope' });
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    const all = logged.join('');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(all.includes(secret)).toBe(false);
  });
});
