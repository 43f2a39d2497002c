// The chat flow once per upstream kind, over HTTP against the local API: a session's streamed
// reply and its history, a one-shot message with a publishable key, and a failure before the first
// delta (503, not charged). What each upstream received is checked: the assistant's model and
// output cap, the identity fields, the signature (the reference http upstream verifies it), and
// the caller's credentials nowhere. Bedrock is the SDK client mocked in this process (the sources
// serve the API here, not the bundles).
import { BedrockRuntimeClient, ConverseStreamCommand, type ConverseStreamOutput } from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpUpstream, type KeygateRequest } from '../../examples/http-upstream/server.ts';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, startTestApi } from '../support/api.ts';
import { startOpenAIStub, type OpenAIStub } from '../support/openai-stub.ts';
import { APP_ORIGIN, createTestOrg, deltas, postMessage, type TestOrg } from './chat-helpers.ts';

const SIGNING_SECRET = 'whsec_e2e-upstream-signing';
const UPSTREAM_KEY = 'sk-upstream-e2e-key';

let keygate: LocalKeygate;
let org: TestOrg;
let stub: OpenAIStub;
let httpServer: Server;
const httpReceived: { body: KeygateRequest; headers: IncomingHttpHeaders }[] = [];
const bedrock = mockClient(BedrockRuntimeClient);
const saved = { upstreams: process.env.KEYGATE_UPSTREAMS, default: process.env.KEYGATE_DEFAULT_UPSTREAM };

beforeAll(async () => {
  stub = await startOpenAIStub();
  httpServer = createHttpUpstream({ signingSecret: SIGNING_SECRET, onRequest: (body, headers) => httpReceived.push({ body, headers }) });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  process.env.KEYGATE_UPSTREAMS = JSON.stringify({
    echo: { kind: 'echo' },
    gpt: { kind: 'openai', baseUrl: stub.baseUrl, apiKey: UPSTREAM_KEY, models: ['gpt-test', 'gpt-other'], timeoutSeconds: 2 },
    sql: { kind: 'http', url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/reply`, signingSecret: SIGNING_SECRET, timeoutSeconds: 2 },
    claude: { kind: 'bedrock', models: ['us.anthropic.claude-test-v1:0'] },
    'gpt-short': { kind: 'openai', baseUrl: stub.baseUrl, models: ['gpt-test'], timeoutSeconds: 1, maxDurationSeconds: 1 },
    'gpt-slow': { kind: 'openai', baseUrl: stub.baseUrl, models: ['gpt-test'], timeoutSeconds: 20, maxDurationSeconds: 60 },
  });
  keygate = await startTestApi();
  org = await createTestOrg(keygate.url, 'Upstream kinds');
  for (const [name, upstream, model] of [['echo', 'echo', null], ['gpt', 'gpt', 'gpt-test'], ['sql', 'sql', null], ['claude', 'claude', 'us.anthropic.claude-test-v1:0'], ['gpt-short', 'gpt-short', 'gpt-test'], ['gpt-slow', 'gpt-slow', 'gpt-test']] as const) {
    const res = await org.owner.post(`/v1/organizations/${org.id}/assistants`, { name, upstream, ...(model ? { model } : {}), ...ASSISTANT });
    if (res.status !== 201) throw new Error(`assistant: ${res.text}`);
    assistantIds[name] = res.body.id;
  }
});

const ASSISTANT = { instructions: 'Answer briefly.', maxOutputTokens: 300, temperature: 0.5 };
const assistantIds: Record<string, string> = {};

async function pinnedKey(assistant: string) {
  const res = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'widget', type: 'publishable', allowedDomains: ['app.example.com'], assistantId: assistantIds[assistant] });
  if (res.status !== 201) throw new Error(`key: ${res.text}`);
  return new ApiClient(keygate.url, { 'X-API-Key': res.body.key, Origin: APP_ORIGIN });
}

afterAll(async () => {
  await keygate?.stop();
  await stub?.close();
  httpServer?.closeAllConnections();
  httpServer?.close();
  bedrock.restore();
  for (const [name, value] of [['KEYGATE_UPSTREAMS', saved.upstreams], ['KEYGATE_DEFAULT_UPSTREAM', saved.default]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

interface Kind {
  name: string;
  expected: string;
  /** The reply's tokens as the usage routes add them (reported, or estimated for echo). */
  tokens: { inputTokens: number; outputTokens: number };
  /** Arrange a reply that fails before its first delta. */
  failNext(): void | string;
  /** Undo failNext. */
  heal(): void;
}

const bedrockEvents = (texts: string[]): AsyncIterable<ConverseStreamOutput> =>
  (async function* () {
    yield { messageStart: { role: 'assistant' } };
    for (const text of texts) yield { contentBlockDelta: { contentBlockIndex: 0, delta: { text } } };
    yield { contentBlockStop: { contentBlockIndex: 0 } };
    yield { messageStop: { stopReason: 'end_turn' } };
    yield { metadata: { usage: { inputTokens: 21, outputTokens: 3, totalTokens: 24 }, metrics: { latencyMs: 5 } } };
  })();

function healBedrock() {
  bedrock.reset();
  bedrock.on(ConverseStreamCommand).callsFake(async () => ({ stream: bedrockEvents(['From ', 'Bed', 'rock.']) }));
}

const KINDS: Kind[] = [
  {
    name: 'echo',
    expected: 'You said: Hello upstream (turn 1). This reply comes from the Keygate local backend.',
    // Estimated: the instructions (15 bytes -> 4) and "Hello upstream" (14 bytes -> 4); the reply's 82 bytes -> 21.
    tokens: { inputTokens: 8, outputTokens: 21 },
    failNext: () => '[fail]',
    heal: () => {},
  },
  {
    name: 'gpt',
    expected: 'Hello from the stub.',
    tokens: { inputTokens: 11, outputTokens: 4 },
    failNext: () => {
      stub.mode = { kind: 'status', status: 500 };
    },
    heal: () => {
      stub.mode = { kind: 'ok' };
    },
  },
  {
    name: 'sql',
    expected: 'Echo: Hello upstream',
    tokens: { inputTokens: 1, outputTokens: 3 },
    failNext: () => {
      process.env.KEYGATE_UPSTREAMS = process.env.KEYGATE_UPSTREAMS!.replace(SIGNING_SECRET, 'whsec_rotated-wrongly');
    },
    heal: () => {
      process.env.KEYGATE_UPSTREAMS = process.env.KEYGATE_UPSTREAMS!.replace('whsec_rotated-wrongly', SIGNING_SECRET);
    },
  },
  {
    name: 'claude',
    expected: 'From Bedrock.',
    tokens: { inputTokens: 21, outputTokens: 3 },
    failNext: () => {
      bedrock.reset();
      bedrock.on(ConverseStreamCommand).rejects(Object.assign(new Error('ThrottlingException: secret internals'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } }));
    },
    heal: healBedrock,
  },
];

/** What the claude assistant sends Bedrock for the message 'Hello upstream'. */
const CLAUDE_HELLO_INPUT = {
  modelId: 'us.anthropic.claude-test-v1:0',
  messages: [{ role: 'user', content: [{ text: 'Hello upstream' }] }],
  system: [{ text: 'Answer briefly.' }],
  inferenceConfig: { maxTokens: 300, temperature: 0.5 },
};

describe.each(KINDS)('upstream $name', (kind) => {
  beforeAll(() => {
    healBedrock();
    kind.heal();
    stub.requests.length = 0;
    httpReceived.length = 0;
  });

  it('a session streams the reply, stores it in the history and charges one credit', async () => {
    const { api, key, id: keyId } = await org.secretKey();
    const before = await org.credits();
    const session = await api.post('/v1/chat/sessions', { assistant: kind.name });
    expect(session.status, session.text).toBe(201);
    const reply = await postMessage(keygate.url, session.body.sessionId, session.body.token, { content: 'Hello upstream' });
    expect(reply.status).toBe(200);
    expect(deltas(reply).join('')).toBe(kind.expected);
    expect(reply.events.at(-1)).toMatchObject({ event: 'message.completed', data: { content: kind.expected, usage: { credits: 1 } } });
    const history = await fetch(`${keygate.url}/v1/chat/sessions/${session.body.sessionId}/messages`, { headers: { Authorization: `Bearer ${session.body.token}` } });
    const items = ((await history.json()) as { items: { role: string; content: string }[] }).items;
    expect(items.map((m) => [m.role, m.content])).toEqual([
      ['user', 'Hello upstream'],
      ['assistant', kind.expected],
    ]);
    expect(await org.credits()).toBe(before - 1);
    const usage = await org.owner.get(`/v1/organizations/${org.id}/api-keys/${keyId}/usage?days=1`);
    expect(usage.body.items[0]).toMatchObject({ credits: 1, ...kind.tokens });

    if (kind.name === 'gpt') {
      const [req] = stub.requests;
      expect(req!.body).toMatchObject({ model: 'gpt-test', max_completion_tokens: 300, temperature: 0.5, stream: true, stream_options: { include_usage: true } });
      expect(req!.body.messages).toEqual([
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'Hello upstream' },
      ]);
      expect(req!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect(JSON.stringify(req)).not.toContain(key);
      expect(JSON.stringify(req)).not.toContain(session.body.token);
    }
    if (kind.name === 'sql') {
      const [{ body, headers }] = httpReceived as [(typeof httpReceived)[number]];
      expect(body.identity).toEqual({
        organizationId: org.id,
        keyId: expect.stringMatching(/^key_/),
        keyType: 'secret',
        databaseId: null,
        sessionId: session.body.sessionId,
        conversationId: null,
        origin: null,
      });
      expect(body.assistant).toEqual({ id: assistantIds.sql, name: 'sql', model: null, instructions: 'Answer briefly.', maxOutputTokens: 300, temperature: 0.5 });
      expect(headers['keygate-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(JSON.stringify({ body, headers })).not.toContain(key);
      expect(JSON.stringify({ body, headers })).not.toContain(session.body.token);
    }
    if (kind.name === 'claude') {
      const input = bedrock.commandCalls(ConverseStreamCommand).at(-1)!.args[0].input;
      expect(input).toEqual(CLAUDE_HELLO_INPUT);
    }
  });

  it('a publishable key’s one-shot message gets the whole reply as JSON; an http upstream sees the origin and the conversation', async () => {
    const api = await pinnedKey(kind.name);
    const res = await api.post('/v1/chat/message', { message: 'Hello upstream' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ message: { role: 'assistant', content: kind.expected }, usage: { credits: 1 } });
    if (kind.name === 'sql') {
      expect(httpReceived.at(-1)!.body.identity).toMatchObject({ keyType: 'publishable', origin: APP_ORIGIN, sessionId: null, conversationId: res.body.conversation_id });
    }
  });

  it('a publishable key’s session reply: the upstream gets the pinned assistant’s instructions, model, cap and temperature, the right identity, and no credential of the caller', async () => {
    const keyRes = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'widget', type: 'publishable', allowedDomains: ['app.example.com'], assistantId: assistantIds[kind.name] });
    expect(keyRes.status, keyRes.text).toBe(201);
    const key = keyRes.body.key as string;
    const api = new ApiClient(keygate.url, { 'X-API-Key': key, Origin: APP_ORIGIN });
    stub.requests.length = 0;
    httpReceived.length = 0;
    const session = await api.post('/v1/chat/sessions', {});
    expect(session.status, session.text).toBe(201);
    const token = session.body.token as string;
    const reply = await postMessage(keygate.url, session.body.sessionId, token, { content: 'Hello upstream' }, { Origin: APP_ORIGIN });
    expect(reply.status).toBe(200);
    expect(deltas(reply).join('')).toBe(kind.expected);
    const secrets = [key, token, keyRes.body.id as string];
    const noCredential = (received: unknown) => {
      const text = JSON.stringify(received);
      for (const secret of secrets.slice(0, 2)) expect(text).not.toContain(secret);
    };
    if (kind.name === 'gpt') {
      const [req, ...more] = stub.requests;
      expect(more).toEqual([]);
      expect(req!.body).toMatchObject({ model: 'gpt-test', max_completion_tokens: 300, temperature: 0.5 });
      expect(req!.body.messages).toEqual([
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'Hello upstream' },
      ]);
      // An opaque id of the key: not the key, not its id.
      expect(req!.body.user).toMatch(/^kg_[\w-]{24}$/);
      expect(JSON.stringify(req)).not.toContain(keyRes.body.id);
      expect(req!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect(req!.headers.origin).toBeUndefined();
      noCredential(req);
    }
    if (kind.name === 'sql') {
      // The reference upstream hands over a request only once its signature verified (and its id is new).
      const [{ body, headers }, ...more] = httpReceived as [(typeof httpReceived)[number]];
      expect(more).toEqual([]);
      expect(body.identity).toEqual({
        organizationId: org.id,
        keyId: keyRes.body.id,
        keyType: 'publishable',
        databaseId: null,
        sessionId: session.body.sessionId,
        conversationId: null,
        origin: APP_ORIGIN,
      });
      expect(body.assistant).toEqual({ id: assistantIds.sql, name: 'sql', model: null, instructions: 'Answer briefly.', maxOutputTokens: 300, temperature: 0.5 });
      expect(body.messages).toEqual([{ role: 'user', content: 'Hello upstream' }]);
      expect(headers['keygate-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(headers.authorization).toBeUndefined();
      expect(headers['x-api-key']).toBeUndefined();
      noCredential({ body, headers });
    }
    if (kind.name === 'claude') {
      const call = bedrock.commandCalls(ConverseStreamCommand).at(-1)!.args[0].input;
      expect(call).toEqual(CLAUDE_HELLO_INPUT);
      noCredential(call);
    }
  });

  it('a reply that fails before its first delta is a 503 with Retry-After, no upstream text, not charged', async () => {
    const { api } = await org.secretKey();
    const before = await org.credits();
    const content = kind.failNext() ?? 'Hello upstream';
    try {
      const res = await api.post('/v1/chat/message', { message: content, assistant: kind.name });
      expect([400, 503]).toContain(res.status);
      if (kind.name === 'sql') expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR' }); // the service refused the signature: a 401
      else {
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(res.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      }
      expect(res.text).not.toMatch(/secret|internals|sk-upstream/);
    } finally {
      kind.heal();
    }
    expect(await org.credits()).toBe(before);
  });
});

describe('a streamed reply that does not end normally (openai stub)', () => {
  afterEach(() => {
    stub.mode = { kind: 'ok' };
  });

  it('a caller that disconnects stops the upstream; what was produced is stored and paid', async () => {
    stub.mode = { kind: 'hang-after-first' };
    stub.aborted = 0;
    const { api } = await org.secretKey();
    const before = await org.credits();
    const session = await api.post('/v1/chat/sessions', { assistant: 'gpt' });
    const abort = new AbortController();
    const res = await fetch(`${keygate.url}/v1/chat/sessions/${session.body.sessionId}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.body.token}` },
      body: JSON.stringify({ content: 'Tell me everything' }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: message.delta');
    abort.abort();
    await expect.poll(() => stub.aborted, { timeout: 5000 }).toBe(1);
    const history = async () =>
      ((await (await fetch(`${keygate.url}/v1/chat/sessions/${session.body.sessionId}/messages`, { headers: { Authorization: `Bearer ${session.body.token}` } })).json()) as { items: { role: string; content: string }[] }).items;
    await expect.poll(async () => (await history()).map((m) => m.content), { timeout: 5000 }).toEqual(['Tell me everything', 'Hello']);
    expect(await org.credits()).toBe(before - 1);
  });

  it('a caller that disconnects before the first delta stops the upstream at once; nothing is stored or paid', async () => {
    stub.mode = { kind: 'slow', firstByteMs: 10_000 };
    stub.aborted = 0;
    stub.requests.length = 0;
    const { api } = await org.secretKey();
    const before = await org.credits();
    const session = await api.post('/v1/chat/sessions', { assistant: 'gpt-slow' });
    const abort = new AbortController();
    const pending = fetch(`${keygate.url}/v1/chat/sessions/${session.body.sessionId}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.body.token}` },
      body: JSON.stringify({ content: 'Anyone there?' }),
      signal: abort.signal,
    }).catch(() => 'aborted');
    await expect.poll(() => stub.requests.length, { timeout: 5000 }).toBe(1);
    abort.abort();
    expect(await pending).toBe('aborted');
    // Long before the upstream's own first byte (10 s) or first-byte timeout (20 s).
    await expect.poll(() => stub.aborted, { timeout: 3000 }).toBe(1);
    await expect.poll(() => org.credits(), { timeout: 3000 }).toBe(before);
    const history = await fetch(`${keygate.url}/v1/chat/sessions/${session.body.sessionId}/messages`, { headers: { Authorization: `Bearer ${session.body.token}` } });
    expect(((await history.json()) as { items: unknown[] }).items).toEqual([]);
  });

  it.each([
    ['before', { kind: 'slow', firstByteMs: 10_000 }],
    ['after', { kind: 'hang-after-first' }],
  ] as const)('a JSON reply whose caller disconnects %s the first delta: the upstream is stopped, refunded, no conversation stored', async (_when, mode) => {
    stub.mode = mode;
    stub.aborted = 0;
    stub.requests.length = 0;
    const { key } = await org.secretKey();
    const before = await org.credits();
    const abort = new AbortController();
    const pending = fetch(`${keygate.url}/v1/chat/message`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-API-Key': key },
      body: JSON.stringify({ message: 'Tell me everything', assistant: 'gpt-slow', conversation_id: `conv-gone-${mode.kind}` }),
      signal: abort.signal,
    }).catch(() => 'aborted');
    await expect.poll(() => stub.requests.length, { timeout: 5000 }).toBe(1);
    if (mode.kind === 'hang-after-first') await new Promise((r) => setTimeout(r, 200)); // the first delta has arrived
    abort.abort();
    expect(await pending).toBe('aborted');
    await expect.poll(() => stub.aborted, { timeout: 3000 }).toBe(1);
    await expect.poll(() => org.credits(), { timeout: 3000 }).toBe(before);
    // The conversation was never created: continuing it starts it afresh (a 200, not a turn after "Hello").
    stub.mode = { kind: 'ok' };
    const again = await new ApiClient(keygate.url, { 'X-API-Key': key }).post('/v1/chat/message', { message: 'Again', assistant: 'gpt-slow', conversation_id: `conv-gone-${mode.kind}` });
    expect(again.status, again.text).toBe(200);
    expect(stub.requests.at(-1)!.body.messages).toEqual([
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: 'Again' },
    ]);
  });

  it('a reply still running at maxDurationSeconds ends with an error event and pays what was produced', async () => {
    stub.mode = { kind: 'hang-after-first' };
    const { api } = await org.secretKey();
    const before = await org.credits();
    const session = await api.post('/v1/chat/sessions', { assistant: 'gpt-short' });
    const reply = await postMessage(keygate.url, session.body.sessionId, session.body.token, { content: 'Long one' });
    expect(reply.status).toBe(200);
    expect(deltas(reply)).toEqual(['Hello']);
    expect(reply.events.at(-1)).toEqual(expect.objectContaining({ event: 'error', data: { code: 'SERVICE_UNAVAILABLE', message: 'The reply took longer than allowed and was cut off' } }));
    expect(await org.credits()).toBe(before - 1);
  });

  it('a JSON reply still running at maxDurationSeconds answers 503 and is not charged', async () => {
    stub.mode = { kind: 'hang-after-first' };
    const { api } = await org.secretKey();
    const before = await org.credits();
    const res = await api.post('/v1/chat/message', { message: 'Long one', assistant: 'gpt-short' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await org.credits()).toBe(before);
  });
});
