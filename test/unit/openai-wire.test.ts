// The OpenAI Chat Completions wire format Keygate accepts and answers with (docs/openai.md).
import { describe, expect, it } from 'vitest';
import { ApiError, errorBody } from '../../shared/domain/errors.ts';
import {
  chunkLine,
  completionBody,
  completionUsage,
  DONE_LINE,
  openAiErrorBody,
  openAiRateLimitHeaders,
  openAiTokenHeaders,
  parseCompletionRequest,
  usageChunkLine,
} from '../../shared/chat/openai-wire.ts';

function refusal(body: unknown): { param: string | null; status: number } {
  try {
    parseCompletionRequest(body);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { param: openAiErrorBody(error.toBody()).error.param, status: error.status };
  }
  throw new Error('accepted');
}

const hello = [{ role: 'user', content: 'Hello' }];

describe('parseCompletionRequest', () => {
  it('reads what the SDKs send, text parts joined, max_completion_tokens before max_tokens', () => {
    expect(
      parseCompletionRequest({
        model: 'Support',
        messages: [
          { role: 'developer', content: 'Be brief' },
          { role: 'user', content: [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }] },
        ],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 50,
        max_completion_tokens: 20,
        temperature: 0.2,
        user: 'u-1',
        seed: 7,
      }),
    ).toEqual({
      model: 'Support',
      messages: [
        { role: 'developer', content: 'Be brief' },
        { role: 'user', content: 'Hello' },
      ],
      stream: true,
      includeUsage: true,
      maxTokens: 20,
      temperature: 0.2,
      user: 'u-1',
    });
  });

  it('defaults: no stream, no usage chunk, no caps of its own', () => {
    expect(parseCompletionRequest({ model: 'm', messages: hello, stream: null, max_tokens: null })).toMatchObject({
      stream: false,
      includeUsage: false,
      maxTokens: null,
      temperature: null,
      user: null,
    });
  });

  it.each([
    [{ tools: [{ type: 'function' }] }, 'tools'],
    [{ functions: [{ name: 'f' }] }, 'functions'],
    [{ n: 2 }, 'n'],
    [{ response_format: { type: 'json_object' } }, 'response_format'],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0].type'],
    [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role'],
    [{ model: 5 }, 'model'],
    [{ temperature: 3 }, 'temperature'],
    [{ max_tokens: 0 }, 'max_tokens'],
    [{ messages: [] }, 'messages'],
  ])('refuses %j with 400 naming %s', (extra, param) => {
    expect(refusal({ model: 'm', messages: hello, ...extra })).toEqual({ param, status: 400 });
  });

  it('refuses a body that is not an object', () => {
    expect(refusal([1])).toEqual({ param: 'body', status: 400 });
  });
});

describe('OpenAI error body', () => {
  it('keeps the message and code, the error value as type', () => {
    expect(openAiErrorBody({ ...errorBody('RATE_LIMIT_EXCEEDED', 'Rate limit exceeded. Try again in 3 seconds.'), retry_after: 3 })).toEqual({
      error: { message: 'Rate limit exceeded. Try again in 3 seconds.', type: 'rate_limit_exceeded', param: null, code: 'RATE_LIMIT_EXCEEDED' },
    });
  });
});

describe('replies', () => {
  const ids = { id: 'chatcmpl-1', created: 1_700_000_000, model: 'Support' };
  it('a JSON completion', () => {
    expect(completionBody(ids, 'Hi', 'stop', completionUsage(3, 1))).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'Support',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    });
  });
  it('stream chunks, the usage chunk and [DONE]', () => {
    expect(chunkLine(ids, { role: 'assistant', content: '' })).toBe(
      'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"Support","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
    );
    expect(JSON.parse(chunkLine(ids, {}, 'length').slice(6)).choices[0].finish_reason).toBe('length');
    expect(JSON.parse(usageChunkLine(ids, completionUsage(2, 2)).slice(6))).toMatchObject({ choices: [], usage: { total_tokens: 4 } });
    expect(DONE_LINE).toBe('data: [DONE]\n\n');
  });
});

describe('openAiRateLimitHeaders', () => {
  it('turns the reset time into a duration, per unit that has headers', () => {
    const now = new Date('2026-12-07T10:00:48Z');
    expect(
      openAiRateLimitHeaders({ 'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(Date.parse('2026-12-07T10:01:00Z') / 1000) }, now),
    ).toEqual({ 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '12s' });
    expect(openAiRateLimitHeaders({}, now)).toEqual({});
  });

  it("names a token window's headers -tokens", () => {
    const now = new Date('2026-12-07T10:00:48Z');
    expect(
      openAiTokenHeaders({ 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '400', 'X-RateLimit-Reset': String(Date.parse('2026-12-07T10:01:00Z') / 1000) }, now),
    ).toEqual({ 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-remaining-tokens': '400', 'x-ratelimit-reset-tokens': '12s' });
  });
});
