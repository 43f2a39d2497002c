// The request pipeline every API function runs, in AWS and locally:
// route -> authenticate (by the route's auth kind) -> admit (rate limits) -> parse body -> handler,
// with the reads a handler asks for (`prefetch`) started between authentication and admission,
// then CORS and rate-limit headers on whatever comes out, errors included.
// Handlers stay thin: they get a parsed, authenticated ApiRequest and return an HttpResult.
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { ApiError, MAX_BODY_BYTES, ROLE_TOO_WEAK } from '../domain/errors.ts';
import { isOrganizationId } from '../domain/ids.ts';
import { fromAuthorizerContext, type KeyIdentity } from '../domain/key-identity.ts';
import type { RateSubject } from '../domain/plans.ts';
import { operatorMay, roleAtLeast, type Role } from '../domain/roles.ts';
import { findRoute, ROUTES, routeKey, speaksOpenAi, type FunctionName, type RouteDefinition } from '../routes.ts';
import { isUnavailable } from '../db/client.ts';
import { describeError, logger } from '../log.ts';
import { admissionOutcome } from '../metrics/catalog.ts';
import { asKeygateError, openAiErrorBody, openAiRateLimitHeaders } from '../chat/openai-wire.ts';
import { recordRequest } from '../metrics/emit.ts';
import { CORS_EXPOSE_HEADERS, OPENAI_EXPOSE_HEADERS } from './cors.ts';
import { verifyPortalToken, type PortalUser } from './portal-auth.ts';
import { errorResult, type HttpResult } from './response.ts';

export interface ApiRequest {
  route: RouteDefinition;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  /** Parsed JSON body; undefined when the request had none. */
  body: unknown;
  requestId: string;
  origin: string | undefined;
  /** The caller's address as API Gateway saw it (audit entries record it). */
  sourceIp?: string;
  /** Portal routes: the signed-in user, and their role in the path's organization if any. */
  user?: PortalUser;
  role?: Role;
  /** API-key routes: the key, as the authorizer resolved it. */
  key?: KeyIdentity;
  /** Session routes: whatever the session authenticator established. */
  session?: unknown;
  /** API-key and session routes: whose limits this request counts against. */
  rateSubject?: RateSubject;
  /** Reply routes: aborted when the caller goes away (where the runtime can tell). */
  signal?: AbortSignal;
  /** Reply routes: epoch ms by which the upstream must have stopped (the function's deadline less a margin). */
  stopBy?: number;
}

export type RouteHandler = (req: ApiRequest) => Promise<HttpResult>;

/** Per-request response decorations, applied to successes and errors alike. */
export interface ResponseState {
  headers: Record<string, string>;
  /** Set only for requests a browser may read: publishable keys and sessions from their origin. */
  corsOrigin?: string;
  /** Set once the request passed its rate limits (it counts as `admitted` in the Requests metric). */
  admitted?: boolean;
  /** The OpenAI-compatible routes: errors in OpenAI's body, OpenAI's rate-limit headers too. */
  openAi?: boolean;
}

export interface PipelineHooks {
  /** Portal routes under /organizations/{orgId}: the caller's role there (undefined if none). */
  loadRole?: (organizationId: string, userId: string) => Promise<Role | undefined>;
  /** Session routes: verify the session token, set req.session, req.rateSubject and state.corsOrigin. */
  authenticateSession?: (req: ApiRequest, state: ResponseState) => Promise<void>;
  /**
   * API-key and session routes: count the request against its subject's limits and return the
   * X-RateLimit-* headers; throws RATE_LIMIT_EXCEEDED (with those headers) when over a limit.
   */
  admit?: (subject: RateSubject) => Promise<Record<string, string>>;
  /**
   * Authenticated routes: start reads (never writes) the handler will need, so they run while
   * admission is decided; a refused request discards them. Must not throw: a read's failure is the
   * handler's to answer, when it awaits it.
   */
  prefetch?: (req: ApiRequest) => void;
}

export function lowerCaseHeaders(headers: Record<string, string | undefined> | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined) out[name.toLowerCase()] = value;
  }
  return out;
}

function parseBody(event: APIGatewayProxyEvent): unknown {
  if (event.body === null || event.body === undefined || event.body === '') return undefined;
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (raw.byteLength > MAX_BODY_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE');
  // Bodies are JSON whatever the Content-Type says (curl -d sends form encoding); bad JSON is a 400.
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError('VALIDATION_ERROR', 'Request body is not valid JSON', {
      details: [{ field: 'body', message: 'must be valid JSON' }],
    });
  }
}

async function authenticatePortal(req: ApiRequest, hooks: PipelineHooks): Promise<void> {
  req.user = await verifyPortalToken(req.headers.authorization);
  const orgId = req.params.orgId;
  const required = req.route.role ?? 'user';
  if (orgId === undefined || !hooks.loadRole) return;
  // A path id no organization can have is not read (an oversized one would make DynamoDB refuse the key: a 500).
  if (!isOrganizationId(orgId)) throw new ApiError('NOT_FOUND', 'Organization not found');
  req.role = await hooks.loadRole(orgId, req.user.userId);
  const roleAllows = required !== 'operator' && req.role !== undefined && (required === 'user' || roleAtLeast(req.role, required));
  if (roleAllows) return;
  // Platform staff read any organization and adjust its plan and credits, nothing more.
  if (req.user.isOperator) {
    if (operatorMay(req.route)) return;
    throw new ApiError('INSUFFICIENT_PERMISSIONS', OPERATOR_TOO_WEAK);
  }
  // Outsiders learn nothing about an organization they are not in.
  if (!req.role) throw new ApiError('NOT_FOUND');
  throw new ApiError('INSUFFICIENT_PERMISSIONS', required === 'operator' ? 'Only platform operators can do this' : ROLE_TOO_WEAK);
}

const OPERATOR_TOO_WEAK = 'Operators can read this organization and change its plan, limits, billing and credits, nothing else';

function authenticateKey(req: ApiRequest, event: APIGatewayProxyEvent, state: ResponseState): void {
  const key = fromAuthorizerContext(event.requestContext?.authorizer);
  // Without the authorizer's context the gateway was bypassed or misconfigured: refuse.
  if (!key) throw new ApiError('INVALID_API_KEY');
  req.key = key;
  req.rateSubject = {
    organizationId: key.organizationId,
    keyId: key.keyId,
    orgLimits: key.orgLimits,
    orgLimitsVersion: key.orgLimitsVersion,
    keyLimits: key.keyLimits,
  };
  if (key.type === 'publishable' && key.origin) state.corsOrigin = key.origin;
  // No key at all (OpenAI-compatible routes only): readable by the page, as the gateway's own 401 is.
  if (key.rejection === 'INVALID_API_KEY' && key.origin) state.corsOrigin = key.origin;
  if (key.rejection) throw new ApiError(key.rejection);
}

export function toErrorResult(error: unknown, requestId: string): HttpResult {
  if (error instanceof ApiError) return errorResult(error);
  if (isUnavailable(error)) {
    logger.warn('dependency unavailable', { requestId, error: describeError(error) });
    return errorResult(new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' }));
  }
  logger.error('unhandled error', { requestId, error: describeError(error) });
  return errorResult(new ApiError('INTERNAL_ERROR', undefined, { requestId }));
}

export function decorate(result: HttpResult, state: ResponseState): HttpResult {
  const headers = { ...result.headers, ...state.headers };
  let body = result.body;
  if (state.openAi) {
    Object.assign(headers, openAiRateLimitHeaders(headers, new Date()));
    const error = result.statusCode >= 400 ? asKeygateError(body) : undefined;
    if (error) body = JSON.stringify(openAiErrorBody(error));
  }
  if (state.corsOrigin) {
    headers['Access-Control-Allow-Origin'] = state.corsOrigin;
    headers['Access-Control-Expose-Headers'] = state.openAi ? OPENAI_EXPOSE_HEADERS : CORS_EXPOSE_HEADERS;
    headers['Vary'] = 'Origin';
  }
  return { ...result, headers, body };
}

/** Count the request in the Requests metric by how the gate decided it (`error`: what it failed with, if anything). */
export function recordOutcome(state: ResponseState, error?: unknown): void {
  const outcome = admissionOutcome(state.admitted === true, error);
  if (outcome) recordRequest(outcome);
}

/** Fail at load (and in tests) if a function and the route table disagree. */
export function checkRouteCoverage(fn: FunctionName, handlers: object): void {
  const expected = ROUTES.filter((r) => r.function === fn).map(routeKey).sort();
  const actual = Object.keys(handlers).sort();
  if (expected.join('\n') !== actual.join('\n')) {
    throw new Error(`Function ${fn} implements [${actual.join(', ')}] but the route table says [${expected.join(', ')}]`);
  }
}

export interface PreparedRequest<H = RouteHandler> {
  req: ApiRequest;
  state: ResponseState;
  handler: H;
}

/** What the invocation knows beyond the event: the caller going away, the function's deadline. */
export type Invocation = Pick<ApiRequest, 'signal' | 'stopBy'>;

/** Route, parse and authenticate; shared by buffered and streaming functions. */
export async function prepare<H = RouteHandler>(
  fn: FunctionName,
  handlers: Record<string, H>,
  hooks: PipelineHooks,
  event: APIGatewayProxyEvent,
  state: ResponseState,
  invocation: Invocation = {},
): Promise<PreparedRequest<H>> {
  const route = findRoute(event.httpMethod, event.resource);
  const handler = route && route.function === fn ? handlers[routeKey(route)] : undefined;
  if (!route || !handler) throw new ApiError('NOT_FOUND');
  if (speaksOpenAi(route)) state.openAi = true;
  const headers = lowerCaseHeaders(event.headers);
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) query[name] = value;
  }
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.pathParameters ?? {})) {
    if (value !== undefined) params[name] = value;
  }
  const req: ApiRequest = {
    route,
    params,
    query,
    headers,
    body: undefined,
    requestId: event.requestContext?.requestId ?? 'unknown',
    origin: headers.origin,
    ...(event.requestContext?.identity?.sourceIp ? { sourceIp: event.requestContext.identity.sourceIp } : {}),
    ...(invocation.signal ? { signal: invocation.signal } : {}),
    ...(invocation.stopBy !== undefined ? { stopBy: invocation.stopBy } : {}),
  };
  if (route.auth === 'apiKey') authenticateKey(req, event, state);
  if (route.auth === 'portal') await authenticatePortal(req, hooks);
  if (route.auth === 'session') {
    if (!hooks.authenticateSession) throw new Error(`No session authenticator for ${routeKey(route)}`);
    await hooks.authenticateSession(req, state);
  }
  hooks.prefetch?.(req);
  if (req.rateSubject && hooks.admit) {
    Object.assign(state.headers, await hooks.admit(req.rateSubject));
    state.admitted = true;
  }
  // After admission: a bad or oversized body from an authenticated caller is counted like any
  // other request (docs/api.md "Rate limits and credits"), so malformed bodies cannot bypass the rate limits.
  req.body = parseBody(event);
  return { req, state, handler };
}

/** A Lambda proxy handler for the routes of one function. */
export function createApiHandler(fn: FunctionName, handlers: Record<string, RouteHandler>, hooks: PipelineHooks = {}) {
  checkRouteCoverage(fn, handlers);
  return async (event: APIGatewayProxyEvent, _context?: Context): Promise<HttpResult> => {
    const state: ResponseState = { headers: {} };
    try {
      const { req, handler } = await prepare(fn, handlers, hooks, event, state);
      const result = decorate(await handler(req), state);
      recordOutcome(state);
      return result;
    } catch (error) {
      recordOutcome(state, error);
      return decorate(toErrorResult(error, event.requestContext?.requestId ?? 'unknown'), state);
    }
  };
}
