// The reply function: every route that waits for an assistant reply, JSON ones included, on API
// Gateway's streaming integration (ResponseTransferMode.STREAM), which is not cut at 29 s:
//   POST /v1/chat/sessions/{sessionId}/messages -> 200 text/event-stream
//   POST /v1/chat/message (and /api/v1/chat/message) -> 200 JSON once the reply is complete
//   POST /v1/chat/completions (OpenAI-compatible) -> 200 JSON, or text/event-stream when asked
// Event: API Gateway REST proxy (APIGatewayProxyEvent). In AWS the handler is a Lambda
// response-streaming handler built with middy's streamifyResponse execution mode; its timeout is
// above every upstream's maxDurationSeconds, and each reply's upstream is stopped before the
// function's own deadline (stopBy, from the Lambda context).
//
// A route answers an HttpResult (JSON, written whole) or a StreamedResult (status and headers, then
// the body as it is produced). Everything up to the first delta (route, body, token or key, rate
// limit, credit, upstream start) runs before a status is chosen, so those failures are ordinary JSON
// errors with their status. A streamed body goes to a PassThrough that middy pipes into the Lambda
// response stream in AWS, to the Node ServerResponse in the local runtime (localStreamHandler), or
// into one buffered body (`handler` outside Lambda).
import { PassThrough, Writable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import { admit } from '../shared/db/rate-limits.ts';
import { recentMessages, type MessageItem } from '../shared/db/messages.ts';
import { getSessionItem, retentionTtl, sessionStatus, type SessionItem } from '../shared/db/sessions.ts';
import { conversationScope, publicConversationId, storedConversationId } from '../shared/domain/conversations.ts';
import { requestedDatabase } from '../shared/domain/authorize.ts';
import { ApiError, validationError } from '../shared/domain/errors.ts';
import { newId } from '../shared/domain/ids.ts';
import { checkedOrigin, sessionlessRequester } from '../shared/domain/key-identity.ts';
import { addDays, iso } from '../shared/domain/time.ts';
import type { RateSubject } from '../shared/domain/plans.ts';
import { collectReply, CONTEXT_MESSAGES, pumpReply, REPLAYED_HEADER, startReply, type StartedReply } from '../shared/chat/reply.ts';
import { idempotencyKey, parseOneShot, parseSessionMessage } from '../shared/chat/schemas.ts';
import { resolveAssistant } from '../shared/chat/assistants.ts';
import { openCompletion } from '../shared/chat/completions.ts';
import { authenticateSession, sessionOf } from '../shared/chat/session-auth.ts';
import { SSE_HEADERS, writableSink } from '../shared/chat/sse.ts';
import { replyStopBy } from '../shared/chat/upstreams.ts';
import { logger, describeError } from '../shared/log.ts';
import { decorate, prepare, recordOutcome, toErrorResult, checkRouteCoverage, type ApiRequest, type Invocation, type PipelineHooks, type ResponseState } from '../shared/http/pipeline.ts';
import { isStreamed, json, type HttpResult, type StreamedResult } from '../shared/http/response.ts';
import { routeKey, SESSION, type RouteKey } from '../shared/routes.ts';

/** Session messages' history, read while the request's admission is decided (started by `prefetch`). */
const prefetched = new WeakMap<ApiRequest, Promise<MessageItem[]>>();

const hooks: PipelineHooks = {
  authenticateSession,
  admit,
  prefetch(req) {
    if (routeKey(req.route) !== `POST ${SESSION}/messages`) return;
    const history = recentMessages(sessionOf(req).id, CONTEXT_MESSAGES, new Date());
    // Answered when the handler awaits it; a refused request never does.
    history.catch(() => undefined);
    prefetched.set(req, history);
  },
};

/** How long a one-shot conversation can be continued after it starts. */
export const CONVERSATION_LIFETIME_DAYS = 30;

/** A reply route: a JSON result, or a body streamed as it is produced. */
export type ReplyRouteHandler = (req: ApiRequest) => Promise<HttpResult | StreamedResult>;

/** What the reply needs of the invocation: the caller going away, the function's deadline. */
function replyLimits(req: ApiRequest): { signal?: AbortSignal; stopBy?: number; rateSubject?: RateSubject } {
  return {
    ...(req.signal ? { signal: req.signal } : {}),
    ...(req.stopBy !== undefined ? { stopBy: req.stopBy } : {}),
    // The reply's tokens count in the same subject's token windows as the request did.
    ...(req.rateSubject ? { rateSubject: req.rateSubject } : {}),
  };
}

/** POST /v1/chat/sessions/{sessionId}/messages: the reply as SSE events. */
async function sessionMessage(req: ApiRequest): Promise<StreamedResult> {
  const session = sessionOf(req);
  const { content } = parseSessionMessage(req.body);
  const idempotency = idempotencyKey(req.headers);
  // A session keeps the assistant it started with; one stored without an assistant gets the current choice.
  const assistant =
    session.assistant ??
    (await resolveAssistant({ key: { organizationId: session.organizationId, type: session.keyType, databaseId: session.databaseId, assistantId: null } }));
  const reply = await startReply({
    organizationId: session.organizationId,
    keyId: session.keyId,
    threadId: session.id,
    content,
    ttl: session.ttl,
    // A client's Idempotency-Key is scoped by the key and the session; without one, each message is its own request.
    ...(idempotency ? { idempotency: { key: idempotency, scope: `session#${session.id}`, request: { content } } } : {}),
    assistant,
    ...(prefetched.has(req) ? { history: prefetched.get(req)! } : {}),
    requestId: req.requestId,
    identity: { keyType: session.keyType, databaseId: session.databaseId, sessionId: session.id, conversationId: null, origin: session.origin },
    ...replyLimits(req),
  });
  return streamedReply(reply);
}

/** A started reply as SSE events; a replayed one (its Idempotency-Key's original) is marked. */
function streamedReply(reply: StartedReply): StreamedResult {
  return {
    statusCode: 200,
    headers: { ...SSE_HEADERS, ...(reply.replayed ? REPLAYED_HEADER : {}) },
    write: (out) => pumpReply(reply, writableSink(out)),
  };
}

/**
 * The conversation `id` names in the caller's scope (docs/api.md "Routes"): the live item, or
 * undefined when the id is not used yet in that scope (a new conversation starts under it).
 */
async function findConversation(storedId: string, now: Date): Promise<SessionItem | undefined> {
  const item = await getSessionItem(storedId);
  if (item && sessionStatus(item, now) !== 'active') {
    throw new ApiError('CONFLICT', `Conversation has expired (they last ${CONVERSATION_LIFETIME_DAYS} days); continue under a new conversation_id`);
  }
  return item;
}

/** POST /v1/chat/message: the whole reply as JSON. */
async function oneShotMessage(req: ApiRequest): Promise<HttpResult> {
  const key = req.key!;
  const { message, conversation_id, assistant: requested } = parseOneShot(req.body);
  const idempotency = idempotencyKey(req.headers);
  const now = new Date();
  const conversationId = conversation_id ?? newId('conv');
  const storedId = storedConversationId(conversationScope(key), conversationId);
  // Two independent reads at once; their failures answer in the order they did one after the other.
  const found = conversation_id !== undefined ? findConversation(storedId, now) : Promise.resolve(undefined);
  found.catch(() => undefined);
  const assistant = await resolveAssistant({ key, requested, database: requestedDatabase(req.headers, req.query) });
  const existing = await found;
  // A publishable key is public: a chosen (guessable) id would let one visitor continue another's
  // conversation, so with one only ids Keygate returned to this key are accepted.
  if (key.type === 'publishable' && conversation_id !== undefined && !existing) {
    throw validationError([{ field: 'conversation_id', message: 'with a publishable key, must be a conversation_id Keygate returned to this key' }]);
  }
  const expiresAt = addDays(now, CONVERSATION_LIFETIME_DAYS);
  const conversation: SessionItem = existing ?? {
    id: storedId,
    organizationId: key.organizationId,
    keyId: key.keyId,
    keyType: key.type,
    type: 'conversation',
    status: 'active',
    origin: checkedOrigin(key),
    databaseId: key.databaseId,
    metadata: null,
    orgLimits: key.orgLimits,
    keyLimits: key.keyLimits,
    createdAt: iso(now),
    expiresAt: iso(expiresAt),
    ttl: retentionTtl(expiresAt),
  };
  const reply = await startReply({
    organizationId: key.organizationId,
    keyId: key.keyId,
    threadId: conversation.id,
    content: message,
    ttl: conversation.ttl,
    ...(idempotency ? { idempotency: { key: idempotency, scope: 'message', request: { message, conversation_id } } } : {}),
    // A new conversation exists only once its first reply is stored, in the same transaction.
    ...(!existing ? { newConversation: conversation } : {}),
    contentField: 'message',
    assistant,
    requestId: req.requestId,
    identity: sessionlessRequester(key, publicConversationId(conversation.id)),
    ...replyLimits(req),
  });
  const done = await collectReply(reply, req.requestId, req.signal);
  return json(
    200,
    {
      // A replay answers with the original's conversation (a generated id is not generated again).
      conversation_id: publicConversationId(reply.threadId),
      message: { role: 'assistant', content: done.content },
      usage: { credits: done.credits },
    },
    reply.replayed ? REPLAYED_HEADER : {},
  );
}

/** POST /v1/chat/completions (OpenAI-compatible): JSON, or OpenAI's chunks streamed when the body asks. */
function chatCompletion(req: ApiRequest): Promise<HttpResult | StreamedResult> {
  return openCompletion(req, replyLimits(req));
}

export const routes = {
  [`POST ${SESSION}/messages`]: sessionMessage,
  'POST /v1/chat/message': oneShotMessage,
  'POST /api/v1/chat/message': oneShotMessage,
  'POST /v1/chat/completions': chatCompletion,
} satisfies Record<RouteKey<'chatStream'>, ReplyRouteHandler>;
checkRouteCoverage('chatStream', routes);

/** Everything before the status line: a JSON result (any failure included), or a body to stream. */
async function open(event: APIGatewayProxyEvent, invocation: Invocation): Promise<HttpResult | StreamedResult> {
  const state: ResponseState = { headers: {} };
  try {
    const { req, handler } = await prepare<ReplyRouteHandler>('chatStream', routes, hooks, event, state, invocation);
    const result = await handler(req);
    const { headers } = decorate({ statusCode: result.statusCode, headers: result.headers, body: '' }, state);
    recordOutcome(state);
    return { ...result, headers };
  } catch (error) {
    recordOutcome(state, error);
    return decorate(toErrorResult(error, event.requestContext?.requestId ?? 'unknown'), state);
  }
}

function invocationOf(context: Partial<Pick<Context, 'getRemainingTimeInMillis'>> | undefined, signal?: AbortSignal): Invocation {
  const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
  return {
    ...(signal ? { signal } : {}),
    ...(remaining !== undefined ? { stopBy: replyStopBy(remaining) } : {}),
  };
}

/**
 * AWS: status and headers as middy's streaming prelude, then the body (a JSON string, or piped from
 * a PassThrough). No caller signal: the runtime does not report a client that went away
 * (docs/upstreams.md, "What every reply does"); the deadline still stops the upstream.
 */
export async function streamingHandler(event: APIGatewayProxyEvent, context?: Context): Promise<HttpResult | { statusCode: number; headers: Record<string, string>; body: PassThrough }> {
  const result = await open(event, invocationOf(context));
  if (!isStreamed(result)) return result;
  const body = new PassThrough();
  result.write(body).catch((error: unknown) => {
    logger.error('stream pump failed', { error: describeError(error) });
    body.end();
  });
  return { statusCode: result.statusCode, headers: result.headers, body };
}

/**
 * Local runtime: the same code path, written to the Node response and flushed per event. The
 * response closing before it is finished means the caller went away: the reply's upstream is stopped.
 */
export async function localStreamHandler(event: APIGatewayProxyEvent, res: ServerResponse, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<void> {
  const gone = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) gone.abort();
  };
  res.once('close', onClose);
  try {
    // Written even if the caller is gone: a started reply still has to end (stored or refunded).
    const result = await open(event, invocationOf(context, gone.signal));
    if (!isStreamed(result)) {
      res.writeHead(result.statusCode, { ...result.headers, 'Content-Length': Buffer.byteLength(result.body) });
      res.end(result.body);
      return;
    }
    res.writeHead(result.statusCode, result.headers);
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    await result.write(res);
  } finally {
    res.off('close', onClose);
  }
}

/** A Writable that keeps what is written (a streamed body answered as one buffered body). */
function collector(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      callback();
    },
  });
  return Object.assign(out, { text: () => Buffer.concat(chunks).toString('utf8') });
}

/** Every route answered as one buffered body (no response streaming: tests and tools outside Lambda). */
export async function bufferedHandler(event: APIGatewayProxyEvent, context?: Context): Promise<HttpResult> {
  const result = await open(event, invocationOf(context));
  if (!isStreamed(result)) return result;
  const out = collector();
  await result.write(out);
  return { statusCode: result.statusCode, headers: result.headers, body: out.text() };
}

/**
 * Inside Lambda the runtime defines the `awslambda` global with streamifyResponse and
 * HttpResponseStream (typed by @types/aws-lambda); middy's streaming mode wraps the handler with it.
 * Anywhere else (tests, tools) every route is answered as one buffered body. (The AWS SDK creates
 * an empty `awslambda` object everywhere, so the check is for the function, not the object.)
 */
const inLambda = typeof (globalThis as { awslambda?: { streamifyResponse?: unknown } }).awslambda?.streamifyResponse === 'function';

export const handler = inLambda
  ? middy(streamingHandler, { executionMode: executionModeStreamifyResponse })
  : bufferedHandler;
