// One-shot chat messages over HTTP: both paths, conversations that continue, credits, and
// conversations of another organization staying out of reach.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, startTestApi } from '../support/api.ts';
import { APP_ORIGIN, createTestOrg, type TestOrg } from './chat-helpers.ts';

let keygate: LocalKeygate;
let org: TestOrg;
let api: ApiClient;

beforeAll(async () => {
  keygate = await startTestApi();
  org = await createTestOrg(keygate.url, 'One Shot Co');
  api = (await org.secretKey()).api;
});

afterAll(async () => {
  await keygate?.stop();
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

describe('conversations stay in their organization', () => {
  it("404 for another organization's conversation, and nothing charged to either", async () => {
    const mine = await api.post('/v1/chat/message', { message: 'mine' });
    const other = await createTestOrg(keygate.url, 'Nosy Co');
    const { api: nosy } = await other.secretKey();
    const [mineBefore, otherBefore] = [await org.credits(), await other.credits()];
    const res = await nosy.post('/v1/chat/message', { message: 'peek', conversation_id: mine.body.conversation_id });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: 'not_found', code: 'NOT_FOUND' });
    expect(await org.credits()).toBe(mineBefore);
    expect(await other.credits()).toBe(otherBefore);
  });

  it.each([
    ['an unknown conversation', 'conv_AAAAAAAAAAAAAAAAAAAA'],
    ['a session id (sessions are not conversations)', 'ses_AAAAAAAAAAAAAAAAAAAA'],
    ['something that is no id at all', '../../etc'],
  ])('404 for %s', async (_, id) => {
    const res = await api.post('/v1/chat/message', { message: 'x', conversation_id: id });
    expect(res.status).toBe(404);
  });

  it('a real chat session id is not a conversation either', async () => {
    const session = await api.post('/v1/chat/sessions', {});
    const res = await api.post('/v1/chat/message', { message: 'x', conversation_id: session.body.sessionId });
    expect(res.status).toBe(404);
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
