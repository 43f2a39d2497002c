// The route table, written once (docs/api.md "Routes"). The CDK API construct and the local runtime
// both iterate over it, the authorizer reads each route's required scope from it, and every function
// entry must implement exactly the routes assigned to it (checked at load and in tests).

import type { Scope } from './domain/scopes.ts';

export type FunctionName = 'management' | 'publicApi' | 'chatSession' | 'chatStream' | 'export' | 'dev';

/**
 * portal: a user-pool JWT, verified in the function (so its 401 body is INVALID_TOKEN, not the
 *         API-key body API Gateway would give every authorizer failure).
 * apiKey: an API key, verified by the Lambda REQUEST authorizer before the function runs.
 * session: a session token (JWT), verified in the function with one DynamoDB read.
 * public: no authentication by design (the API description).
 * none:   local development only.
 */
export type AuthKind = 'portal' | 'apiKey' | 'session' | 'public' | 'none';

/** Minimum role for portal routes; `operator` means platform staff (cognito:groups has operators). */
export type RoleRequirement = 'user' | 'member' | 'admin' | 'owner' | 'operator';


export interface RouteDefinition {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API Gateway resource path, with {param} segments. */
  path: string;
  function: FunctionName;
  auth: AuthKind;
  role?: RoleRequirement;
  scope?: Scope;
  /**
   * Served through API Gateway's response-streaming integration (15 minutes, not 29 s): every route
   * that waits for an assistant reply, whether it answers Server-Sent Events or JSON. Only the
   * reply function (`chatStream`) has such routes, and all of its routes are.
   */
  stream?: boolean;
  /** Served by the local runtime only, never part of the CDK stack. */
  localOnly?: boolean;
  /**
   * Portal routes whose `role` is not `operator` but which operators may call as well; the handler
   * limits them to their fields (PATCH of an organization: plan and limits are theirs, name and
   * default assistant its owners').
   */
  operators?: boolean;
  /**
   * The OpenAI-compatible routes (docs/openai.md): every rejection Keygate decides, the authorizer's
   * included, is answered by the function in OpenAI's error body, with OpenAI's rate-limit headers
   * beside X-RateLimit-*, and the preflight allows whatever headers the request asks for.
   */
  errors?: 'openai';
}

/** Path prefixes shared by many routes; function entries and the API description build their keys from these. */
export const ORG = '/v1/organizations/{orgId}';
export const KEY = `${ORG}/api-keys/{keyId}`;
export const ASSISTANT = `${ORG}/assistants/{assistantId}`;
export const SESSION = '/v1/chat/sessions/{sessionId}';

const TABLE = [
  { method: 'POST', path: '/v1/organizations', function: 'management', auth: 'portal', role: 'user' },
  { method: 'GET', path: '/v1/organizations', function: 'management', auth: 'portal', role: 'user' },
  { method: 'GET', path: ORG, function: 'management', auth: 'portal', role: 'member' },
  // Operators change plan and limits, owners name and default assistant: the handler checks which.
  { method: 'PATCH', path: ORG, function: 'management', auth: 'portal', role: 'owner', operators: true },
  { method: 'POST', path: `${ORG}/credits`, function: 'management', auth: 'portal', role: 'operator' },
  { method: 'GET', path: `${ORG}/members`, function: 'management', auth: 'portal', role: 'member' },
  { method: 'POST', path: `${ORG}/members`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'PUT', path: `${ORG}/members/{userId}`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'DELETE', path: `${ORG}/members/{userId}`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'POST', path: `${ORG}/databases`, function: 'management', auth: 'portal', role: 'admin' },
  { method: 'GET', path: `${ORG}/databases`, function: 'management', auth: 'portal', role: 'member' },
  { method: 'PATCH', path: `${ORG}/databases/{databaseId}`, function: 'management', auth: 'portal', role: 'admin' },
  { method: 'POST', path: `${ORG}/assistants`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'GET', path: `${ORG}/assistants`, function: 'management', auth: 'portal', role: 'member' },
  { method: 'GET', path: ASSISTANT, function: 'management', auth: 'portal', role: 'member' },
  { method: 'PATCH', path: ASSISTANT, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'DELETE', path: ASSISTANT, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'POST', path: `${ORG}/api-keys`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'GET', path: `${ORG}/api-keys`, function: 'management', auth: 'portal', role: 'member' },
  { method: 'GET', path: KEY, function: 'management', auth: 'portal', role: 'member' },
  { method: 'PATCH', path: KEY, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'DELETE', path: KEY, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'POST', path: `${KEY}/roll`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'GET', path: `${KEY}/usage`, function: 'management', auth: 'portal', role: 'member' },
  { method: 'GET', path: `${ORG}/usage`, function: 'management', auth: 'portal', role: 'member' },
  { method: 'GET', path: `${ORG}/audit-log`, function: 'management', auth: 'portal', role: 'admin' },
  { method: 'POST', path: `${ORG}/webhooks`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'GET', path: `${ORG}/webhooks`, function: 'management', auth: 'portal', role: 'admin' },
  { method: 'DELETE', path: `${ORG}/webhooks/{webhookId}`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'POST', path: `${ORG}/webhooks/{webhookId}/test`, function: 'management', auth: 'portal', role: 'owner' },
  { method: 'GET', path: `${ORG}/upstreams`, function: 'management', auth: 'portal', role: 'member' },

  { method: 'GET', path: '/v1/auth/whoami', function: 'publicApi', auth: 'apiKey' },
  { method: 'POST', path: '/v1/chat/sessions', function: 'publicApi', auth: 'apiKey', scope: 'chat' },
  { method: 'POST', path: '/v1/chat/voice-sessions', function: 'publicApi', auth: 'apiKey', scope: 'chat' },
  // Every route that waits for a reply is the reply function's, on the streaming integration (not cut at 29 s).
  { method: 'POST', path: '/v1/chat/message', function: 'chatStream', auth: 'apiKey', scope: 'chat', stream: true },
  { method: 'POST', path: '/api/v1/chat/message', function: 'chatStream', auth: 'apiKey', scope: 'chat', stream: true },
  { method: 'GET', path: '/api/export', function: 'export', auth: 'apiKey', scope: 'export' },
  { method: 'GET', path: '/v1/models', function: 'publicApi', auth: 'apiKey', scope: 'completions', errors: 'openai' },
  // Streamed when the body asks for it, JSON otherwise: on the streaming function either way.
  { method: 'POST', path: '/v1/chat/completions', function: 'chatStream', auth: 'apiKey', scope: 'completions', stream: true, errors: 'openai' },

  { method: 'POST', path: `${SESSION}/messages`, function: 'chatStream', auth: 'session', stream: true },
  { method: 'GET', path: `${SESSION}/messages`, function: 'chatSession', auth: 'session' },
  { method: 'POST', path: `${SESSION}/end`, function: 'chatSession', auth: 'session' },

  { method: 'GET', path: '/openapi.json', function: 'management', auth: 'public' },

  { method: 'POST', path: '/_dev/token', function: 'dev', auth: 'none', localOnly: true },
] as const satisfies readonly RouteDefinition[];

export const ROUTES: readonly RouteDefinition[] = TABLE;

type KeyOf<R> = R extends { method: infer M extends string; path: infer P extends string } ? `${M} ${P}` : never;

/**
 * `"METHOD /path"` of every route in the table, or of one function's routes. A function entry's
 * `routes` object `satisfies Record<RouteKey<'itsName'>, RouteHandler>`, so a missing, extra or
 * misspelt route is a compile error, not only a load-time one.
 */
export type RouteKey<F extends FunctionName = FunctionName> = KeyOf<Extract<(typeof TABLE)[number], { function: F }>>;

/** Entry file of each deployed function, relative to the repository root. */
export const FUNCTION_ENTRIES: Record<Exclude<FunctionName, 'dev'>, string> = {
  management: 'functions/management.ts',
  publicApi: 'functions/public-api.ts',
  chatSession: 'functions/chat-session.ts',
  chatStream: 'functions/chat-stream.ts',
  export: 'functions/export.ts',
};
export const AUTHORIZER_ENTRY = 'functions/authorizer.ts';

export function routeKey(route: Pick<RouteDefinition, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

/** Public and session routes answer CORS preflights for any origin (docs/api.md "CORS on public and session routes"). */
export function isBrowserFacing(route: RouteDefinition): boolean {
  return route.auth === 'apiKey' || route.auth === 'session';
}

const matchers = ROUTES.map((route) => ({
  route,
  names: [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
  regex: new RegExp(`^${route.path.replace(/\{\w+\}/g, '([^/]+)')}$`),
}));

export type RouteMatch =
  | { kind: 'found'; route: RouteDefinition; params: Record<string, string> }
  | { kind: 'method-not-allowed'; methods: string[] }
  | { kind: 'not-found' };

/** Resolve a concrete path like API Gateway does. Used by the local runtime. */
export function matchRoute(method: string, path: string): RouteMatch {
  const candidates = matchers.filter((m) => m.regex.test(path));
  if (candidates.length === 0) return { kind: 'not-found' };
  const hit = candidates.find((m) => m.route.method === method);
  if (!hit) return { kind: 'method-not-allowed', methods: candidates.map((m) => m.route.method) };
  const values = hit.regex.exec(path)!.slice(1);
  const params: Record<string, string> = {};
  hit.names.forEach((name, i) => {
    params[name] = decodeURIComponent(values[i] as string);
  });
  return { kind: 'found', route: hit.route, params };
}

/** Every route whose path pattern matches a concrete path (all methods). */
export function routesOnPath(path: string): RouteDefinition[] {
  return matchers.filter((m) => m.regex.test(path)).map((m) => m.route);
}

/** Whether a route answers in OpenAI's formats (its errors and rate-limit headers). */
export function speaksOpenAi(route: Pick<RouteDefinition, 'errors'> | undefined): boolean {
  return route?.errors === 'openai';
}

export function findRoute(method: string, resource: string): RouteDefinition | undefined {
  return ROUTES.find((r) => r.method === method && r.path === resource);
}
