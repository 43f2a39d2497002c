// Session message stream: POST /v1/chat/sessions/{sessionId}/messages -> 200 text/event-stream.
// Event: API Gateway REST proxy (APIGatewayProxyEvent), invoked with response streaming
// (ResponseTransferMode.STREAM), so in AWS the handler is a Lambda response-streaming handler built
// with middy's streamifyResponse execution mode.
//
// Everything up to the first delta (route, body, session token, rate limit, credit, backend start)
// runs before a status is chosen, so those failures are ordinary JSON errors with their status.
// After that the reply goes out as SSE events through an EventSink: a PassThrough that middy pipes
// into the Lambda response stream in AWS, the Node ServerResponse in the local runtime
// (localStreamHandler), or a buffer (`handler` outside Lambda).
import { PassThrough } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import { admit } from '../shared/db/rate-limits.ts';
import { pumpReply, REPLAYED_HEADER, startReply, type StartedReply } from '../shared/chat/reply.ts';
import { idempotencyKey, parseSessionMessage } from '../shared/chat/schemas.ts';
import { resolveAssistant } from '../shared/chat/assistants.ts';
import { authenticateSession, sessionOf } from '../shared/chat/session-auth.ts';
import { bufferSink, serverResponseSink, SSE_HEADERS, writableSink } from '../shared/chat/sse.ts';
import { logger, describeError } from '../shared/log.ts';
import { createApiHandler, decorate, prepare, recordOutcome, toErrorResult, type ApiRequest, type ResponseState, type RouteHandler } from '../shared/http/pipeline.ts';
import type { HttpResult } from '../shared/http/response.ts';
import { SESSION, type RouteKey } from '../shared/routes.ts';
const hooks = { authenticateSession, admit };

/** Validate the message and start its reply (credit reserved, first delta received). */
async function beginReply(req: ApiRequest): Promise<StartedReply> {
  const session = sessionOf(req);
  const { content } = parseSessionMessage(req.body);
  const idempotency = idempotencyKey(req.headers);
  // A session keeps the assistant it started with; one started before assistants gets today's choice.
  const assistant =
    session.assistant ??
    (await resolveAssistant({ key: { organizationId: session.organizationId, type: session.keyType, databaseId: session.databaseId, assistantId: null } }));
  return startReply({
    organizationId: session.organizationId,
    keyId: session.keyId,
    threadId: session.id,
    content,
    ttl: session.ttl,
    // A client's Idempotency-Key is scoped by the key and the session; without one, each message is its own request.
    ...(idempotency ? { idempotency: { key: idempotency, scope: `session#${session.id}`, request: { content } } } : {}),
    assistant,
    requestId: req.requestId,
    identity: { keyType: session.keyType, databaseId: session.databaseId, sessionId: session.id, conversationId: null, origin: session.origin },
  });
}

/** A replayed reply (its Idempotency-Key's original) goes out as the same SSE events, marked. */
function streamHeaders(reply: StartedReply): Record<string, string> {
  return { ...SSE_HEADERS, ...(reply.replayed ? REPLAYED_HEADER : {}) };
}

type Opened = { kind: 'respond'; result: HttpResult } | { kind: 'stream'; headers: Record<string, string>; reply: StartedReply };

/** Everything before the status line: a JSON result (any failure), or a reply ready to stream. */
async function open(event: APIGatewayProxyEvent): Promise<Opened> {
  const state: ResponseState = { headers: {} };
  try {
    const { req } = await prepare('chatStream', routes, hooks, event, state);
    const reply = await beginReply(req);
    const { headers } = decorate({ statusCode: 200, headers: streamHeaders(reply), body: '' }, state);
    recordOutcome(state);
    return { kind: 'stream', headers, reply };
  } catch (error) {
    recordOutcome(state, error);
    return { kind: 'respond', result: decorate(toErrorResult(error, event.requestContext?.requestId ?? 'unknown'), state) };
  }
}

/** The route as one buffered body (used where there is no response streaming). */
async function bufferedMessage(req: ApiRequest): Promise<HttpResult> {
  const reply = await beginReply(req);
  const sink = bufferSink();
  await pumpReply(reply, sink);
  return { statusCode: 200, headers: streamHeaders(reply), body: sink.body() };
}

export const routes = { [`POST ${SESSION}/messages`]: bufferedMessage } satisfies Record<RouteKey<'chatStream'>, RouteHandler>;

/** AWS: status and headers as middy's streaming prelude, then the events piped from a PassThrough. */
export async function streamingHandler(event: APIGatewayProxyEvent): Promise<HttpResult | { statusCode: number; headers: Record<string, string>; body: PassThrough }> {
  const opened = await open(event);
  if (opened.kind === 'respond') return opened.result;
  const body = new PassThrough();
  pumpReply(opened.reply, writableSink(body)).catch((error: unknown) => {
    logger.error('stream pump failed', { error: describeError(error) });
    body.end();
  });
  return { statusCode: 200, headers: opened.headers, body };
}

/** Local runtime: the same code path, written to the Node response and flushed per event. */
export async function localStreamHandler(event: APIGatewayProxyEvent, res: ServerResponse): Promise<void> {
  const opened = await open(event);
  if (opened.kind === 'respond') {
    const { statusCode, headers, body } = opened.result;
    res.writeHead(statusCode, { ...headers, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  await pumpReply(opened.reply, serverResponseSink(res, opened.headers));
}

/**
 * Inside Lambda the runtime defines the `awslambda` global with streamifyResponse and
 * HttpResponseStream (typed by @types/aws-lambda); middy's streaming mode wraps the handler with it.
 * Anywhere else (tests, tools) the route is answered as one buffered SSE body. (The AWS SDK creates
 * an empty `awslambda` object everywhere, so the check is for the function, not the object.)
 */
const inLambda = typeof (globalThis as { awslambda?: { streamifyResponse?: unknown } }).awslambda?.streamifyResponse === 'function';

/** The route answered as one buffered SSE body (no response streaming). */
export const bufferedHandler = createApiHandler('chatStream', routes, hooks);

export const handler = inLambda
  ? middy(streamingHandler, { executionMode: executionModeStreamifyResponse })
  : bufferedHandler;
