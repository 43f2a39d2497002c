// DynamoDB calls before the handler's own work (docs/benchmarks.md figure 1 targets: 1 read + 1 write for an
// API-key request and for a session request), counted through the local API the way `npm run bench`
// counts them: SDK middleware on every DynamoDB client in this process (bench/dynamo-counter.ts).
// whoami does no work of its own; the session history handler is replaced by a no-I/O stub for the
// measurement, as the bench does. The key's first request of a minute also refreshes lastUsedAt
// (amortized, once per key per minute), so each measured request follows one in the same minute.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, DynamoCounter, sequence, type DynamoCall } from '../../bench/dynamo-counter.ts';
import { routes as chatSessionRoutes } from '../../functions/chat-session.ts';
import { countingDb, db } from '../../shared/db/client.ts';
import { keyLookupClient } from '../../shared/db/key-lookup.ts';
import { json } from '../../shared/http/response.ts';
import { ApiClient, type CallResult, fileTestApiWithUsers } from '../support/api.ts';

const { keygate, owner, operator } = await fileTestApiWithUsers('calls');
let apiKey: ApiClient;
const counter = new DynamoCounter();
let undiscover: () => void;

beforeAll(async () => {
  const org = await owner.post('/v1/organizations', { name: 'Calls Inc' });
  expect(org.status, org.text).toBe(201);
  // The one-item path (below the high-volume threshold of shared/limits/sharded.ts).
  const limits = { perMinute: 14_000, perDay: 10_000_000 };
  expect((await operator.patch(`/v1/organizations/${org.body.id}`, { plan: 'enterprise', limits })).status).toBe(200);
  const key = await owner.post(`/v1/organizations/${org.body.id}/api-keys`, { name: 'calls', type: 'secret' });
  expect(key.status, key.text).toBe(201);
  apiKey = new ApiClient(keygate.url, { 'X-API-Key': key.body.key });
  counter.instrument(db, 'db');
  counter.instrument(keyLookupClient, 'keyLookupClient');
  // Admission counter writes go through their own client (no SDK retry: a retry could count twice).
  counter.instrument(countingDb, 'countingDb');
  undiscover = counter.discover();
});

afterAll(() => {
  undiscover?.();
});

/**
 * The calls of `send`, measured right after a first request of the same key in the same UTC minute
 * (which may refresh the key's lastUsedAt); retried if a minute boundary falls in between.
 */
async function steadyStateCalls(send: () => Promise<CallResult>): Promise<DynamoCall[]> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const minute = Math.floor(Date.now() / 60_000);
    expect((await send()).status).toBe(200);
    const { result, calls } = await counter.window(send, 25);
    expect(result.status, result.text).toBe(200);
    if (Math.floor(Date.now() / 60_000) === minute) return calls;
  }
  throw new Error('three minute boundaries in a row');
}

describe('DynamoDB calls before the handler: 1 read + 1 write', () => {
  it('GET /v1/auth/whoami with a secret key (no handler work of its own)', async () => {
    for (let i = 0; i < 3; i++) {
      const calls = await steadyStateCalls(() => apiKey.get('/v1/auth/whoami'));
      expect(sequence(calls)).toBe('GetItem[api-keys]@keyLookupClient -> UpdateItem[usage]@countingDb');
      expect(classify(calls)).toEqual({ total: 2, reads: 1, writes: 1, other: 0 });
    }
  });

  it('a session request (history, with its handler stubbed)', async () => {
    const created = await apiKey.post('/v1/chat/sessions', {});
    expect(created.status, created.text).toBe(201);
    const { sessionId, token } = created.body as { sessionId: string; token: string };
    const session = new ApiClient(keygate.url, { Authorization: `Bearer ${token}` });
    const history = () => session.get(`/v1/chat/sessions/${encodeURIComponent(sessionId)}/messages`);
    const routes = chatSessionRoutes as Record<string, unknown>;
    const key = Object.keys(routes).find((k) => k.startsWith('GET ') && k.endsWith('/messages'));
    expect(key).toBeDefined();
    const original = routes[key!];
    routes[key!] = async () => json(200, { items: [], nextCursor: null }); // no I/O, still a described answer
    try {
      for (let i = 0; i < 3; i++) {
        const calls = await steadyStateCalls(history);
        expect(sequence(calls)).toBe('BatchGetItem[api-keys+sessions]@db -> UpdateItem[usage]@countingDb');
        expect(classify(calls)).toEqual({ total: 2, reads: 1, writes: 1, other: 0 });
      }
    } finally {
      routes[key!] = original;
    }
  });
});
