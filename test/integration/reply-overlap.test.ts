// What a session message waits for before its upstream is called, against DynamoDB Local with some
// calls slowed down: the history read runs while admission is decided (the upstream is called after
// the longer of the two, not after both), admission is decided before the credit hold, the hold
// before the upstream, and nothing else is read on the way. A read that fails, or a request that is
// refused, answers as it did when the calls ran one after the other.
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoCounter, describeCall, type DynamoCall } from '../../bench/dynamo-counter.ts';
import { handler as publicApi } from '../../functions/public-api.ts';
import { bufferedHandler as chatStream } from '../../functions/chat-stream.ts';
import { buildProxyEvent } from '../../infra/local/gateway.ts';
import type { ChatBackend } from '../../shared/chat/backend.ts';
import { setChatBackend } from '../../shared/chat/backends.ts';
import { countingDb, db } from '../../shared/db/client.ts';
import { putNewKey } from '../../shared/db/api-keys.ts';
import { createOrganization } from '../../shared/db/organizations.ts';
import { mintKey } from '../../shared/domain/key-mint.ts';
import { toAuthorizerContext, type KeyIdentity } from '../../shared/domain/key-identity.ts';
import { matchRoute } from '../../shared/routes.ts';
import { TEST_AUDIT } from '../support/audit.ts';

/** How long each slowed call takes (ms): long enough that running two of them in turn cannot pass for once. */
const SLOW_MS = 300;
const LIMITS = { perMinute: 10_000, perDay: 1_000_000 };

const counter = new DynamoCounter();
counter.instrument(db, 'db');
counter.instrument(countingDb, 'countingDb');

/** What the slowing middleware does to a call: wait, fail, or nothing. */
type Effect = { wait?: number; fail?: Error } | undefined;
let slow: (call: { operation: string; tables: string[] }) => Effect = () => undefined;
for (const client of [db, countingDb]) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? '').replace(/Command$/, '');
      const input = args.input as { TableName?: string };
      const effect = slow({ operation, tables: input.TableName ? [input.TableName.replace(/^keygate-[^-]+-/, '')] : [] });
      if (effect?.wait) await new Promise((r) => setTimeout(r, effect.wait));
      if (effect?.fail) throw effect.fail;
      return next(args);
    },
    // After the counter's (high priority): a call's recorded start and end include the wait.
    { step: 'initialize', priority: 'low', name: 'slowSomeCalls' },
  );
}

/** The history read and the admission counter, each SLOW_MS. */
const slowHistoryAndAdmission = (call: { operation: string; tables: string[] }): Effect =>
  (call.operation === 'Query' && call.tables.includes('messages')) || (call.operation === 'UpdateItem' && call.tables.includes('usage')) ? { wait: SLOW_MS } : undefined;

/** A backend that notes when it is called, and answers one delta. */
let calledAt: number[] = [];
const backend: ChatBackend = {
  kind: 'scripted',
  async *reply() {
    calledAt.push(performance.now());
    yield 'Hello';
  },
};

let orgId: string;

async function newKey(rateLimit: { perMinute: number } | null = null): Promise<KeyIdentity> {
  const { item } = mintKey(
    { organizationId: orgId, name: 'k', type: 'secret', allowedDomains: [], databaseId: null, scopes: ['chat'], expiresInDays: 30, rateLimit, orgLimits: LIMITS, createdBy: 'tester' },
    { secret: 'sk_', publishable: 'pk_' },
    new Date(),
  );
  await putNewKey(item, TEST_AUDIT, new Date());
  return {
    keyId: item.id,
    organizationId: orgId,
    type: 'secret',
    scopes: item.scopes,
    databaseId: null,
    origin: null,
    expiresAt: item.expiresAt,
    orgLimits: LIMITS,
    keyLimits: rateLimit,
    rejection: null,
  };
}

function event(method: string, path: string, body: unknown, headers: Record<string, string>, key?: KeyIdentity): APIGatewayProxyEvent {
  const match = matchRoute(method, path);
  if (match.kind !== 'found') throw new Error(`no route ${method} ${path}`);
  const e = buildProxyEvent({ method, path, headers, query: {}, body: JSON.stringify(body), sourceIp: '127.0.0.1' }, match.route, match.params);
  if (key) e.requestContext.authorizer = toAuthorizerContext(key);
  return e;
}

async function session(key: KeyIdentity): Promise<{ sessionId: string; token: string }> {
  const res = await publicApi(event('POST', '/v1/chat/sessions', {}, {}, key));
  expect(res.statusCode, res.body).toBe(201);
  return JSON.parse(res.body) as { sessionId: string; token: string };
}

/** One session message, with the DynamoDB calls it made. */
async function message(s: { sessionId: string; token: string }, content = 'How soon?') {
  const mark = counter.mark();
  const res = await chatStream(event('POST', `/v1/chat/sessions/${s.sessionId}/messages`, { content }, { authorization: `Bearer ${s.token}` }));
  // Let the calls the reply left running (none expected) end before reading them.
  await new Promise((r) => setTimeout(r, 20));
  return { res, calls: counter.since(mark) };
}

const find = (calls: DynamoCall[], operation: string, table: string) => calls.find((c) => c.operation === operation && c.tables.includes(table));

beforeAll(async () => {
  orgId = (await createOrganization('Overlap Co', 'owner-1', 1_000, TEST_AUDIT, new Date())).id;
  setChatBackend(backend);
  return () => setChatBackend(undefined);
});

afterEach(() => {
  slow = () => undefined;
  calledAt = [];
});

describe('a session message before its upstream is called', () => {
  it('reads the history while admission is decided: the two calls overlap, and the hold waits for both', async () => {
    const s = await session(await newKey());
    expect((await message(s, 'first, so there is history')).res.statusCode).toBe(200);
    calledAt = [];
    slow = slowHistoryAndAdmission;
    const { res, calls } = await message(s);
    expect(res.statusCode, res.body).toBe(200);
    expect(calledAt).toHaveLength(1);
    const upstreamAt = calledAt[0]!;
    const before = calls.filter((c) => c.start < upstreamAt);
    const auth = find(before, 'BatchGetItem', 'sessions')!;
    const history = find(before, 'Query', 'messages')!;
    const admission = before.find((c) => c.client === 'countingDb' && c.operation === 'UpdateItem')!;
    const hold = find(before, 'TransactWriteItems', 'organizations')!;
    expect([auth, history, admission, hold].every(Boolean), before.map(describeCall).join(' -> ')).toBe(true);
    // The two slowed calls overlap.
    expect(history.start).toBeLessThan(admission.end!);
    expect(admission.start).toBeLessThan(history.end!);
    // Admission is decided before the credit hold, the hold before the upstream.
    expect(hold.start).toBeGreaterThanOrEqual(admission.end!);
    expect(hold.start).toBeGreaterThanOrEqual(history.end!);
    expect(upstreamAt).toBeGreaterThanOrEqual(hold.end!);
    // Nothing else before the upstream (no balance read after the hold).
    expect(before.map(describeCall)).toHaveLength(4);
  });

  it('a history read that fails answers 503 as before: no hold, no upstream', async () => {
    const s = await session(await newKey());
    const down = Object.assign(new Error('DynamoDB is down'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
    slow = (call) => (call.operation === 'Query' && call.tables.includes('messages') ? { fail: down } : undefined);
    const { res, calls } = await message(s);
    expect(res.statusCode, res.body).toBe(503);
    expect(JSON.parse(res.body).code).toBe('SERVICE_UNAVAILABLE');
    expect(calledAt).toHaveLength(0);
    expect(find(calls, 'TransactWriteItems', 'organizations')).toBeUndefined();
  });

  it('a refused request (429) is refused whatever its history read does: no hold, no upstream, nothing stored', async () => {
    // The session, this message and the next in one UTC minute.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
    const s = await session(await newKey({ perMinute: 2 }));
    expect((await message(s, 'the last one this minute allows (the session was the first)')).res.statusCode).toBe(200);
    calledAt = [];
    const down = Object.assign(new Error('DynamoDB is down'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
    slow = (call) => (call.operation === 'Query' && call.tables.includes('messages') ? { fail: down } : undefined);
    const { res, calls } = await message(s);
    expect(res.statusCode, res.body).toBe(429);
    expect(calledAt).toHaveLength(0);
    expect(calls.filter((c) => c.operation === 'TransactWriteItems')).toEqual([]);
  });
});

describe('a one-shot message continuing a conversation', () => {
  it('reads the conversation while the assistant is resolved', async () => {
    const key = await newKey();
    const send = (body: Record<string, unknown>) => chatStream(event('POST', '/v1/chat/message', body, {}, key));
    const started = await send({ message: 'Start one' });
    expect(started.statusCode, started.body).toBe(200);
    const conversationId = (JSON.parse(started.body) as { conversation_id: string }).conversation_id;
    slow = (call) => (call.operation === 'GetItem' && call.tables.includes('sessions') ? { wait: SLOW_MS } : undefined);
    const mark = counter.mark();
    const res = await send({ message: 'And go on', conversation_id: conversationId });
    expect(res.statusCode, res.body).toBe(200);
    const calls = counter.since(mark);
    const conversation = find(calls, 'GetItem', 'sessions')!;
    const assistant = find(calls, 'GetItem', 'organizations')!;
    expect(conversation && assistant, calls.map(describeCall).join(' -> ')).toBeTruthy();
    expect(conversation.start).toBeLessThan(assistant.end!);
  });
});
