// Amazon Bedrock backend: ConverseStream on the model in BEDROCK_MODEL_ID (a model id or a
// cross-region inference profile id). contentBlockDelta text becomes deltas, messageStop ends the
// reply; exceptions (thrown by the SDK or arriving as stream events) become ReplyErrors:
// throttling and service trouble -> SERVICE_UNAVAILABLE, validation -> VALIDATION_ERROR,
// anything else -> INTERNAL_ERROR. Bedrock's own messages are logged, never sent to clients.
import {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  type ConverseStreamOutput,
  type Message,
} from '@aws-sdk/client-bedrock-runtime';
import { describeError, logger } from '../log.ts';
import { ReplyError, REPLY_MESSAGES, type ChatBackend, type ChatTurn } from './backend.ts';

/** Older turns are dropped beyond this much text, so a long session still fits the model's context. */
export const MAX_CONTEXT_CHARS = 60_000;

const BUSY = new Set(['ThrottlingException', 'ServiceQuotaExceededException', 'TooManyRequestsException']);
const UNAVAILABLE = new Set([
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelStreamErrorException',
  'ModelTimeoutException',
  'ModelNotReadyException',
  'ModelErrorException',
  'TimeoutError',
  'RequestTimeout',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** A Bedrock failure (an SDK error, or the name of an exception stream event) as a ReplyError. */
export function replyErrorFrom(error: unknown): ReplyError {
  if (error instanceof ReplyError) return error;
  const e = (error ?? {}) as { name?: string; code?: string };
  const name = e.name ?? '';
  if (BUSY.has(name)) return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.busy, { cause: error });
  if (UNAVAILABLE.has(name) || (e.code && NETWORK_CODES.has(e.code))) {
    return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { cause: error });
  }
  if (name === 'ValidationException') return new ReplyError('VALIDATION_ERROR', REPLY_MESSAGES.rejected, { cause: error });
  return new ReplyError('INTERNAL_ERROR', REPLY_MESSAGES.failed, { cause: error });
}

/**
 * History as Bedrock messages: Converse wants user/assistant alternating and starting with a user
 * turn, so consecutive turns of one role are merged, leading assistant turns dropped, and the oldest
 * turns dropped once the text exceeds MAX_CONTEXT_CHARS (the newest turn is always kept).
 */
export function toBedrockMessages(turns: readonly ChatTurn[], maxChars = MAX_CONTEXT_CHARS): Message[] {
  const kept: ChatTurn[] = [];
  let size = 0;
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!;
    if (kept.length > 0 && size + turn.content.length > maxChars) break;
    kept.unshift(turn);
    size += turn.content.length;
  }
  const merged: { role: ChatTurn['role']; texts: string[] }[] = [];
  for (const turn of kept) {
    if (turn.content.trim() === '') continue;
    const previous = merged.at(-1);
    if (previous && previous.role === turn.role) previous.texts.push(turn.content);
    else merged.push({ role: turn.role, texts: [turn.content] });
  }
  while (merged[0] && merged[0].role !== 'user') merged.shift();
  return merged.map((m) => ({ role: m.role, content: [{ text: m.texts.join('\n\n') }] }));
}

const STREAM_EXCEPTIONS = [
  ['internalServerException', 'InternalServerException'],
  ['modelStreamErrorException', 'ModelStreamErrorException'],
  ['validationException', 'ValidationException'],
  ['throttlingException', 'ThrottlingException'],
  ['serviceUnavailableException', 'ServiceUnavailableException'],
] as const;

export interface BedrockBackendOptions {
  modelId: string;
  maxTokens?: number;
  system?: string;
  client?: BedrockRuntimeClient;
}

export function bedrockBackend({ modelId, maxTokens = 1024, system, client }: BedrockBackendOptions): ChatBackend {
  const bedrock = client ?? new BedrockRuntimeClient({ maxAttempts: 2 });
  return {
    name: 'bedrock',
    async *reply(turns, signal) {
      const messages = toBedrockMessages(turns);
      if (messages.length === 0 || messages.at(-1)!.role !== 'user') {
        throw new ReplyError('VALIDATION_ERROR', REPLY_MESSAGES.rejected);
      }
      let stream: AsyncIterable<ConverseStreamOutput> | undefined;
      try {
        const response = await bedrock.send(
          new ConverseStreamCommand({
            modelId,
            messages,
            ...(system ? { system: [{ text: system }] } : {}),
            inferenceConfig: { maxTokens },
          }),
          signal ? { abortSignal: signal } : {},
        );
        stream = response.stream;
      } catch (error) {
        throw logged(replyErrorFrom(error), error);
      }
      if (!stream) throw new ReplyError('INTERNAL_ERROR', REPLY_MESSAGES.failed);
      try {
        for await (const event of stream) {
          const text = event.contentBlockDelta?.delta?.text;
          if (text) {
            yield text;
            continue;
          }
          if (event.messageStop) return;
          for (const [member, name] of STREAM_EXCEPTIONS) {
            if (event[member]) throw Object.assign(new Error(event[member]?.message ?? name), { name });
          }
        }
      } catch (error) {
        throw logged(replyErrorFrom(error), error);
      }
      // The stream ended without messageStop: the reply is incomplete.
      throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.incomplete);
    },
  };
}

function logged(replyError: ReplyError, original: unknown): ReplyError {
  logger.warn('bedrock reply failed', { code: replyError.code, error: describeError(original) });
  return replyError;
}

export function createBedrockBackend(env: NodeJS.ProcessEnv = process.env): ChatBackend {
  const modelId = env.BEDROCK_MODEL_ID;
  if (!modelId) throw new Error('Missing environment variable BEDROCK_MODEL_ID');
  const maxTokens = Number(env.BEDROCK_MAX_TOKENS ?? 1024);
  return bedrockBackend({
    modelId,
    maxTokens: Number.isInteger(maxTokens) && maxTokens > 0 ? maxTokens : 1024,
    ...(env.BEDROCK_SYSTEM_PROMPT ? { system: env.BEDROCK_SYSTEM_PROMPT } : {}),
  });
}
