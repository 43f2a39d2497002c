// Chat and voice sessions over HTTP against the local API: creation, streamed replies read with a
// real SSE parser, history, ending, credits, and every way a session stops working (ended, key
// revoked, disabled, another org's token, another origin).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, INVALID_TOKEN, NOT_A_TOKEN, startTestApi } from '../support/api.ts';
import { APP_ORIGIN, createTestOrg, deltas, postMessage, type TestOrg } from './chat-helpers.ts';

let keygate: LocalKeygate;
let org: TestOrg;
let other: TestOrg;
let api: ApiClient;

const SESSION_ENDED = { error: 'unauthorized', message: 'Session has ended', code: 'SESSION_ENDED' };

beforeAll(async () => {
  keygate = await startTestApi();
  org = await createTestOrg(keygate.url, 'Chat Co');
  other = await createTestOrg(keygate.url, 'Other Co');
  api = (await org.secretKey()).api;
});

afterAll(async () => {
  await keygate?.stop();
});

async function newSession(client: ApiClient = api, path = '/v1/chat/sessions', body: unknown = {}) {
  const res = await client.post(path, body);
  expect(res.status, res.text).toBe(201);
  return res.body as { sessionId: string; token: string; type: string; expiresAt: string };
}

function asSession(token: string, headers: Record<string, string> = {}) {
  return new ApiClient(keygate.url, { Authorization: `Bearer ${token}`, ...headers });
}

describe('creating sessions', () => {
  it('201 with a session id, a token, the type and an expiry about an hour away', async () => {
    const before = Date.now();
    const res = await api.post('/v1/chat/sessions', { metadata: { user: 'u-42', tier: 'gold', n: 1 } }, { Origin: 'https://evil.example' });
    expect(res.status, res.text).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['assistant', 'expiresAt', 'sessionId', 'token', 'type']);
    expect(res.body.assistant).toEqual({ id: expect.stringMatching(/^asst_/), name: 'Default' });
    expect(res.body.sessionId).toMatch(/^ses_[0-9A-Za-z]{20}$/);
    expect(res.body.type).toBe('chat');
    expect(res.body.token.split('.')).toHaveLength(3);
    const lifetime = Date.parse(res.body.expiresAt) - before;
    expect(lifetime).toBeGreaterThan(59 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(60 * 60_000 + 5_000);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('voice sessions are the same with type voice, and stream like chat sessions', async () => {
    const voice = await newSession(api, '/v1/chat/voice-sessions');
    expect(voice.type).toBe('voice');
    const reply = await postMessage(keygate.url, voice.sessionId, voice.token, { content: 'Speak' });
    expect(reply.status).toBe(200);
    expect(reply.events.at(-1)!.event).toBe('message.completed');
  });

  it('takes no body at all', async () => {
    const res = await api.call('POST', '/v1/chat/sessions');
    expect(res.status, res.text).toBe(201);
  });

  it.each([
    ['metadata that is not an object', { metadata: [1] }, 'metadata'],
    ['nested metadata', { metadata: { a: { b: 1 } } }, 'metadata.a'],
    ['an unknown field', { model: 'x' }, 'body'],
  ])('400 for %s', async (_, body, field) => {
    const res = await api.post('/v1/chat/sessions', body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_ERROR');
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  // Once 500s: a key every JavaScript object has, and numbers DynamoDB cannot hold exactly.
  it.each([
    ['a key named constructor', '{"metadata":{"constructor":"x"}}', 'metadata.constructor', 'is a reserved name'],
    ['a key named __proto__', '{"metadata":{"__proto__":{"admin":true}}}', 'metadata.__proto__', 'is a reserved name'],
    ['a key named prototype', '{"metadata":{"prototype":1}}', 'metadata.prototype', 'is a reserved name'],
    ['1e200', '{"metadata":{"n":1e200}}', 'metadata.n', 'numbers must be integers of at most 9007199254740991 in magnitude, or decimals of at least 1e-130'],
    ['10000000000000000 (beyond 2^53)', '{"metadata":{"n":10000000000000000}}', 'metadata.n', 'numbers must be integers of at most 9007199254740991 in magnitude, or decimals of at least 1e-130'],
    ['1e-200', '{"metadata":{"n":1e-200}}', 'metadata.n', 'numbers must be integers of at most 9007199254740991 in magnitude, or decimals of at least 1e-130'],
  ])('400 for metadata with %s, in the contract format', async (_, body, field, message) => {
    const res = await api.post('/v1/chat/sessions', body);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toEqual({ error: 'validation_error', message: `${field}: ${message}`, code: 'VALIDATION_ERROR', details: [{ field, message }] });
  });

  it('stores numbers that round-trip exactly: the largest safe integer, decimals, negatives', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const metadata = { big: 9007199254740991, small: -9007199254740991, pi: 3.141592653589793, tiny: 1e-130, frac: 0.1 };
    const created = await api.post('/v1/chat/sessions', { metadata });
    expect(created.status, created.text).toBe(201);
    const exported = await api.get(`/api/export?resource=sessions&from=${since}&limit=1000`);
    expect(exported.body.items.find((s: { id: string }) => s.id === created.body.sessionId).metadata).toEqual(metadata);
  });

  it('402 INSUFFICIENT_CREDITS when the organization has no credits, for both kinds', async () => {
    const poor = await createTestOrg(keygate.url, 'Poor Co');
    const { api: poorApi } = await poor.secretKey();
    await poor.setCredits(0);
    for (const path of ['/v1/chat/sessions', '/v1/chat/voice-sessions']) {
      const res = await poorApi.post(path, {});
      expect(res.status).toBe(402);
      expect(res.body).toEqual({ error: 'insufficient_credits', message: 'Organization has no credits left', code: 'INSUFFICIENT_CREDITS' });
    }
  });
});

describe('streaming a reply', () => {
  it('200 text/event-stream: deltas, then message.completed whose content is the deltas joined', async () => {
    const s = await newSession();
    const reply = await postMessage(keygate.url, s.sessionId, s.token, { content: 'Hello stream' });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(reply.headers.get('cache-control')).toContain('no-cache');
    const names = reply.events.map((e) => e.event);
    expect(names.length).toBeGreaterThan(3);
    expect(names.slice(0, -1).every((n) => n === 'message.delta')).toBe(true);
    const completed = reply.events.at(-1)!;
    expect(completed.event).toBe('message.completed');
    expect(Object.keys(completed.data).sort()).toEqual(['content', 'messageId', 'usage']);
    expect(completed.data.messageId).toMatch(/^msg_/);
    expect(completed.data.usage).toEqual({ credits: 1 });
    expect(completed.data.content).toBe(deltas(reply).join(''));
    expect(completed.data.content).toContain('Hello stream');
  });

  it('delivers the first delta before the reply completes (chunked, flushed per event)', async () => {
    const s = await newSession();
    const reply = await postMessage(keygate.url, s.sessionId, s.token, { content: 'Timing please' });
    const first = reply.events.find((e) => e.event === 'message.delta')!;
    const completed = reply.events.find((e) => e.event === 'message.completed')!;
    expect(reply.chunks).toBeGreaterThan(3);
    // The local backend waits ~15 ms per word: the first delta arrives well before the end.
    expect(completed.at - first.at).toBeGreaterThan(50);
    const times = reply.events.map((e) => e.at);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('costs exactly one credit per reply', async () => {
    const s = await newSession();
    const before = await org.credits();
    await postMessage(keygate.url, s.sessionId, s.token, { content: 'one' });
    await postMessage(keygate.url, s.sessionId, s.token, { content: 'two' });
    expect(await org.credits()).toBe(before - 2);
  });

  it('a reply that fails before its first delta is a JSON 503 and costs nothing', async () => {
    const s = await newSession();
    const before = await org.credits();
    const reply = await postMessage(keygate.url, s.sessionId, s.token, { content: '[fail]' });
    expect(reply.status).toBe(503);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    expect(reply.body).toMatchObject({ error: 'service_unavailable', code: 'SERVICE_UNAVAILABLE' });
    expect(reply.headers.get('retry-after')).toBe('1');
    expect(await org.credits()).toBe(before);
    const history = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(history.body.items).toEqual([]);
  });

  it('a reply that fails midway ends the stream with an error event, costs nothing, stores nothing', async () => {
    const s = await newSession();
    const before = await org.credits();
    const reply = await postMessage(keygate.url, s.sessionId, s.token, { content: '[fail-midstream]' });
    expect(reply.status).toBe(200);
    expect(reply.events.map((e) => e.event)).toEqual(['message.delta', 'message.delta', 'error']);
    expect(reply.events.at(-1)!.data).toEqual({ code: 'SERVICE_UNAVAILABLE', message: 'The model is unavailable; try again shortly' });
    expect(await org.credits()).toBe(before);
    const history = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(history.body.items).toEqual([]);
  });

  it('402 as JSON, before any stream, when the credits have run out', async () => {
    const poor = await createTestOrg(keygate.url, 'Runs Out Co');
    const { api: poorApi } = await poor.secretKey();
    const s = await newSession(poorApi);
    await poor.setCredits(1);
    expect((await postMessage(keygate.url, s.sessionId, s.token, { content: 'last one' })).status).toBe(200);
    const reply = await postMessage(keygate.url, s.sessionId, s.token, { content: 'one more' });
    expect(reply.status).toBe(402);
    expect(reply.body).toEqual({ error: 'insufficient_credits', message: 'Organization has no credits left', code: 'INSUFFICIENT_CREDITS' });
    expect(await poor.credits()).toBe(0);
  });

  it('a retry with an Idempotency-Key used in the session replays the stored reply as SSE events, charged once', async () => {
    const s = await newSession();
    const before = await org.credits();
    const first = await postMessage(keygate.url, s.sessionId, s.token, { content: 'once' }, { 'Idempotency-Key': 'abc-123' });
    expect(first.status).toBe(200);
    const original = first.events.at(-1)!;
    expect(original.event).toBe('message.completed');
    const again = await postMessage(keygate.url, s.sessionId, s.token, { content: 'once' }, { 'Idempotency-Key': 'abc-123' });
    expect(again.status).toBe(200);
    expect(again.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // The whole stored reply as one delta, then the original message.completed.
    expect(again.events.map((e) => [e.event, e.data])).toEqual([
      ['message.delta', { content: 'You said: once (turn 1). This reply comes from the Keygate local backend.' }],
      ['message.completed', { messageId: original.data.messageId, content: 'You said: once (turn 1). This reply comes from the Keygate local backend.', usage: { credits: 1 } }],
    ]);
    expect(await org.credits()).toBe(before - 1);
    const history = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(history.body.items).toHaveLength(2);
    // The same key with other content in this session is refused.
    const other = await postMessage(keygate.url, s.sessionId, s.token, { content: 'twice' }, { 'Idempotency-Key': 'abc-123' });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('CONFLICT');
    // The same key in another session is another request.
    const s2 = await newSession();
    const elsewhere = await postMessage(keygate.url, s2.sessionId, s2.token, { content: 'once' }, { 'Idempotency-Key': 'abc-123' });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.events.at(-1)!.data.messageId).not.toBe(original.data.messageId);
    expect(await org.credits()).toBe(before - 2);
  });
});

describe('message body validation', () => {
  let s: Awaited<ReturnType<typeof newSession>>;
  beforeAll(async () => {
    s = await newSession();
  });

  it.each([
    ['an empty content', { content: '' }, 'content'],
    ['whitespace only', { content: '   ' }, 'content'],
    ['a number', { content: 7 }, 'content'],
    ['null', { content: null }, 'content'],
    ['an object', { content: { text: 'hi' } }, 'content'],
    ['no content', {}, 'content'],
    ['an unknown field', { content: 'hi', role: 'system' }, 'body'],
    ['an array body', ['hi'], 'body'],
    ['a lone surrogate', '{"content":"bad \\ud800 one"}', 'content'],
  ])('400 VALIDATION_ERROR for %s, and nothing charged', async (_, body, field) => {
    const before = await org.credits();
    const res = await postMessage(keygate.url, s.sessionId, s.token, body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_ERROR');
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(await org.credits()).toBe(before);
  });

  it('400 for a body that is not JSON', async () => {
    const res = await postMessage(keygate.url, s.sessionId, s.token, '{"content": ');
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_ERROR');
  });

  it('413 PAYLOAD_TOO_LARGE for a body over 64 KiB', async () => {
    const res = await postMessage(keygate.url, s.sessionId, s.token, { content: 'x'.repeat(64 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large', message: 'Request body exceeds 64 KiB', code: 'PAYLOAD_TOO_LARGE' });
  });

  it('keeps unicode intact through the stream and the history', async () => {
    const content = 'Grüße 世界 👋🏽 "quoted" \\ back\nnew line';
    const fresh = await newSession();
    const reply = await postMessage(keygate.url, fresh.sessionId, fresh.token, { content });
    expect(reply.status).toBe(200);
    const history = await asSession(fresh.token).get(`/v1/chat/sessions/${fresh.sessionId}/messages`);
    expect(history.body.items[0].content).toBe(content);
    expect(history.body.items[1].content).toBe(reply.events.at(-1)!.data.content);
    expect(history.body.items[1].content).toContain('👋🏽');
  });
});

describe('history', () => {
  it('holds every turn, oldest first, and the backend sees it (turn numbers grow)', async () => {
    const s = await newSession();
    const questions = ['first question', 'second question', 'third question'];
    const answers: string[] = [];
    for (const q of questions) {
      const reply = await postMessage(keygate.url, s.sessionId, s.token, { content: q });
      answers.push(reply.events.at(-1)!.data.content);
    }
    expect(answers[2]).toContain('(turn 3)');
    const res = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    expect(res.body.items.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', questions[0]],
      ['assistant', answers[0]],
      ['user', questions[1]],
      ['assistant', answers[1]],
      ['user', questions[2]],
      ['assistant', answers[2]],
    ]);
    for (const item of res.body.items) {
      expect(Object.keys(item).sort()).toEqual(['content', 'createdAt', 'id', 'role']);
      expect(new Date(item.createdAt).toISOString()).toBe(item.createdAt);
    }
    const times = res.body.items.map((m: { createdAt: string }) => Date.parse(m.createdAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    // Paging two at a time gives the same items, and the last page has no cursor.
    const paged: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: { items: unknown[]; nextCursor: string | null } } = await asSession(s.token).get(
        `/v1/chat/sessions/${s.sessionId}/messages?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      paged.push(...page.body.items);
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(paged).toEqual(res.body.items);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=abc', 'limit'],
    ['cursor=garbage', 'cursor'],
  ])('400 for %s', async (query, field) => {
    const s = await newSession();
    const res = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual([field]);
  });
});

describe('session tokens', () => {
  it.each(NOT_A_TOKEN)('401 INVALID_TOKEN for %s', async (_, headers) => {
    const s = await newSession();
    const res = await new ApiClient(keygate.url, headers).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_TOKEN);
  });

  it('401 INVALID_TOKEN for an API key used as a session token', async () => {
    const s = await newSession();
    const { key } = await org.secretKey();
    const res = await asSession(key).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_TOKEN);
  });

  it('a token for one session cannot touch another session of the same org: 404', async () => {
    const a = await newSession();
    const b = await newSession();
    const res = await asSession(a.token).get(`/v1/chat/sessions/${b.sessionId}/messages`);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
  });

  it("a token from one org cannot touch another org's session: 404 on every route, nothing changes", async () => {
    const mine = await newSession();
    await postMessage(keygate.url, mine.sessionId, mine.token, { content: 'private' });
    const theirs = await newSession((await other.secretKey()).api);
    const intruder = asSession(theirs.token);
    const before = await org.credits();
    expect((await intruder.get(`/v1/chat/sessions/${mine.sessionId}/messages`)).status).toBe(404);
    expect((await postMessage(keygate.url, mine.sessionId, theirs.token, { content: 'hi' })).status).toBe(404);
    expect((await intruder.post(`/v1/chat/sessions/${mine.sessionId}/end`)).status).toBe(404);
    expect(await org.credits()).toBe(before);
    const still = await asSession(mine.token).get(`/v1/chat/sessions/${mine.sessionId}/messages`);
    expect(still.status).toBe(200);
    expect(still.body.items).toHaveLength(2);
  });
});

describe('ending a session', () => {
  it('200 {sessionId, status: ended}, then 401 SESSION_ENDED on every session route', async () => {
    const s = await newSession();
    const client = asSession(s.token);
    const ended = await client.post(`/v1/chat/sessions/${s.sessionId}/end`);
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual({ sessionId: s.sessionId, status: 'ended' });
    const history = await client.get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(history.status).toBe(401);
    expect(history.body).toEqual(SESSION_ENDED);
    const message = await postMessage(keygate.url, s.sessionId, s.token, { content: 'still there?' });
    expect(message.status).toBe(401);
    expect(message.body).toEqual(SESSION_ENDED);
    const again = await client.post(`/v1/chat/sessions/${s.sessionId}/end`);
    expect(again.status).toBe(401);
    expect(again.body).toEqual(SESSION_ENDED);
  });
});

describe('the creating key decides', () => {
  it('revoking the key ends its sessions at once (next request: 401 SESSION_ENDED)', async () => {
    const key = await org.secretKey();
    const s = await newSession(key.api);
    expect((await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`)).status).toBe(200);
    const revoked = await org.owner.delete(`/v1/organizations/${org.id}/api-keys/${key.id}`);
    expect(revoked.status).toBe(204);
    const history = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    expect(history.status).toBe(401);
    expect(history.body).toEqual(SESSION_ENDED);
    const message = await postMessage(keygate.url, s.sessionId, s.token, { content: 'hello?' });
    expect(message.status).toBe(401);
    expect(message.body).toEqual(SESSION_ENDED);
  });

  it('a disabled key stops its sessions; re-enabled, they work again', async () => {
    const key = await org.secretKey();
    const s = await newSession(key.api);
    const path = `/v1/organizations/${org.id}/api-keys/${key.id}`;
    expect((await org.owner.patch(path, { status: 'disabled' })).status).toBe(200);
    const disabled = await postMessage(keygate.url, s.sessionId, s.token, { content: 'hello?' });
    expect(disabled.status).toBe(401);
    expect(disabled.body).toEqual(SESSION_ENDED);
    expect((await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`)).body).toEqual(SESSION_ENDED);
    expect((await org.owner.patch(path, { status: 'active' })).status).toBe(200);
    const back = await postMessage(keygate.url, s.sessionId, s.token, { content: 'hello again' });
    expect(back.status).toBe(200);
    expect(back.events.at(-1)!.event).toBe('message.completed');
  });
});

describe('publishable-key sessions are bound to their origin', () => {
  it('answers the bound origin with CORS headers, on the stream and on errors too', async () => {
    const { api: widget } = await org.publishableKey();
    const created = await widget.post('/v1/chat/sessions', {});
    expect(created.status, created.text).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    const { sessionId, token } = created.body;
    const reply = await postMessage(keygate.url, sessionId, token, { content: 'from the page' }, { Origin: APP_ORIGIN });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(reply.headers.get('vary')).toContain('Origin');
    const history = await asSession(token, { Origin: APP_ORIGIN }).get(`/v1/chat/sessions/${sessionId}/messages`);
    expect(history.status).toBe(200);
    expect(history.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    const bad = await asSession(token, { Origin: APP_ORIGIN }).get(`/v1/chat/sessions/${sessionId}/messages?limit=0`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    await asSession(token, { Origin: APP_ORIGIN }).post(`/v1/chat/sessions/${sessionId}/end`);
    const ended = await asSession(token, { Origin: APP_ORIGIN }).get(`/v1/chat/sessions/${sessionId}/messages`);
    expect(ended.status).toBe(401);
    expect(ended.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
  });

  // A real Origin is echoed so the calling page can read its refusal (docs/api.md "Keys"); with
  // no Origin or `null` there is nothing to echo. Either way nothing was read or counted.
  it.each([
    ['another origin', { Origin: 'https://evil.example.net' }, 'https://evil.example.net'],
    ['a sibling subdomain the key also allows', { Origin: 'https://other.app.example.com' }, 'https://other.app.example.com'],
    ['no Origin', {}, null],
    ['Origin null', { Origin: 'null' }, null],
  ])('403 CORS_ORIGIN_NOT_ALLOWED from %s, readable only by a real calling origin', async (_, headers, readableBy) => {
    const { api: widget } = await org.publishableKey();
    const { sessionId, token } = (await widget.post('/v1/chat/sessions', {})).body;
    const refusal = { error: 'forbidden', message: 'Origin is not allowed for this API key', code: 'CORS_ORIGIN_NOT_ALLOWED' };
    const res = await asSession(token, headers).get(`/v1/chat/sessions/${sessionId}/messages`);
    expect(res.status).toBe(403);
    expect(res.body).toEqual(refusal);
    expect(res.headers.get('access-control-allow-origin')).toBe(readableBy);
    if (readableBy) expect(res.headers.get('vary')).toContain('Origin');
    expect(res.headers.get('x-ratelimit-remaining')).toBeNull();
    const message = await postMessage(keygate.url, sessionId, token, { content: 'x' }, headers);
    expect(message.status).toBe(403);
    expect(message.body).toEqual(refusal);
    expect(message.headers.get('access-control-allow-origin')).toBe(readableBy);
  });

  it('stops when the key no longer allows the origin', async () => {
    const key = await org.publishableKey();
    const { sessionId, token } = (await key.api.post('/v1/chat/sessions', {})).body;
    const patched = await org.owner.patch(`/v1/organizations/${org.id}/api-keys/${key.id}`, { allowedDomains: ['elsewhere.example.org'] });
    expect(patched.status, patched.text).toBe(200);
    const res = await asSession(token, { Origin: APP_ORIGIN }).get(`/v1/chat/sessions/${sessionId}/messages`);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('CORS_ORIGIN_NOT_ALLOWED');
    // The page on that origin can read why, as it could for a new request with the key.
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
  });
});

describe('rate limits', () => {
  it('session requests are counted and carry the X-RateLimit headers', async () => {
    const s = await newSession();
    // Two consecutive session requests in the same minute window: the second has one fewer remaining.
    let history, second;
    do {
      history = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`);
      second = await asSession(s.token).get(`/v1/chat/sessions/${s.sessionId}/messages`);
    } while (history.headers.get('x-ratelimit-reset') !== second.headers.get('x-ratelimit-reset'));
    expect(history.headers.get('x-ratelimit-limit')).toMatch(/^\d+$/);
    expect(history.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
    expect(history.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
    expect(Number(second.headers.get('x-ratelimit-remaining'))).toBe(Number(history.headers.get('x-ratelimit-remaining')) - 1);
    const reply = await postMessage(keygate.url, s.sessionId, s.token, { content: 'count me' });
    expect(reply.headers.get('x-ratelimit-limit')).toMatch(/^\d+$/);
  });
});
