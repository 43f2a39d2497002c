// The `bedrock` upstream: ConverseStream on the assistant's model (a model id or a cross-region
// inference profile id), its instructions as the system prompt, its output cap and temperature.
// contentBlockDelta text becomes deltas, messageStop ends the reply and the metadata event after it
// carries the usage; exceptions (thrown by the SDK or arriving as stream events) become ReplyErrors:
// throttling and service trouble -> SERVICE_UNAVAILABLE, validation -> VALIDATION_ERROR,
// anything else -> INTERNAL_ERROR. Bedrock's own messages are logged, never sent to clients.
import {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  type ConverseStreamOutput,
  type Message,
} from '@aws-sdk/client-bedrock-runtime';
import { describeError, logger } from '../log.ts';
import { reportedUsage, ReplyError, REPLY_MESSAGES, type ChatBackend, type ChatTurn, type TokenUsage } from './backend.ts';

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
  if (BUSY.has(name)) return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.busy, { cause: error, failure: 'rate_limited' });
  if (UNAVAILABLE.has(name) || (e.code && NETWORK_CODES.has(e.code))) {
    return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { cause: error });
  }
  if (name === 'ValidationException') return new ReplyError('VALIDATION_ERROR', REPLY_MESSAGES.rejected, { cause: error });
  // Other AWS errors by their status: a refusal (4xx: access denied, unknown model) is the request's
  // 400, anything else the service's trouble.
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const fault = (error as { $fault?: string } | null)?.$fault;
  if (status === 429) return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.busy, { cause: error, failure: 'rate_limited' });
  if ((status !== undefined && status >= 400 && status < 500) || (status === undefined && fault === 'client')) {
    return new ReplyError('VALIDATION_ERROR', REPLY_MESSAGES.rejected, { cause: error });
  }
  if (status !== undefined || fault === 'server') return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { cause: error });
  return new ReplyError('INTERNAL_ERROR', REPLY_MESSAGES.failed, { cause: error });
}

/**
 * History as Bedrock messages: Converse wants user/assistant alternating and starting with a user
 * turn, so consecutive turns of one role are merged, empty turns and leading assistant turns dropped.
 * (The conversation is already trimmed to the assistant's maxInputTokens.)
 */
export function toBedrockMessages(turns: readonly ChatTurn[]): Message[] {
  const merged: { role: ChatTurn['role']; texts: string[] }[] = [];
  for (const turn of turns) {
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

let sharedClient: BedrockRuntimeClient | undefined;

/** One client per execution environment; no SDK retries (a retried stream could answer twice). */
export function bedrockBackend(client?: BedrockRuntimeClient): ChatBackend {
  const bedrock = client ?? (sharedClient ??= new BedrockRuntimeClient({ maxAttempts: 1 }));
  return {
    kind: 'bedrock',
    async *reply({ turns, assistant, signal }) {
      const messages = toBedrockMessages(turns);
      if (messages.length === 0 || messages.at(-1)!.role !== 'user' || !assistant.model) {
        throw new ReplyError('VALIDATION_ERROR', REPLY_MESSAGES.rejected);
      }
      let stream: AsyncIterable<ConverseStreamOutput> | undefined;
      try {
        const response = await bedrock.send(
          new ConverseStreamCommand({
            modelId: assistant.model,
            messages,
            ...(assistant.instructions ? { system: [{ text: assistant.instructions }] } : {}),
            inferenceConfig: {
              maxTokens: assistant.maxOutputTokens,
              ...(assistant.temperature !== null ? { temperature: assistant.temperature } : {}),
            },
          }),
          { abortSignal: signal },
        );
        stream = response.stream;
      } catch (error) {
        throw logged(replyErrorFrom(error), error);
      }
      if (!stream) throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.failed, { failure: 'malformed' });
      let stopped = false;
      let usage: TokenUsage | undefined;
      try {
        for await (const event of stream) {
          const text = event.contentBlockDelta?.delta?.text;
          if (text) {
            yield text;
            continue;
          }
          if (event.messageStop) stopped = true;
          if (event.metadata) usage = reportedUsage(event.metadata.usage);
          for (const [member, name] of STREAM_EXCEPTIONS) {
            if (event[member]) throw Object.assign(new Error(event[member]?.message ?? name), { name });
          }
        }
      } catch (error) {
        throw logged(replyErrorFrom(error), error);
      }
      // The stream ended without messageStop: the reply is incomplete.
      if (!stopped) throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.incomplete, { failure: 'incomplete' });
      return usage;
    },
  };
}

function logged(replyError: ReplyError, original: unknown): ReplyError {
  logger.warn('bedrock reply failed', { code: replyError.code, failure: replyError.failure, error: describeError(original) });
  return replyError;
}
