// One-shot chat messages over HTTP: both paths, conversations that continue, credits, and
// conversations of another organization staying out of reach.
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, fileTestApi } from '../support/api.ts';
import { APP_ORIGIN, createTestOrg, type TestOrg } from './chat-helpers.ts';

const keygate = await fileTestApi();
let org: TestOrg;
let api: ApiClient;

beforeAll(async () => {
  org = await createTestOrg(keygate.url, 'One Shot Co');
  api = (await org.secretKey()).api;
});

describe.each(['/v1/chat/message', '/api/v1/chat/message'])('POST %s', (path) => {
  it('200 {conversation_id, message: {role: assistant, content}, usage: {credits: 1}}', async () => {
    const before = await org.credits();
    const res = await api.post(path, { message: 'Hello there' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      conversation_id: expect.stringMatching(/^conv_[0-9A-Za-z]{20}$/),
      message: { role: 'assistant', content: expect.stringContaining('Hello there') },
      usage: { credits: 1 },
    });
    expect(await org.credits()).toBe(before - 1);
  });

  it('continues a conversation given its conversation_id (the backend sees the earlier turns)', async () => {
    const first = await api.post(path, { message: 'first' });
    expect(first.body.message.content).toContain('(turn 1)');
    const second = await api.post(path, { message: 'second', conversation_id: first.body.conversation_id });
    expect(second.status, second.text).toBe(200);
    expect(second.body.conversation_id).toBe(first.body.conversation_id);
    expect(second.body.message.content).toContain('(turn 2)');
    // Any key of the same organization may continue it.
    const { api: another } = await org.secretKey();
    const third = await another.post(path, { message: 'third', conversation_id: first.body.conversation_id });
    expect(third.body.message.content).toContain('(turn 3)');
  });
});

describe('client-chosen conversation ids (docs/api.md "Routes")', () => {
  const fresh = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}`;

  it("the docs' own example: an id not used yet starts a conversation under that id, continued by it", async () => {
    const id = fresh('conv-abc');
    const first = await api.post('/api/v1/chat/message', { message: 'Show me sales data', conversation_id: id });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toEqual({
      conversation_id: id,
      message: { role: 'assistant', content: 'You said: Show me sales data (turn 1). This reply comes from the Keygate local backend.' },
      usage: { credits: 1 },
    });
    const second = await api.post('/v1/chat/message', { message: 'and costs', conversation_id: id });
    expect(second.status, second.text).toBe(200);
    expect(second.body.conversation_id).toBe(id);
    expect(second.body.message.content).toContain('(turn 2)');
  });

  it.each([
    ['the longest allowed id (128 characters)', 'a'.repeat(128)],
    ['every allowed character', 'Az09._:-'],
    ['an id shaped like one the API generates', `conv_${'A'.repeat(20)}`],
  ])('starts a conversation under %s', async (_, base) => {
    const id = base.length === 128 ? base.slice(0, 120) + Math.random().toString(36).slice(2, 10) : base + Math.random().toString(36).slice(2, 8);
    const res = await api.post('/v1/chat/message', { message: 'x', conversation_id: id });
    expect(res.status, res.text).toBe(200);
    expect(res.body.conversation_id).toBe(id);
    expect(res.body.message.content).toContain('(turn 1)');
  });

  it.each([
    ['an empty id', ''],
    ['129 characters', 'a'.repeat(129)],
    ['a slash', '../../etc'],
    ['a space', 'conv abc'],
    ['a hash (the stored key separator)', 'conv#abc'],
    ['non-ASCII', 'conv-é'],
  ])('400 VALIDATION_ERROR naming conversation_id for %s, nothing charged', async (_, id) => {
    const before = await org.credits();
    const res = await api.post('/v1/chat/message', { message: 'x', conversation_id: id });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_error', code: 'VALIDATION_ERROR' });
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual(['conversation_id']);
    expect(await org.credits()).toBe(before);
  });

  it('a chat session id is only a name here: it starts a conversation that never sees the session', async () => {
    const session = await api.post('/v1/chat/sessions', {});
    const res = await api.post('/v1/chat/message', { message: 'x', conversation_id: session.body.sessionId });
    expect(res.status, res.text).toBe(200);
    expect(res.body.message.content).toContain('(turn 1)');
  });

  it('two concurrent first uses of one id end up in one conversation', async () => {
    const id = fresh('race');
    const since = new Date(Date.now() - 1000).toISOString();
    const racers = await Promise.all(Array.from({ length: 5 }, (_, i) => api.post('/v1/chat/message', { message: `racer ${i}`, conversation_id: id })));
    expect(racers.map((r) => [r.status, r.body.conversation_id])).toEqual(Array.from({ length: 5 }, () => [200, id]));
    // All five turns are in the one conversation: the next reply is its sixth turn.
    const next = await api.post('/v1/chat/message', { message: 'who is here?', conversation_id: id });
    expect(next.body.message.content).toContain('(turn 6)');
    const sessions = await api.get(`/api/export?resource=sessions&from=${since}&limit=1000`);
    expect(sessions.body.items.filter((s: { id: string }) => s.id === id)).toHaveLength(1);
  });
});

describe('conversation scope: the organization for secret keys, the key itself for publishable keys', () => {
  it("another organization's id is another conversation: it never sees the first one's turns", async () => {
    const mine = await api.post('/v1/chat/message', { message: 'my secret plan' });
    const other = await createTestOrg(keygate.url, 'Nosy Co');
    const { api: nosy } = await other.secretKey();
    const [mineBefore, otherBefore] = [await org.credits(), await other.credits()];
    const res = await nosy.post('/v1/chat/message', { message: 'peek', conversation_id: mine.body.conversation_id });
    expect(res.status, res.text).toBe(200);
    expect(res.body.conversation_id).toBe(mine.body.conversation_id);
    expect(res.body.message.content).toBe('You said: peek (turn 1). This reply comes from the Keygate local backend.');
    // The caller pays for its own reply; the first organization's conversation goes on untouched.
    expect(await org.credits()).toBe(mineBefore);
    expect(await other.credits()).toBe(otherBefore - 1);
    const again = await api.post('/v1/chat/message', { message: 'still mine', conversation_id: mine.body.conversation_id });
    expect(again.body.message.content).toContain('(turn 2)');
    const exported = await (await other.secretKey()).api.get('/api/export?resource=messages');
    expect(JSON.stringify(exported.body)).not.toContain('my secret plan');
  });

  it("a publishable key cannot continue a secret key's conversation: 400, the id was not returned to it", async () => {
    const id = `order-${Math.random().toString(36).slice(2, 10)}`;
    const backend = await api.post('/v1/chat/message', { message: 'internal numbers', conversation_id: id });
    await api.post('/v1/chat/message', { message: 'more internal numbers', conversation_id: id });
    const { api: widget } = await org.publishableKey();
    const res = await widget.post('/v1/chat/message', { message: 'what did they say?', conversation_id: backend.body.conversation_id });
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'conversation_id' }] });
    expect((await api.post('/v1/chat/message', { message: 's3', conversation_id: id })).body.message.content).toContain('(turn 3)');
  });

  it("neither another publishable key nor a secret key of the organization reaches a publishable key's conversation", async () => {
    const { api: widget } = await org.publishableKey();
    const { api: otherWidget } = await org.publishableKey();
    const started = await widget.post('/v1/chat/message', { message: 'visitor question' });
    expect(started.status, started.text).toBe(200);
    const id = started.body.conversation_id;
    // Another publishable key: the id is not one Keygate returned to it.
    expect((await otherWidget.post('/v1/chat/message', { message: 'peek', conversation_id: id })).status).toBe(400);
    // A secret key: its organization's scope, another conversation.
    const res = await api.post('/v1/chat/message', { message: 'peek', conversation_id: id });
    expect(res.status, res.text).toBe(200);
    expect(res.body.message.content).toContain('(turn 1)');
    expect((await widget.post('/v1/chat/message', { message: 'next', conversation_id: id })).body.message.content).toContain('(turn 2)');
  });

  it('a publishable key accepts only conversation ids Keygate returned to it: a chosen id is 400 and starts nothing', async () => {
    const { api: widget } = await org.publishableKey();
    const before = await org.credits();
    for (const id of ['support', 'conv_AAAAAAAAAAAAAAAAAAAAAAAA', `visitor-${Math.random().toString(36).slice(2, 10)}`]) {
      const res = await widget.post('/v1/chat/message', { message: 'hello', conversation_id: id });
      expect(res.status, res.text).toBe(400);
      expect(res.body).toMatchObject({ error: 'validation_error', code: 'VALIDATION_ERROR', details: [{ field: 'conversation_id' }] });
    }
    expect(await org.credits()).toBe(before);
    const started = await widget.post('/v1/chat/message', { message: 'hello' });
    expect(started.body.conversation_id).toMatch(/^conv_/);
    const next = await widget.post('/v1/chat/message', { message: 'again', conversation_id: started.body.conversation_id });
    expect(next.status, next.text).toBe(200);
    expect(next.body.message.content).toContain('(turn 2)');
  });
});

describe('credits and failures', () => {
  it('402 when the organization has no credits, and no conversation is created', async () => {
    const poor = await createTestOrg(keygate.url, 'Broke Co');
    const { api: poorApi } = await poor.secretKey();
    await poor.setCredits(0);
    const res = await poorApi.post('/v1/chat/message', { message: 'hi' });
    expect(res.status).toBe(402);
    expect(res.body).toEqual({ error: 'insufficient_credits', message: 'Organization has no credits left', code: 'INSUFFICIENT_CREDITS' });
    const exported = await poorApi.get('/api/export?resource=sessions');
    expect(exported.status, exported.text).toBe(200);
    expect(exported.body.items).toEqual([]);
    // Control: the same export does list a conversation once a message goes through.
    await poor.setCredits(1);
    const ok = await poorApi.post('/v1/chat/message', { message: 'hi' });
    expect(ok.status, ok.text).toBe(200);
    const after = await poorApi.get('/api/export?resource=sessions');
    expect(after.body.items.map((i: { id: string; type: string }) => [i.id, i.type])).toEqual([[ok.body.conversation_id, 'conversation']]);
  });

  it('a failing reply is a 503 and costs nothing', async () => {
    const before = await org.credits();
    const res = await api.post('/v1/chat/message', { message: '[fail-midstream]' });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('SERVICE_UNAVAILABLE');
    expect(await org.credits()).toBe(before);
  });

  it('credits never go below zero under concurrent one-shot messages', async () => {
    const tight = await createTestOrg(keygate.url, 'Tight Co');
    const { api: tightApi } = await tight.secretKey();
    await tight.setCredits(3);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => tightApi.post('/v1/chat/message', { message: `m${i}` })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    expect(results.filter((r) => r.status === 402)).toHaveLength(5);
    expect(await tight.credits()).toBe(0);
  });
});

describe('validation', () => {
  it.each([
    ['an empty message', { message: '' }, 'message'],
    ['a number', { message: 1 }, 'message'],
    ['no message', {}, 'message'],
    ['a conversation_id that is not a string', { message: 'x', conversation_id: 7 }, 'conversation_id'],
    ['content instead of message', { content: 'x' }, 'message'],
  ])('400 for %s', async (_, body, field) => {
    const res = await api.post('/v1/chat/message', body);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('413 for a body over 64 KiB', async () => {
    const res = await api.post('/v1/chat/message', { message: 'x'.repeat(70_000) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('unicode comes back intact', async () => {
    const res = await api.post('/v1/chat/message', { message: 'Ça va? 你好 🚀' });
    expect(res.body.message.content).toContain('Ça va? 你好 🚀');
  });
});

describe('publishable keys', () => {
  it('work from an allowed origin, with CORS headers on the answer', async () => {
    const { api: widget } = await org.publishableKey();
    const res = await widget.post('/v1/chat/message', { message: 'from a page' });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
  });
});

describe('Idempotency-Key (docs/api.md "Rate limits and credits"): scoped to the API key, a retry replays the original reply', () => {
  const idem = (label: string) => ({ 'Idempotency-Key': `${label}-${Math.random().toString(36).slice(2, 10)}` });

  it('a retry with the same key returns the original reply and charges nothing more', async () => {
    const headers = idem('order-1001');
    const before = await org.credits();
    const first = await api.post('/v1/chat/message', { message: 'Where is my order?' }, headers);
    expect(first.status, first.text).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const retry = await api.post('/v1/chat/message', { message: 'Where is my order?' }, headers);
    expect(retry.status, retry.text).toBe(200);
    // The same body, the generated conversation_id included.
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await org.credits()).toBe(before - 1);
    // The conversation holds the one turn: the next message is its second.
    const next = await api.post('/v1/chat/message', { message: 'and now?', conversation_id: first.body.conversation_id });
    expect(next.body.message.content).toContain('(turn 2)');
  });

  it("a publishable key's Idempotency-Key never affects a secret key's, nor one secret key's another's", async () => {
    const headers = idem('order-1001');
    const { api: widget } = await org.publishableKey();
    const { api: otherServer } = await org.secretKey();
    const before = await org.credits();
    const claimed = await widget.post('/v1/chat/message', { message: 'pre-claim' }, headers);
    expect(claimed.status, claimed.text).toBe(200);
    for (const [client, text] of [[api, 'backend call'], [otherServer, 'second backend']] as const) {
      const res = await client.post('/v1/chat/message', { message: text }, headers);
      expect(res.status, res.text).toBe(200);
      expect(res.body.message.content).toBe(`You said: ${text} (turn 1). This reply comes from the Keygate local backend.`);
      expect(res.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(await org.credits()).toBe(before - 3);
  });

  it('the same key with another request is 409 CONFLICT, charged nothing', async () => {
    const headers = idem('k');
    expect((await api.post('/v1/chat/message', { message: 'one thing' }, headers)).status).toBe(200);
    const before = await org.credits();
    const other = await api.post('/v1/chat/message', { message: 'another thing' }, headers);
    expect(other.status).toBe(409);
    expect(other.body).toEqual({ error: 'conflict', message: 'This Idempotency-Key was used with another request', code: 'CONFLICT' });
    expect(await org.credits()).toBe(before);
  });

  it('a retry while the original is in flight is 409 with Retry-After; once it has finished, the retry replays it', async () => {
    const headers = idem('slow');
    const message = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    const before = await org.credits();
    const original = api.post('/v1/chat/message', { message }, headers);
    // The original has reserved its credit (and is generating ~45 words, 15 ms each): retry now.
    while ((await org.credits()) === before) await new Promise((r) => setTimeout(r, 10));
    const early = await api.post('/v1/chat/message', { message }, headers);
    expect(early.status, early.text).toBe(409);
    expect(early.body).toEqual({
      error: 'conflict',
      message: 'A request with this Idempotency-Key is still in progress; retry when it has finished',
      code: 'CONFLICT',
    });
    expect(early.headers.get('retry-after')).toBe('1');
    const done = await original;
    expect(done.status, done.text).toBe(200);
    const late = await api.post('/v1/chat/message', { message }, headers);
    expect(late.body).toEqual(done.body);
    expect(await org.credits()).toBe(before - 1);
  });

  it('a failed original is refunded, and its retry runs again', async () => {
    const headers = idem('fails');
    const before = await org.credits();
    expect((await api.post('/v1/chat/message', { message: '[fail]' }, headers)).status).toBe(503);
    expect((await api.post('/v1/chat/message', { message: '[fail]' }, headers)).status).toBe(503);
    expect(await org.credits()).toBe(before);
  });
});
