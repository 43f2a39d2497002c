// OpenAI's Chat Completions wire format as Keygate speaks it to its callers (docs/openai.md): the
// request body it accepts, the JSON reply, the stream chunks, OpenAI's error body for Keygate's own
// errors and OpenAI's rate-limit headers. Pure: no I/O, so every shape is unit-tested.
import * as z from 'zod';
import { ApiError, ERRORS, type ErrorBody } from '../domain/errors.ts';
import { lazySchema, parseInput } from '../domain/validation.ts';
import { contentSchema } from './schemas.ts';

export type CompletionRole = 'system' | 'developer' | 'user' | 'assistant';

export interface CompletionRequest {
  model: string;
  messages: { role: CompletionRole; content: string }[];
  stream: boolean;
  includeUsage: boolean;
  /** `max_completion_tokens`, else `max_tokens`: the caller's cap, lowered to the assistant's. */
  maxTokens: number | null;
  temperature: number | null;
  user: string | null;
}

/** A field Keygate does not support: 400 naming it in `param`, never silently ignored. */
function unsupported(param: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `${param}: ${message}`, { details: [{ field: param, message }] });
}

const textPart = () => z.object({ type: z.literal('text'), text: z.string({ error: 'must be a string' }) });

const messageSchema = () =>
  z.object({
    role: z.enum(['system', 'developer', 'user', 'assistant'], { error: 'must be system, developer, user or assistant' }),
    content: z.union([contentSchema(), z.array(textPart()).min(1, 'must not be empty')], {
      error: 'must be a string or an array of text parts',
    }),
  });

/**
 * The fields Keygate reads (the API description's request body); others are refused or ignored, see
 * parseCompletionRequest. Built on first use: every function's pipeline imports this module for the
 * error bodies, and only the completions route parses a request.
 */
export const completionRequestSchema = lazySchema(() =>
  z.object({
    model: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
    messages: z.array(messageSchema(), { error: 'must be an array of messages' }).min(1, 'must not be empty').max(1_000, 'must have at most 1000 messages'),
    stream: z.boolean({ error: 'must be a boolean' }).nullish(),
    stream_options: z.object({ include_usage: z.boolean({ error: 'must be a boolean' }).nullish() }).nullish(),
    max_tokens: z.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').nullish(),
    max_completion_tokens: z.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').nullish(),
    temperature: z.number({ error: 'must be a number' }).min(0, 'must be at least 0').max(2, 'must be at most 2').nullish(),
    user: z.string({ error: 'must be a string' }).max(256, 'must be at most 256 characters').nullish(),
  }),
);

/**
 * `POST /v1/chat/completions`'s body. Fields Keygate cannot honour (tools, functions, n > 1, a
 * non-text response_format, non-text content parts) are refused with `param`; fields that do not
 * change the reply's text (seed, stop, logprobs …) are ignored, as OpenAI-compatible servers do.
 */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError('VALIDATION_ERROR', 'body: must be a JSON object', { details: [{ field: 'body', message: 'must be a JSON object' }] });
  }
  const raw = body as Record<string, unknown>;
  for (const field of ['tools', 'tool_choice', 'functions', 'function_call', 'audio', 'modalities'] as const) {
    if (raw[field] !== undefined && raw[field] !== null) throw unsupported(field, 'is not supported (text chat only)');
  }
  if (raw.n !== undefined && raw.n !== null && raw.n !== 1) throw unsupported('n', 'only 1 choice is supported');
  const format = raw.response_format as { type?: unknown } | undefined | null;
  if (format !== undefined && format !== null && format.type !== 'text') throw unsupported('response_format', 'only {"type":"text"} is supported');
  if (Array.isArray(raw.messages)) {
    raw.messages.forEach((message, i) => {
      const parts = (message as { content?: unknown } | null)?.content;
      if (!Array.isArray(parts)) return;
      parts.forEach((part, j) => {
        const type = (part as { type?: unknown } | null)?.type;
        if (type !== 'text') throw unsupported(`messages[${i}].content[${j}].type`, 'only text content parts are supported');
      });
    });
  }
  const parsed = parseInput(completionRequestSchema(), body);
  return {
    model: parsed.model,
    messages: parsed.messages.map((m) => ({
      role: m.role,
      content: typeof m.content === 'string' ? m.content : m.content.map((part) => part.text).join(''),
    })),
    stream: parsed.stream === true,
    includeUsage: parsed.stream_options?.include_usage === true,
    maxTokens: parsed.max_completion_tokens ?? parsed.max_tokens ?? null,
    temperature: parsed.temperature ?? null,
    user: parsed.user ?? null,
  };
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** OpenAI's error body for one of Keygate's errors: the same message, `type` the error value, `code` the code. */
export function openAiErrorBody(body: ErrorBody): OpenAiErrorBody {
  return {
    error: {
      message: body.message,
      type: body.error,
      param: body.details?.[0]?.field ?? null,
      code: body.code,
    },
  };
}

/** Is this JSON text one of Keygate's error bodies (`{error, message, code}`)? */
export function asKeygateError(text: string): ErrorBody | undefined {
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (typeof body?.code === 'string' && body.code in ERRORS && typeof body.message === 'string') return body as ErrorBody;
  } catch {
    // not JSON: not ours
  }
  return undefined;
}

export type FinishReason = 'stop' | 'length';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function completionUsage(inputTokens: number, outputTokens: number): CompletionUsage {
  return { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
}

export interface CompletionIds {
  id: string;
  created: number;
  model: string;
}

export function completionBody(ids: CompletionIds, content: string, finish: FinishReason, usage: CompletionUsage) {
  return {
    id: ids.id,
    object: 'chat.completion' as const,
    created: ids.created,
    model: ids.model,
    choices: [{ index: 0, message: { role: 'assistant' as const, content }, finish_reason: finish }],
    usage,
  };
}

/** One `data:` line of a streamed completion: the first carries the role, then content, the last a finish reason. */
export function chunkLine(ids: CompletionIds, delta: { role?: 'assistant'; content?: string }, finish: FinishReason | null = null): string {
  const chunk = {
    id: ids.id,
    object: 'chat.completion.chunk',
    created: ids.created,
    model: ids.model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** The usage chunk sent with `stream_options.include_usage`: no choices, only usage. */
export function usageChunkLine(ids: CompletionIds, usage: CompletionUsage): string {
  return `data: ${JSON.stringify({ id: ids.id, object: 'chat.completion.chunk', created: ids.created, model: ids.model, choices: [], usage })}\n\n`;
}

export const DONE_LINE = 'data: [DONE]\n\n';

/**
 * OpenAI's rate-limit headers for one unit from a window's `X-RateLimit-*` (limit, remaining, and
 * the reset in Unix seconds): the same limit and remaining, and the reset as a duration (`12s`).
 */
function openAiWindowHeaders(unit: 'requests' | 'tokens', headers: Record<string, string>, now: Date): Record<string, string> {
  const get = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  const limit = get('x-ratelimit-limit');
  const remaining = get('x-ratelimit-remaining');
  const reset = get('x-ratelimit-reset');
  if (limit === undefined || remaining === undefined || reset === undefined) return {};
  const seconds = Math.max(0, Number(reset) - Math.floor(now.getTime() / 1000));
  return {
    [`x-ratelimit-limit-${unit}`]: limit,
    [`x-ratelimit-remaining-${unit}`]: remaining,
    [`x-ratelimit-reset-${unit}`]: `${Number.isFinite(seconds) ? seconds : 0}s`,
  };
}

/** OpenAI's `-requests` headers from Keygate's `X-RateLimit-*` (the request window with the fewest left). */
export function openAiRateLimitHeaders(headers: Record<string, string>, now: Date): Record<string, string> {
  return openAiWindowHeaders('requests', headers, now);
}

/** OpenAI's `-tokens` headers from the `X-RateLimit-*` of the reply's token windows (where a token limit applies). */
export function openAiTokenHeaders(headers: Record<string, string>, now: Date): Record<string, string> {
  return openAiWindowHeaders('tokens', headers, now);
}
