// The `openai` upstream against an OpenAI-compatible stub that the official SDK's own stream parser
// accepts: what the upstream receives, the deltas and usage, and every failure mode mapped as
// docs/upstreams.md says, without the upstream's own text.
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { ReplyError } from '../../shared/chat/backend.ts';
import { guardedReply } from '../../shared/chat/backends.ts';
import { openaiBackend, opaqueUser } from '../../shared/chat/openai-backend.ts';
import type { OpenAIUpstream } from '../../shared/chat/upstreams.ts';
import { startOpenAIStub, type OpenAIStub } from '../support/openai-stub.ts';
import { drainReply, replyRequest } from '../support/reply-request.ts';

let stub: OpenAIStub;

beforeAll(async () => {
  stub = await startOpenAIStub();
});
afterAll(async () => {
  await stub.close();
});
beforeEach(() => {
  stub.requests.length = 0;
  stub.mode = { kind: 'ok' };
  stub.aborted = 0;
});

function upstream(settings: Partial<OpenAIUpstream> = {}): OpenAIUpstream {
  return { name: 'gpt', kind: 'openai', baseUrl: stub.baseUrl, apiKey: 'sk-upstream-key', models: ['gpt-test'], timeoutSeconds: 1, maxDurationSeconds: 2, ...settings };
}

const question = [
  { role: 'user' as const, content: 'first' },
  { role: 'assistant' as const, content: 'answer' },
  { role: 'user' as const, content: 'second' },
];

function run(u = upstream(), request = replyRequest(question, { assistant: { model: 'gpt-test' } })) {
  return drainReply(guardedReply(u, openaiBackend(u), request));
}

async function failure(u = upstream(), request?: Parameters<typeof run>[1]): Promise<{ error: ReplyError; deltas: string[] }> {
  const deltas: string[] = [];
  try {
    const it = guardedReply(u, openaiBackend(u), request ?? replyRequest(question, { assistant: { model: 'gpt-test' } }));
    for (;;) {
      const next = await it.next();
      if (next.done) break;
      deltas.push(next.value);
    }
  } catch (error) {
    expect(error).toBeInstanceOf(ReplyError);
    expect(JSON.stringify({ message: (error as Error).message })).not.toMatch(/sk-upstream|secret detail|invalid_request/);
    return { error: error as ReplyError, deltas };
  }
  throw new Error('expected the reply to fail');
}

describe('the stub speaks the protocol', () => {
  it('the official openai SDK streams it: content pieces, a finish_reason, then the usage chunk', async () => {
    const client = new OpenAI({ baseURL: stub.baseUrl, apiKey: 'sk-test', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish ??= chunk.choices[0]?.finish_reason ?? null;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello from the stub.');
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 });
  });
});

describe('a reply', () => {
  it('sends the instructions first, the model, the output cap, stream with usage and an opaque user; never the temperature it does not set', async () => {
    const { deltas, usage } = await run();
    expect(deltas).toEqual(['Hello', ' from', ' the', ' stub.']);
    expect(usage).toEqual({ inputTokens: 11, outputTokens: 4, estimated: false });
    const [req] = stub.requests;
    expect(req!.path).toBe('/v1/chat/completions');
    expect(req!.headers.authorization).toBe('Bearer sk-upstream-key');
    expect(req!.body).toEqual({
      model: 'gpt-test',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: 'second' },
      ],
      max_completion_tokens: 256,
      stream: true,
      stream_options: { include_usage: true },
      user: opaqueUser('key_1'),
    });
    expect(opaqueUser('key_1')).not.toContain('key_1');
    expect(opaqueUser('key_1')).not.toBe(opaqueUser('key_2'));
  });

  it('sends the temperature when the assistant sets one, no system message without instructions, no Authorization without a key', async () => {
    const u = upstream({ apiKey: undefined });
    delete u.apiKey;
    await run(u, replyRequest([{ role: 'user', content: 'hi' }], { assistant: { model: 'gpt-test', temperature: 0, instructions: '' } }));
    const [req] = stub.requests;
    expect(req!.body.temperature).toBe(0);
    expect(req!.body.messages).toEqual([{ role: 'user', content: 'hi' }]);
    expect(req!.headers.authorization).toBeUndefined();
  });

  it('estimates the usage (marked) when the upstream reports none', async () => {
    stub.mode = { kind: 'ok', pieces: ['abcdefgh'], usage: false };
    const { usage } = await run();
    // instructions "Be brief." 9 bytes -> 3; "first" 2; "answer" 2; "second" 2; output 8 bytes -> 2
    expect(usage).toEqual({ inputTokens: 9, outputTokens: 2, estimated: true });
  });
});

describe('failures', () => {
  it('unreachable: 503', async () => {
    const { error } = await failure(upstream({ baseUrl: 'http://127.0.0.1:9/v1' }));
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', failure: 'unavailable' });
  });

  it.each([
    [400, 'VALIDATION_ERROR', 'refused'],
    [401, 'VALIDATION_ERROR', 'refused'],
    [404, 'VALIDATION_ERROR', 'refused'],
    [429, 'SERVICE_UNAVAILABLE', 'rate_limited'],
    [500, 'SERVICE_UNAVAILABLE', 'unavailable'],
    [503, 'SERVICE_UNAVAILABLE', 'unavailable'],
  ])('status %i: %s, the upstream text nowhere', async (status, code, kind) => {
    stub.mode = { kind: 'status', status };
    const { error, deltas } = await failure();
    expect(deltas).toEqual([]);
    expect(error).toMatchObject({ code, failure: kind });
    expect(stub.requests).toHaveLength(1); // never retried
  });

  it('slow past timeoutSeconds: 503 timeout, and the upstream call is stopped', async () => {
    stub.mode = { kind: 'slow', firstByteMs: 1500 };
    const started = Date.now();
    const { error } = await failure();
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', failure: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1400);
    await vi.waitFor(() => expect(stub.aborted).toBe(1));
  });

  it('a malformed stream: 503 malformed', async () => {
    stub.mode = { kind: 'malformed' };
    expect((await failure()).error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', failure: 'malformed' });
  });

  it('a JSON answer to a streamed request: 503 malformed', async () => {
    stub.mode = { kind: 'json' };
    expect((await failure()).error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', failure: 'malformed' });
  });

  it('a stream that ends without finish_reason or [DONE]: incomplete, after the deltas it sent', async () => {
    stub.mode = { kind: 'no-done' };
    const { error, deltas } = await failure();
    expect(deltas).toEqual(['Hello', ' from', ' the', ' stub.']);
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', failure: 'incomplete' });
  });

  it('a reply still running at maxDurationSeconds is cut, with the usage of what it produced, and the upstream stopped', async () => {
    stub.mode = { kind: 'hang-after-first' };
    const { error, deltas } = await failure(upstream({ timeoutSeconds: 1, maxDurationSeconds: 1 }));
    expect(deltas).toEqual(['Hello']);
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', failure: 'cut', usage: { outputTokens: 2, estimated: true } });
    await vi.waitFor(() => expect(stub.aborted).toBe(1));
  });

  it('stops before the deadline it is given, whatever maxDurationSeconds says', async () => {
    stub.mode = { kind: 'hang-after-first' };
    const started = Date.now();
    const u = upstream({ maxDurationSeconds: 60, timeoutSeconds: 30 });
    const deltas: string[] = [];
    const error = await (async () => {
      const it = guardedReply(u, openaiBackend(u), replyRequest(question, { assistant: { model: 'gpt-test' } }), { stopBy: Date.now() + 400 });
      for (;;) {
        const next = await it.next();
        if (next.done) return undefined;
        deltas.push(next.value);
      }
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'cut' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a caller that goes away stops the upstream; the reply ends with what was produced', async () => {
    stub.mode = { kind: 'hang-after-first' };
    const caller = new AbortController();
    const u = upstream({ maxDurationSeconds: 60, timeoutSeconds: 30 });
    const it = guardedReply(u, openaiBackend(u), replyRequest(question, { assistant: { model: 'gpt-test' }, signal: caller.signal }));
    expect(await it.next()).toEqual({ done: false, value: 'Hello' });
    setTimeout(() => caller.abort(), 50);
    const end = await it.next();
    expect(end).toMatchObject({ done: true, value: { estimated: true, outputTokens: 2 } });
    await vi.waitFor(() => expect(stub.aborted).toBe(1));
  });
});
