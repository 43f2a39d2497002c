// The chat and export functions called directly, as Lambda would, against DynamoDB Local:
// API-key routes with the authorizer's context, session routes with their token. Covers what is
// awkward over HTTP: DynamoDB call counts, expiry judged at read time, the defensive checks, and the
// AWS response-streaming path (middy streamifyResponse over a fake `awslambda` global).
import { PassThrough } from 'node:stream';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TEST_AUDIT } from '../support/audit.ts';
import { handler as publicApi } from '../../functions/public-api.ts';
import { handler as chatSession } from '../../functions/chat-session.ts';
import { bufferedHandler as chatStream } from '../../functions/chat-stream.ts';
import { handler as exportHandler } from '../../functions/export.ts';
import { buildProxyEvent } from '../../infra/local/gateway.ts';
import { mintKey, type NewKey } from '../../shared/domain/key-mint.ts';
import { putNewKey } from '../../shared/db/api-keys.ts';
import { db } from '../../shared/db/client.ts';
import { createOrganization } from '../../shared/db/organizations.ts';
import { replyRecordPut, storedReply } from '../../shared/db/replies.ts';
import { toAuthorizerContext, type KeyIdentity } from '../../shared/domain/key-identity.ts';
import { signSessionToken } from '../../shared/chat/session-token.ts';
import { findRoute, matchRoute } from '../../shared/routes.ts';
import { tableName } from '../../shared/tables.ts';
import { authenticateSession } from '../../shared/chat/session-auth.ts';
import type { ApiRequest, ResponseState } from '../../shared/http/pipeline.ts';
import { REPLY_MESSAGES, type ChatBackend } from '../../shared/chat/backend.ts';
import { setChatBackend } from '../../shared/chat/backends.ts';
import { REPLY_STOP_MARGIN_MS } from '../../shared/chat/upstreams.ts';

const commands: string[] = [];
db.middlewareStack.add(
  (next, context) => async (args) => {
    commands.push(context.commandName ?? 'unknown');
    return next(args);
  },
  { step: 'initialize', name: 'recordCommands' },
);
afterEach(() => {
  commands.length = 0;
});

let orgId: string;
const LIMITS = { perMinute: 10_000, perDay: 1_000_000 };

async function newKey(overrides: Partial<NewKey> = {}) {
  const input: NewKey = {
    organizationId: orgId,
    name: 'k',
    type: 'secret',
    allowedDomains: [],
    databaseId: null,
    scopes: ['chat', 'export'],
    expiresInDays: 365,
    rateLimit: null,
    orgLimits: LIMITS,
    createdBy: 'tester',
    ...overrides,
  };
  const { item } = mintKey(input, { secret: 'sk_', publishable: 'pk_' }, new Date());
  await putNewKey(item, TEST_AUDIT, new Date());
  const identity: KeyIdentity = {
    keyId: item.id,
    organizationId: orgId,
    type: item.type,
    scopes: item.scopes,
    databaseId: item.databaseId,
    origin: item.type === 'publishable' ? 'https://app.example.com' : null,
    expiresAt: item.expiresAt,
    orgLimits: LIMITS,
    keyLimits: null,
    rejection: null,
  };
  return { item, identity };
}

function event(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; query?: Record<string, string>; key?: KeyIdentity } = {}): APIGatewayProxyEvent {
  const match = matchRoute(method, path);
  if (match.kind !== 'found') throw new Error(`no route ${method} ${path}`);
  const e = buildProxyEvent(
    {
      method,
      path,
      headers: options.headers ?? {},
      query: options.query ?? {},
      body: options.body === undefined ? null : JSON.stringify(options.body),
      sourceIp: '127.0.0.1',
    },
    match.route,
    match.params,
  );
  if (options.key) e.requestContext.authorizer = toAuthorizerContext(options.key);
  return e;
}

async function createSession(key: KeyIdentity, headers: Record<string, string> = {}) {
  const res = await publicApi(event('POST', '/v1/chat/sessions', { key, body: {}, headers }));
  expect(res.statusCode, res.body).toBe(201);
  return JSON.parse(res.body) as { sessionId: string; token: string; expiresAt: string };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A correctly signed token for a chat session of this org, with some claims changed. */
function signedToken(sessionId: string, keyId: string, claims: Partial<Parameters<typeof signSessionToken>[0]>) {
  return signSessionToken({ sessionId, organizationId: orgId, keyId, type: 'chat', origin: null, expiresAt: new Date(Date.now() + 60 * 60_000), ...claims });
}

beforeAll(async () => {
  orgId = (await createOrganization('Handlers Co', 'owner-1', 100, TEST_AUDIT, new Date())).id;
});

describe('session authentication', () => {
  it('authenticates with ONE DynamoDB call: a BatchGetItem of the session and its key', async () => {
    const { identity } = await newKey();
    const s = await createSession(identity);
    const req = {
      route: findRoute('GET', '/v1/chat/sessions/{sessionId}/messages')!,
      params: { sessionId: s.sessionId },
      query: {},
      headers: bearer(s.token),
      body: undefined,
      requestId: 'r',
      origin: undefined,
    } as ApiRequest;
    const state: ResponseState = { headers: {} };
    commands.length = 0;
    await authenticateSession(req, state);
    expect(commands).toEqual(['BatchGetItemCommand']);
    expect(req.rateSubject).toEqual({ organizationId: orgId, keyId: identity.keyId, orgLimits: LIMITS, keyLimits: null, orgLimitsVersion: 0 });
    expect(state.corsOrigin).toBeUndefined();
  });

  it('a history request reads the session once, then only does its own query and the rate limiter\'s work', async () => {
    const { identity } = await newKey();
    const s = await createSession(identity);
    commands.length = 0;
    const res = await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token) }));
    expect(res.statusCode, res.body).toBe(200);
    expect(commands.filter((c) => c === 'BatchGetItemCommand')).toHaveLength(1);
    expect(commands.filter((c) => c === 'GetItemCommand')).toHaveLength(0);
  });

  it('makes no DynamoDB call at all for a bad token or a token for another session', async () => {
    const { identity } = await newKey();
    const a = await createSession(identity);
    const b = await createSession(identity);
    commands.length = 0;
    const bad = await chatSession(event('GET', `/v1/chat/sessions/${a.sessionId}/messages`, { headers: bearer('x.y.z') }));
    expect(bad.statusCode).toBe(401);
    const crossed = await chatSession(event('GET', `/v1/chat/sessions/${b.sessionId}/messages`, { headers: bearer(a.token) }));
    expect(crossed.statusCode).toBe(404);
    expect(commands).toEqual([]);
  });

  it('judges expiry from expiresAt at read time, whatever TTL has (not) done', async () => {
    const { identity } = await newKey();
    const s = await createSession(identity);
    await db.send(
      new UpdateCommand({
        TableName: tableName('sessions'),
        Key: { id: s.sessionId },
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() },
      }),
    );
    const res = await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token) }));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body)).toEqual({ error: 'unauthorized', message: 'Session has ended', code: 'SESSION_ENDED' });
  });

  it('SESSION_ENDED for an expired token of a real session (not INVALID_TOKEN)', async () => {
    const { identity } = await newKey();
    const s = await createSession(identity);
    const expired = await signedToken(s.sessionId, identity.keyId, { expiresAt: new Date(Date.now() - 60_000) });
    const res = await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(expired) }));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body).code).toBe('SESSION_ENDED');
  });

  it.each([
    ['organization', { organizationId: 'org_SomeoneElsesOrgXXXX' }],
    ['type', { type: 'voice' as const }],
  ])('SESSION_ENDED for a correctly signed token whose %s claim differs from the stored session', async (_, claim) => {
    const { identity } = await newKey();
    const s = await createSession(identity);
    const forged = await signedToken(s.sessionId, identity.keyId, claim);
    for (const res of [
      await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(forged) })),
      await chatStream(event('POST', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(forged), body: { content: 'hi' } })),
    ]) {
      expect(res.statusCode).toBe(401);
      expect(JSON.parse(res.body)).toEqual({ error: 'unauthorized', message: 'Session has ended', code: 'SESSION_ENDED' });
    }
    // Control: the genuine token of the same session works.
    const genuine = await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token) }));
    expect(genuine.statusCode).toBe(200);
  });

  it('SESSION_ENDED when the session item is gone', async () => {
    const { identity } = await newKey();
    const s = await createSession(identity);
    await db.send(new DeleteCommand({ TableName: tableName('sessions'), Key: { id: s.sessionId } }));
    const res = await chatSession(event('POST', `/v1/chat/sessions/${s.sessionId}/end`, { headers: bearer(s.token) }));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body).code).toBe('SESSION_ENDED');
  });

  it.each([
    ['expired', 'SET expiresAt = :v', new Date(Date.now() - 1000).toISOString()],
    ['disabled', 'SET #status = :v', 'disabled'],
    ['revoked', 'SET #status = :v', 'revoked'],
  ])('SESSION_ENDED when the creating key is %s', async (_, expression, value) => {
    const { identity, item } = await newKey();
    const s = await createSession(identity);
    await db.send(
      new UpdateCommand({
        TableName: tableName('apiKeys'),
        Key: { id: item.id },
        UpdateExpression: expression,
        ...(expression.includes('#status') ? { ExpressionAttributeNames: { '#status': 'status' } } : {}),
        ExpressionAttributeValues: { ':v': value },
      }),
    );
    const res = await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token) }));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body).code).toBe('SESSION_ENDED');
  });

  it('SESSION_ENDED when the creating key is gone', async () => {
    const { identity, item } = await newKey();
    const s = await createSession(identity);
    await db.send(new DeleteCommand({ TableName: tableName('apiKeys'), Key: { id: item.id } }));
    const res = await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token) }));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body).code).toBe('SESSION_ENDED');
  });

  it("never ends past the key's own expiry", async () => {
    const { identity } = await newKey({ expiresInDays: 1 });
    const soon = new Date(Date.now() + 10 * 60_000).toISOString();
    const s = await createSession({ ...identity, expiresAt: soon });
    expect(s.expiresAt).toBe(soon);
  });

  it('stores on the session what rate limiting needs, and the bound origin', async () => {
    const { identity } = await newKey({ type: 'publishable', allowedDomains: ['app.example.com'], scopes: ['chat'] });
    const s = await createSession(identity, { origin: 'https://app.example.com' });
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const { Item } = await db.send(new GetCommand({ TableName: tableName('sessions'), Key: { id: s.sessionId } }));
    expect(Item).toMatchObject({
      organizationId: orgId,
      keyId: identity.keyId,
      keyType: 'publishable',
      origin: 'https://app.example.com',
      orgLimits: LIMITS,
      keyLimits: null,
      status: 'active',
      type: 'chat',
    });
    expect(Item!.ttl).toBeGreaterThan(Date.parse(s.expiresAt) / 1000);
  });
});

describe('one-shot conversations', () => {
  it('are stored under their scope and the client id; an expired one answers 409, never a fresh start', async () => {
    const { identity } = await newKey();
    const send = (message: string) => chatStream(event('POST', '/v1/chat/message', { key: identity, body: { message, conversation_id: 'conv-abc' } }));
    expect((await send('hi')).statusCode).toBe(200);
    const storedId = `conv#org#${orgId}#conv-abc`;
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const { Item } = await db.send(new GetCommand({ TableName: tableName('sessions'), Key: { id: storedId } }));
    expect(Item).toMatchObject({ type: 'conversation', organizationId: orgId, keyId: identity.keyId, status: 'active' });
    await db.send(
      new UpdateCommand({
        TableName: tableName('sessions'),
        Key: { id: storedId },
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() },
      }),
    );
    const expired = await send('still there?');
    expect(expired.statusCode).toBe(409);
    expect(JSON.parse(expired.body)).toEqual({ error: 'conflict', message: 'Conversation has expired (they last 30 days); continue under a new conversation_id', code: 'CONFLICT' });
  });
});

describe('replies kept for an Idempotency-Key', () => {
  it('are read back for 7 days after they were stored, for their own API key only', async () => {
    const { TransactWriteCommand } = await import('@aws-sdk/lib-dynamodb');
    const T = new Date('2031-01-01T00:00:00.000Z');
    const reply = { threadId: 'ses_1', userMessageId: 'msg_1', messageId: 'msg_2', content: 'hi', fingerprint: 'f' };
    await db.send(new TransactWriteCommand({ TransactItems: [replyRecordPut('key_t', 'key#key_t#message#a', reply, T)] }));
    const SEVEN_DAYS_MS = 7 * 86_400_000;
    expect(await storedReply('key_t', 'key#key_t#message#a', new Date(T.getTime() + SEVEN_DAYS_MS - 1000))).toEqual(reply);
    expect(await storedReply('key_t', 'key#key_t#message#a', new Date(T.getTime() + SEVEN_DAYS_MS))).toBeUndefined();
    expect(await storedReply('key_other', 'key#key_t#message#a', T)).toBeUndefined();
  });
});

describe('export, defensively', () => {
  it('refuses a publishable key even if the gateway let it through', async () => {
    const { identity } = await newKey({ type: 'publishable', allowedDomains: ['app.example.com'], scopes: ['chat'] });
    const res = await exportHandler(
      event('GET', '/api/export', { key: { ...identity, scopes: ['chat', 'export'] }, query: { resource: 'sessions' }, headers: { origin: 'https://app.example.com' } }),
    );
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body)).toEqual({ error: 'forbidden', message: 'API key does not have access to this resource', code: 'INSUFFICIENT_PERMISSIONS' });
  });

  it('refuses a request without the authorizer context', async () => {
    const res = await exportHandler(event('GET', '/api/export', { query: { resource: 'sessions' } }));
    expect(res.statusCode).toBe(401);
  });
});

describe('the stream route outside Lambda', () => {
  it('answers with the whole SSE body at once', async () => {
    const { identity } = await newKey();
    const s = await createSession(identity);
    const res = await chatStream(
      event('POST', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token), body: { content: 'buffered' } }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['Content-Type']).toMatch(/^text\/event-stream/);
    expect(res.body).toMatch(/event: message\.completed\ndata: /);
  });
});

describe('the stream route in Lambda (response streaming through middy)', () => {
  /** What the Lambda runtime's HttpResponseStream.from writes: the JSON prelude, then 8 NUL bytes. */
  function fakeAwsLambda() {
    return {
      streamifyResponse: (fn: unknown) => fn,
      HttpResponseStream: {
        from(stream: NodeJS.WritableStream, prelude: unknown) {
          stream.write(JSON.stringify(prelude));
          stream.write(Buffer.alloc(8));
          return stream;
        },
      },
    };
  }

  // The fake runtime global is needed while the module loads and while it runs.
  const global = globalThis as { awslambda?: Record<string, unknown> };
  let saved: Record<string, unknown> | undefined;
  beforeAll(() => {
    saved = global.awslambda;
    global.awslambda = { ...saved, ...fakeAwsLambda() };
  });
  afterAll(() => {
    global.awslambda = saved;
  });

  async function loadStreamingHandler() {
    vi.resetModules();
    return (await import('../../functions/chat-stream.ts')).handler as unknown as (
      event: APIGatewayProxyEvent,
      stream: NodeJS.WritableStream,
      context: object,
    ) => Promise<void>;
  }

  async function invoke(handler: Awaited<ReturnType<typeof loadStreamingHandler>>, e: APIGatewayProxyEvent) {
    const out = new PassThrough();
    const chunks: { at: number; data: Buffer }[] = [];
    out.on('data', (data: Buffer) => chunks.push({ at: performance.now(), data }));
    const ended = new Promise((r) => out.on('finish', r));
    await handler(e, out, {});
    await ended;
    const all = Buffer.concat(chunks.map((c) => c.data));
    const split = all.indexOf(Buffer.alloc(8));
    return { prelude: JSON.parse(all.subarray(0, split).toString()), body: all.subarray(split + 8).toString(), chunks };
  }

  it('sends the 200 prelude with SSE headers, then the events as they come', async () => {
    const handler = await loadStreamingHandler();
    const { identity } = await newKey();
    const s = await createSession(identity);
    const { prelude, body, chunks } = await invoke(
      handler,
      event('POST', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token), body: { content: 'via lambda' } }),
    );
    expect(prelude.statusCode).toBe(200);
    expect(prelude.headers['Content-Type']).toMatch(/^text\/event-stream/);
    const events: EventSourceMessage[] = [];
    createParser({ onEvent: (ev) => events.push(ev) }).feed(body);
    expect(events.at(-1)!.event).toBe('message.completed');
    expect(JSON.parse(events.at(-1)!.data).content).toContain('via lambda');
    expect(events.filter((ev) => ev.event === 'message.delta').length).toBeGreaterThan(3);
    // Written over time, not in one piece at the end.
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.at(-1)!.at - chunks[2]!.at).toBeGreaterThan(30);
  });

  it('answers a one-shot message (a JSON reply) through the same streaming prelude, whole', async () => {
    const handler = await loadStreamingHandler();
    const { identity } = await newKey();
    const { prelude, body } = await invoke(handler, event('POST', '/v1/chat/message', { key: identity, body: { message: 'json via lambda' } }));
    expect(prelude.statusCode).toBe(200);
    expect(prelude.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(body)).toMatchObject({ message: { role: 'assistant' }, usage: { credits: 1 } });
    expect(JSON.parse(body).message.content).toContain('json via lambda');
  });

  it('sends a JSON error with its own status when the request fails before the stream', async () => {
    const handler = await loadStreamingHandler();
    const { prelude, body } = await invoke(handler, event('POST', '/v1/chat/sessions/ses_nope/messages', { body: { content: 'x' } }));
    expect(prelude.statusCode).toBe(401);
    expect(JSON.parse(body)).toEqual({ error: 'unauthorized', message: 'Invalid or missing token', code: 'INVALID_TOKEN' });
  });
});

describe("a reply still running near the function's deadline", () => {
  /** An upstream that sends `first` (if any), then nothing until it is stopped. */
  function stalling(first?: string): ChatBackend & { stopped: boolean } {
    const backend = {
      kind: 'stalling',
      stopped: false,
      async *reply({ signal }: { signal: AbortSignal }) {
        if (first) yield first;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        backend.stopped = true;
      },
    };
    return backend;
  }
  // The function has 400 ms left beyond the margin it keeps to settle and record.
  const nearDeadline = () => ({ getRemainingTimeInMillis: () => REPLY_STOP_MARGIN_MS + 400 }) as unknown as Context;
  const balance = async () => {
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const { Item } = await db.send(new GetCommand({ TableName: tableName('organizations'), Key: { id: orgId }, ConsistentRead: true }));
    return Item!.credits as number;
  };
  afterEach(() => setChatBackend(undefined));

  it.each([
    ['before its first delta', undefined],
    ['after its first delta', 'The beginning'],
  ])('a one-shot message %s: the upstream is stopped, 503 with Retry-After, not charged', async (_label, first) => {
    const backend = stalling(first);
    setChatBackend(backend);
    const { identity } = await newKey();
    const before = await balance();
    const started = performance.now();
    const res = await chatStream(event('POST', '/v1/chat/message', { key: identity, body: { message: 'slow one' } }), nearDeadline());
    // Stopped by the deadline, long before the upstream's own 30 s first-byte timeout.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(res.statusCode, res.body).toBe(503);
    expect(res.headers['Retry-After']).toBe('1');
    expect(JSON.parse(res.body)).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: first ? REPLY_MESSAGES.tooLong : REPLY_MESSAGES.timeout });
    expect(res.body).not.toContain('The beginning');
    expect(backend.stopped).toBe(true);
    expect(await balance()).toBe(before);
  });

  it('a session message after its first delta: the upstream is stopped, the stream ends with an error event and pays what was produced', async () => {
    const backend = stalling('The beginning');
    setChatBackend(backend);
    const { identity } = await newKey();
    const s = await createSession(identity);
    const before = await balance();
    const res = await chatStream(event('POST', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token), body: { content: 'slow one' } }), nearDeadline());
    expect(res.statusCode).toBe(200);
    const events: EventSourceMessage[] = [];
    createParser({ onEvent: (ev) => events.push(ev) }).feed(res.body);
    expect(events.map((ev) => ev.event)).toEqual(['message.delta', 'error']);
    expect(JSON.parse(events[1]!.data)).toEqual({ code: 'SERVICE_UNAVAILABLE', message: REPLY_MESSAGES.tooLong });
    expect(backend.stopped).toBe(true);
    expect(await balance()).toBe(before - 1);
    const history = await chatSession(event('GET', `/v1/chat/sessions/${s.sessionId}/messages`, { headers: bearer(s.token) }));
    expect(JSON.parse(history.body).items.map((m: { content: string }) => m.content)).toEqual(['slow one', 'The beginning']);
  });
});
