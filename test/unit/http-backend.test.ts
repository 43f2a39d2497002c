// The `http` upstream against the reference upstream the project ships (examples/http-upstream),
// echoing and streaming from an OpenAI-compatible stub; the signature it verifies (Node and Python
// snippets of docs/upstreams.md, the Python one under Debian's python3), and the failure modes of
// a service that misbehaves.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createHttpUpstream, type KeygateRequest } from '../../examples/http-upstream/server.ts';
import { SeenIds, verifyRequest } from '../../examples/http-upstream/verify.ts';
import { ReplyError } from '../../shared/chat/backend.ts';
import { guardedReply } from '../../shared/chat/backends.ts';
import { httpBackend, httpUpstreamBody } from '../../shared/chat/http-backend.ts';
import type { HttpUpstream } from '../../shared/chat/upstreams.ts';
import { signatureHeader } from '../../shared/domain/webhooks.ts';
import { startOpenAIStub, type OpenAIStub } from '../support/openai-stub.ts';
import { drainReply, replyRequest } from '../support/reply-request.ts';

const SECRET = 'whsec_test-upstream-signing-secret';
const EXAMPLES = resolve(import.meta.dirname, '../../examples/http-upstream');

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function run(u: HttpUpstream, request = replyRequest([{ role: 'user', content: 'Hi there' }])) {
  return drainReply(guardedReply(u, httpBackend(u), request));
}

const upstream = (url: string, settings: Partial<HttpUpstream> = {}): HttpUpstream => ({
  name: 'sql',
  kind: 'http',
  url,
  signingSecret: SECRET,
  timeoutSeconds: 1,
  maxDurationSeconds: 2,
  ...settings,
});

describe('the reference upstream (examples/http-upstream)', () => {
  let echoServer: Server;
  let openaiServer: Server;
  let stub: OpenAIStub;
  let echoUrl: string;
  let openaiUrl: string;
  const received: { body: KeygateRequest; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    stub = await startOpenAIStub();
    echoServer = createHttpUpstream({ signingSecret: SECRET, onRequest: (body, headers) => received.push({ body, headers }) });
    openaiServer = createHttpUpstream({ signingSecret: SECRET, openai: { baseUrl: stub.baseUrl, apiKey: 'sk-model' } });
    echoUrl = await listen(echoServer);
    openaiUrl = await listen(openaiServer);
  });
  afterAll(async () => {
    echoServer.closeAllConnections();
    openaiServer.closeAllConnections();
    echoServer.close();
    openaiServer.close();
    await stub.close();
  });
  beforeEach(() => {
    received.length = 0;
  });

  it('receives the assistant, the conversation and the identity, signed, and streams deltas then done with usage', async () => {
    const request = replyRequest(
      [
        { role: 'user', content: 'Show me sales' },
        { role: 'assistant', content: 'Which year?' },
        { role: 'user', content: '2026' },
      ],
      { assistant: { model: null, temperature: 0.3 }, identity: { keyType: 'publishable', origin: 'https://shop.example', databaseId: 'db_1' } },
    );
    const { deltas, usage } = await run(upstream(echoUrl), request);
    expect(deltas.join('')).toBe('Echo: 2026');
    expect(usage).toEqual({ inputTokens: 3, outputTokens: 2, estimated: false });
    const [{ body, headers }] = received as [(typeof received)[number]];
    expect(body).toEqual({
      id: expect.stringMatching(/^req_[0-9A-Za-z]{24}$/),
      assistant: { id: 'asst_test', name: 'Support', model: null, instructions: 'Be brief.', maxOutputTokens: 256, temperature: 0.3 },
      messages: [
        { role: 'user', content: 'Show me sales' },
        { role: 'assistant', content: 'Which year?' },
        { role: 'user', content: '2026' },
      ],
      identity: { organizationId: 'org_1', keyId: 'key_1', keyType: 'publishable', databaseId: 'db_1', sessionId: 'ses_1', conversationId: null, origin: 'https://shop.example' },
    });
    expect(headers['content-type']).toBe('application/json');
    expect(headers.accept).toBe('text/event-stream');
    expect(headers['keygate-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(headers.authorization).toBeUndefined();
    expect(headers['x-api-key']).toBeUndefined();
  });

  it('a new request id every time, so the upstream never refuses Keygate as a replay', async () => {
    await run(upstream(echoUrl));
    await run(upstream(echoUrl));
    expect(received[0]!.body.id).not.toBe(received[1]!.body.id);
  });

  it('streams from an OpenAI-compatible endpoint with the assistant settings, passing the model usage on', async () => {
    const { deltas, usage } = await run(upstream(openaiUrl), replyRequest([{ role: 'user', content: 'hi' }], { assistant: { model: 'gpt-test' } }));
    expect(deltas.join('')).toBe('Hello from the stub.');
    expect(usage).toEqual({ inputTokens: 11, outputTokens: 4, estimated: false });
    expect(stub.requests.at(-1)!.body).toMatchObject({ model: 'gpt-test', max_completion_tokens: 256, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] });
  });

  it('refuses a wrong signature (Keygate answers 400, no upstream text)', async () => {
    const error = await run(upstream(echoUrl, { signingSecret: 'whsec_wrong' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplyError);
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'The model could not process this conversation' });
  });
});

describe('signature verification (docs/upstreams.md)', () => {
  const body = httpUpstreamBody(replyRequest([{ role: 'user', content: 'héllo 👋' }]), 'req_fixed');
  const now = new Date('2026-12-01T12:00:00Z');
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const header = signatureHeader(SECRET, body, now);

  it('Node: accepts Keygate’s signature once, refuses a replay, a stale t, another secret and a changed body', () => {
    const seen = new SeenIds();
    expect(verifyRequest(SECRET, header, body, seen, nowSeconds)).toMatchObject({ ok: true, body: { id: 'req_fixed' } });
    expect(verifyRequest(SECRET, header, body, seen, nowSeconds)).toEqual({ ok: false, reason: 'repeated request id' });
    expect(verifyRequest(SECRET, header, body, new SeenIds(), nowSeconds + 301)).toEqual({ ok: false, reason: 'stale timestamp' });
    expect(verifyRequest(SECRET, header, body, new SeenIds(), nowSeconds + 300)).toMatchObject({ ok: true });
    expect(verifyRequest('whsec_other', header, body, new SeenIds(), nowSeconds)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyRequest(SECRET, header, body.replace('héllo', 'hello'), new SeenIds(), nowSeconds)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyRequest(SECRET, undefined, body, new SeenIds(), nowSeconds)).toEqual({ ok: false, reason: 'malformed signature header' });
  });

  it('Python (Debian python3, standard library): the same verdicts', () => {
    const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(EXAMPLES)})
from verify import SeenIds, verify_request
case = json.load(sys.stdin)
body = case["body"].encode("utf-8")
seen = SeenIds()
out = []
out.append(verify_request(case["secret"], case["header"], body, seen, case["now"])[1])
out.append(verify_request(case["secret"], case["header"], body, seen, case["now"])[1])
out.append(verify_request(case["secret"], case["header"], body, SeenIds(), case["now"] + 301)[1])
out.append(verify_request("whsec_other", case["header"], body, SeenIds(), case["now"])[1])
out.append(verify_request(case["secret"], "", body, SeenIds(), case["now"])[1])
print(json.dumps(out))
`;
    const output = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify({ secret: SECRET, header, body, now: nowSeconds }), encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual([null, 'repeated request id', 'stale timestamp', 'bad signature', 'malformed signature header']);
  });

  it('docs/upstreams.md shows the snippets exactly as tested', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/upstreams.md'), 'utf8');
    expect(doc).toContain(readFileSync(resolve(EXAMPLES, 'verify.ts'), 'utf8').trim());
    expect(doc).toContain(readFileSync(resolve(EXAMPLES, 'verify.py'), 'utf8').trim());
  });
});

describe('a service that misbehaves', () => {
  let server: Server;
  let url: string;
  let answer: (res: import('node:http').ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => answer(res));
    });
    url = await listen(server);
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const sse = (res: import('node:http').ServerResponse, text: string, end = true) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(text);
    if (end) res.end();
  };

  async function outcome() {
    const deltas: string[] = [];
    try {
      const it = guardedReply(upstream(url), httpBackend(upstream(url)), replyRequest([{ role: 'user', content: 'q' }]));
      for (;;) {
        const next = await it.next();
        if (next.done) return { deltas, usage: next.value };
        deltas.push(next.value);
      }
    } catch (error) {
      expect(String((error as Error).message)).not.toMatch(/secret|boom/);
      return { deltas, error: error as ReplyError };
    }
  }

  it('a JSON answer {content, usage}', async () => {
    answer = (res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ content: 'All at once', usage: { inputTokens: 5, outputTokens: 3 } }));
    expect(await outcome()).toEqual({ deltas: ['All at once'], usage: { inputTokens: 5, outputTokens: 3, estimated: false } });
  });

  it('a done without usage: estimated and marked', async () => {
    answer = (res) => sse(res, 'event: delta\ndata: {"content":"abcd"}\n\nevent: done\ndata: {}\n\n');
    expect(await outcome()).toEqual({ deltas: ['abcd'], usage: { inputTokens: 4, outputTokens: 1, estimated: true } });
  });

  it.each([
    ['a stream without done', 'event: delta\ndata: {"content":"part"}\n\n', ['part'], 'incomplete'],
    ['an error event (its text not passed on)', 'event: delta\ndata: {"content":"part"}\n\nevent: error\ndata: {"message":"boom with secret"}\n\n', ['part'], 'upstream_error'],
    ['a delta that is not JSON', 'event: delta\ndata: {nope\n\n', [], 'malformed'],
    ['a delta without content', 'event: delta\ndata: {"text":"x"}\n\n', [], 'malformed'],
  ])('%s: 503 (%s)', async (_, text, deltas, failure) => {
    answer = (res) => sse(res, text);
    const result = await outcome();
    expect(result.deltas).toEqual(deltas);
    expect(result.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', failure });
  });

  it('an answer of another type: 503 malformed', async () => {
    answer = (res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<p>hi</p>');
    expect((await outcome()).error).toMatchObject({ failure: 'malformed' });
  });

  it('JSON that is not {content}: 503 malformed', async () => {
    answer = (res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"reply":"x"}');
    expect((await outcome()).error).toMatchObject({ failure: 'malformed' });
  });
});
