// `POST /v1/chat/completions` of the OpenAI-compatible API (docs/openai.md): OpenAI's Chat
// Completions request answered through the same reply path as one-shot messages (limits, credits,
// Idempotency-Key), statelessly: the client sends the whole conversation and none of it is stored.
// The wire shapes are in openai-wire.ts.
import { findAssistant } from '../db/assistants.ts';
import type { Assistant } from '../domain/assistants.ts';
import { ApiError, ERRORS, validationError, type ErrorCode } from '../domain/errors.ts';
import { timeOrderedId } from '../domain/ids.ts';
import { sessionlessRequester, type KeyIdentity } from '../domain/key-identity.ts';
import { requestedDatabase } from '../domain/authorize.ts';
import type { ApiRequest } from '../http/pipeline.ts';
import { json, type HttpResult, type StreamedResult } from '../http/response.ts';
import { resolveAssistant, unknownModel } from './assistants.ts';
import type { ChatTurn } from './backend.ts';
import {
  chunkLine,
  completionBody,
  completionUsage,
  DONE_LINE,
  openAiTokenHeaders,
  parseCompletionRequest,
  usageChunkLine,
  type CompletionIds,
  type CompletionRequest,
  type FinishReason,
} from './openai-wire.ts';
import { collectReply, endFailedStream, REPLAYED_HEADER, startReply, streamErrorPayload, type ReplyInput, type StartedReply } from './reply.ts';
import { idempotencyKey } from './schemas.ts';
import { SSE_HEADERS, writableSink, type EventSink } from './sse.ts';
import { rateLimitHeaders } from '../limits/headers.ts';

/** What the client's messages become: its own system prompt (joined) and the conversation turns. */
export function conversationOf(request: CompletionRequest): { system: string[]; turns: ChatTurn[] } {
  const system: string[] = [];
  const turns: ChatTurn[] = [];
  for (const message of request.messages) {
    if (message.role === 'system' || message.role === 'developer') system.push(message.content);
    else turns.push({ role: message.role, content: message.content });
  }
  const last = turns[turns.length - 1];
  if (!last || last.role !== 'user') {
    throw validationError([{ field: 'messages', message: 'must end with a user message' }], 'messages: must end with a user message');
  }
  return { system, turns };
}

/**
 * The assistant that answers, as this request runs it: a secret key may add its own system prompt
 * (after the assistant's instructions), lower the output cap and set the temperature; a publishable
 * key may only lower the cap (its temperature is ignored, a system prompt is 403).
 */
export function effectiveAssistant(assistant: Assistant, request: CompletionRequest, system: string[], keyType: KeyIdentity['type']): Assistant {
  const maxOutputTokens = Math.min(request.maxTokens ?? assistant.maxOutputTokens, assistant.maxOutputTokens);
  if (keyType === 'publishable') return { ...assistant, maxOutputTokens };
  return {
    ...assistant,
    instructions: [assistant.instructions, ...system].filter((text) => text !== '').join('\n\n'),
    maxOutputTokens,
    temperature: request.temperature ?? assistant.temperature,
  };
}

/** The assistant `model` names for this key: 404 if none of the organization, 403 if not a publishable key's own. */
async function assistantFor(key: KeyIdentity, request: CompletionRequest, hasSystemMessage: boolean, database: string | undefined): Promise<Assistant> {
  try {
    return await resolveAssistant({ key, requested: request.model, database, hasSystemMessage, field: 'model', unknownIsNotFound: true });
  } catch (error) {
    // A publishable key naming a model that does not exist at all: 404 as for any key.
    if (error instanceof ApiError && error.code === 'INSUFFICIENT_PERMISSIONS' && !hasSystemMessage && !(await findAssistant(key.organizationId, request.model))) {
      throw unknownModel('model', request.model);
    }
    throw error;
  }
}

/**
 * startReply, with a token window's 429 telling OpenAI's `-tokens` headers (its X-RateLimit-* name
 * the token window; the request's own window is told by the pipeline's).
 */
async function startReplyWithTokenHeaders(input: Parameters<typeof startReply>[0]): Promise<StartedReply> {
  try {
    return await startReply(input);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'RATE_LIMIT_EXCEEDED') throw error;
    const { 'Retry-After': retryAfter, ...windows } = error.headers;
    throw new ApiError(error.code, error.message, error.extra, {
      ...(retryAfter !== undefined ? { 'Retry-After': retryAfter } : {}),
      ...openAiTokenHeaders(windows, new Date()),
    });
  }
}

export function finishReason(outputTokens: number | undefined, cap: number): FinishReason {
  return outputTokens !== undefined && outputTokens >= cap ? 'length' : 'stop';
}

/** `POST /v1/chat/completions` up to its first delta (a JSON error before), then JSON or a stream. */
export async function openCompletion(req: ApiRequest, limits: Pick<ReplyInput, 'signal' | 'stopBy' | 'rateSubject'> = {}): Promise<HttpResult | StreamedResult> {
  const key = req.key!;
  const request = parseCompletionRequest(req.body);
  const idempotency = idempotencyKey(req.headers);
  const { system, turns } = conversationOf(request);
  const pinned = await assistantFor(key, request, system.length > 0, requestedDatabase(req.headers, req.query));
  const assistant = effectiveAssistant(pinned, request, system, key.type);
  const now = new Date();
  const threadId = timeOrderedId('cmpl', now);
  const reply = await startReplyWithTokenHeaders({
    organizationId: key.organizationId,
    keyId: key.keyId,
    threadId,
    content: turns[turns.length - 1]!.content,
    statelessTurns: turns,
    ttl: 0,
    ...(idempotency
      ? {
          idempotency: {
            key: idempotency,
            scope: 'completion',
            request: { model: request.model, messages: request.messages, maxTokens: request.maxTokens, temperature: request.temperature },
          },
        }
      : {}),
    contentField: 'messages',
    assistant,
    requestId: req.requestId,
    identity: sessionlessRequester(key, null),
    ...limits,
  });
  const ids: CompletionIds = { id: `chatcmpl-${reply.userMessageId}`, created: Math.floor(now.getTime() / 1000), model: pinned.name };
  const headers = {
    ...(reply.replayed ? REPLAYED_HEADER : {}),
    ...(reply.tokenWindows ? openAiTokenHeaders(rateLimitHeaders(reply.tokenWindows), now) : {}),
  };
  // `length` when the reply reached the cap it ran with, which the hold may have lowered.
  const cap = Math.min(assistant.maxOutputTokens, reply.outputCap ?? Infinity);
  if (!request.stream) {
    const done = await collectReply(reply, req.requestId, limits.signal);
    const usage = reply.usage();
    const body = completionBody(
      ids,
      done.content,
      finishReason(usage?.outputTokens, cap),
      completionUsage(usage?.inputTokens ?? 0, usage?.outputTokens ?? 0),
    );
    return json(200, body, headers);
  }
  return {
    statusCode: 200,
    headers: { ...SSE_HEADERS, ...headers },
    write: (out) => pumpCompletion(reply, writableSink(out), ids, request.includeUsage, cap),
  };
}

/**
 * Stream a started reply as OpenAI's chunks: the role, the content pieces, the finish reason, the
 * usage chunk when asked for, `[DONE]`. A failure after the first chunk sends OpenAI's error object
 * as a last `data:` line (what OpenAI's own streams do) and no `[DONE]`; the reply is refunded.
 */
export async function pumpCompletion(
  reply: StartedReply,
  sink: EventSink,
  ids: CompletionIds,
  includeUsage: boolean,
  cap: number,
): Promise<void> {
  sink.onClose?.(() => reply.cancel());
  try {
    await sink.write(chunkLine(ids, { role: 'assistant', content: '' }));
    await sink.write(chunkLine(ids, { content: reply.first }));
    await reply.delivered();
    for await (const delta of reply.rest()) await sink.write(chunkLine(ids, { content: delta }));
    await reply.complete();
    const usage = reply.usage();
    await sink.write(chunkLine(ids, {}, finishReason(usage?.outputTokens, cap)));
    if (includeUsage) await sink.write(usageChunkLine(ids, completionUsage(usage?.inputTokens ?? 0, usage?.outputTokens ?? 0)));
    await sink.write(DONE_LINE);
  } catch (error) {
    await endFailedStream(reply, error);
    const { code, message } = streamErrorPayload(error);
    const type = code in ERRORS ? ERRORS[code as ErrorCode].error : 'internal_error';
    await sink.write(`data: ${JSON.stringify({ error: { message, type, param: null, code } })}\n\n`);
  } finally {
    sink.end();
  }
}
