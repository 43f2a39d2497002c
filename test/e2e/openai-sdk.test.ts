// The OpenAI-compatible routes with real clients (docs/openai.md): the official `openai` npm package
// (non-stream, stream with usage, the models list, its error classes) and Python's standard library
// on the same wire format. Also runs against the synthesized bundles (vitest.config.ts).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { startTestApi } from '../support/api.ts';
import { createTestOrg, type TestOrg } from './chat-helpers.ts';

let keygate: LocalKeygate;
let org: TestOrg;
let secret: { id: string; key: string };

const client = (apiKey: string, options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
  new OpenAI({ apiKey, baseURL: `${keygate.url}/v1`, maxRetries: 0, ...options });

/** The error a one-message completion with this key fails with (the test asserts that it does). */
const refusedCompletion = (apiKey: string, overrides: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) =>
  client(apiKey)
    .chat.completions.create({ model: 'Default', messages: [{ role: 'user', content: 'x' }], ...overrides })
    .catch((e: unknown) => e);

beforeAll(async () => {
  keygate = await startTestApi();
  org = await createTestOrg(keygate.url, 'OpenAI SDK Co');
  secret = await org.secretKey();
});

afterAll(async () => {
  await keygate?.stop();
});

describe('the openai npm package', () => {
  it('chat.completions.create without stream: the reply, its usage, one credit', async () => {
    const before = await org.credits();
    const completion = await client(secret.key).chat.completions.create({
      model: 'Default',
      messages: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Show me sales data' },
      ],
    });
    expect(completion).toMatchObject({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      model: 'Default',
      choices: [
        {
          index: 0,
          // Stateless: the upstream saw the two user turns the client sent.
          message: { role: 'assistant', content: 'You said: Show me sales data (turn 2). This reply comes from the Keygate local backend.' },
          finish_reason: 'stop',
        },
      ],
    });
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    expect(await org.credits()).toBe(before - 1);
  });

  it('stream with stream_options.include_usage: role, content pieces, finish_reason, a usage chunk', async () => {
    const stream = await client(secret.key).chat.completions.create({
      model: 'Default',
      messages: [{ role: 'user', content: 'Hello there' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('You said: Hello there (turn 1). This reply comes from the Keygate local backend.');
    expect(chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '').length).toBeGreaterThan(2);
    const finished = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finished.map((c) => c.choices[0]!.finish_reason)).toEqual(['stop']);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.completion_tokens).toBeGreaterThan(0);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('models.list: the organization assistants by name', async () => {
    await org.owner.post(`/v1/organizations/${org.id}/assistants`, { name: 'Support', upstream: 'echo' });
    const models = [];
    for await (const model of client(secret.key).models.list()) models.push(model);
    expect(models.map((m) => m.id).sort()).toEqual(['Default', 'Support']);
    expect(models[0]).toMatchObject({ object: 'model', owned_by: org.id, created: expect.any(Number) });
  });

  it('AuthenticationError (401) for an unknown key, with OpenAI\'s error body', async () => {
    const error = await client(`sk_${'1'.repeat(32)}000000`).models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: 'INVALID_API_KEY', type: 'unauthorized', param: null, message: expect.stringContaining('Invalid or missing API key') });
  });

  it('PermissionDeniedError (403) for a key without the completions scope', async () => {
    const chatOnly = await org.secretKey(['chat']);
    const error = await refusedCompletion(chatOnly.key);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error).toMatchObject({ status: 403, code: 'INSUFFICIENT_PERMISSIONS', type: 'forbidden' });
  });

  it('NotFoundError (404) for a model that names no assistant', async () => {
    const error = await refusedCompletion(secret.key, { model: 'gpt-4o' });
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error).toMatchObject({ status: 404, code: 'NOT_FOUND', param: 'model' });
  });

  it('BadRequestError (400) naming the unsupported field in param', async () => {
    const error = await refusedCompletion(secret.key, { tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] });
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, code: 'VALIDATION_ERROR', param: 'tools' });
  });

  it('APIError with status 402 when the organization has no credits left, and nothing charged', async () => {
    const poor = await createTestOrg(keygate.url, 'OpenAI Poor Co');
    await poor.setCredits(0);
    const { key } = await poor.secretKey();
    const error = await refusedCompletion(key);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ status: 402, code: 'INSUFFICIENT_CREDITS', type: 'insufficient_credits' });
    expect(await poor.credits()).toBe(0);
  });

  it('RateLimitError (429) with Retry-After and OpenAI\'s rate-limit headers', async () => {
    const res = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'tight', type: 'secret', rateLimit: { perMinute: 1 } });
    const tight = client(res.body.key as string);
    await tight.models.list();
    const error = (await tight.models.list().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({ status: 429, code: 'RATE_LIMIT_EXCEEDED', type: 'rate_limit_exceeded' });
    const retryAfter = Number(error.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(error.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect(error.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(error.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
    expect(error.headers.get('x-ratelimit-limit')).toBe('1');
  });

  it('a failure mid-stream: the stream raises APIError with the code after the deltas it had, nothing charged', async () => {
    const before = await org.credits();
    const stream = await client(secret.key).chat.completions.create({
      model: 'Default',
      messages: [{ role: 'user', content: '[fail-midstream]' }],
      stream: true,
    });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', type: 'service_unavailable', param: null });
    expect(text).not.toBe('');
    expect(await org.credits()).toBe(before);
  });
});

/** Debian's python3 (the image's /usr/bin one), else whatever python3 is on PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

// Only the standard library: the same requests an OpenAI SDK makes, read line by line.
const PYTHON_CLIENT = String.raw`
import json, os, sys, urllib.request, urllib.error
base, key = os.environ["KEYGATE_BASE"], os.environ["KEYGATE_KEY"]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=20)
out = {}
with call("GET", "/models") as res:
    out["models"] = [m["id"] for m in json.load(res)["data"]]
with call("POST", "/chat/completions", {"model": "Default", "messages": [{"role": "user", "content": "from python"}]}) as res:
    out["reply"] = json.load(res)["choices"][0]["message"]["content"]
with call("POST", "/chat/completions", {"model": "Default", "messages": [{"role": "user", "content": "streamed"}],
        "stream": True, "stream_options": {"include_usage": True}}) as res:
    out["contentType"] = res.headers["Content-Type"]
    text, usage, done = "", None, False
    for raw in res:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            done = True
            break
        chunk = json.loads(data)
        if chunk["choices"]:
            text += chunk["choices"][0]["delta"].get("content") or ""
        if chunk.get("usage"):
            usage = chunk["usage"]
    out["streamed"], out["usage"], out["done"] = text, usage, done
try:
    call("POST", "/chat/completions", {"model": "Default", "messages": [{"role": "user", "content": "x"}], "n": 2})
except urllib.error.HTTPError as e:
    out["error"] = {"status": e.code, "body": json.load(e)}
json.dump(out, sys.stdout)
`;

function runPython(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', PYTHON_CLIENT], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`python3 exited ${code}: ${stderr}`))));
  });
}

describe("Python's standard library on the same wire format", () => {
  it('lists models, gets a reply, reads a stream with usage and [DONE], and OpenAI\'s error body', async () => {
    const out = JSON.parse(await runPython({ KEYGATE_BASE: `${keygate.url}/v1`, KEYGATE_KEY: secret.key }));
    expect(out.models).toContain('Default');
    expect(out.reply).toContain('You said: from python');
    expect(out.contentType).toMatch(/^text\/event-stream/);
    expect(out.streamed).toBe('You said: streamed (turn 1). This reply comes from the Keygate local backend.');
    expect(out.usage.total_tokens).toBeGreaterThan(0);
    expect(out.done).toBe(true);
    expect(out.error).toEqual({
      status: 400,
      body: { error: { message: 'n: only 1 choice is supported', type: 'validation_error', param: 'n', code: 'VALIDATION_ERROR' } },
    });
  });
});
