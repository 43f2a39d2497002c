// The responses API Gateway itself gives (authorizer rejections, unknown routes, its own failures),
// written once. The CDK API construct turns each into a GatewayResponse; the local runtime renders
// the very same definitions, so both answer byte for byte alike.
//
// API Gateway limits what these can do: the status is fixed per response type, the template is plain
// `$context` substitution (no VTL logic), and headers come only from request parameters or literals.
// That is why the authorizer answers at the gateway only where a static status fits (see
// functions/authorizer.ts): 401 INVALID_API_KEY, and 403 deny whose body comes from the
// authorizer's context.
import { ERRORS, type ErrorCode } from './domain/errors.ts';
import { CORS_EXPOSE_HEADERS } from './http/cors.ts';

export type GatewayResponseType =
  | 'UNAUTHORIZED'
  | 'ACCESS_DENIED'
  | 'AUTHORIZER_FAILURE'
  | 'AUTHORIZER_CONFIGURATION_ERROR'
  | 'MISSING_AUTHENTICATION_TOKEN'
  | 'RESOURCE_NOT_FOUND'
  | 'REQUEST_TOO_LARGE'
  | 'THROTTLED'
  | 'INTEGRATION_FAILURE'
  | 'INTEGRATION_TIMEOUT'
  | 'DEFAULT_4XX'
  | 'DEFAULT_5XX';

export interface GatewayResponseDefinition {
  type: GatewayResponseType;
  status: number;
  /** application/json template; `$context.*` variables are substituted by API Gateway. */
  template: string;
  /** Literal response headers (values without API Gateway's surrounding quotes). */
  headers?: Record<string, string>;
  /**
   * Echo the request's Origin in Access-Control-Allow-Origin (and expose Retry-After and the rest of
   * CORS_EXPOSE_HEADERS), so a browser can read the error.
   * Only for responses given before a key was accepted: a gateway response cannot tell a secret key
   * from a publishable one, and secret-key responses must never be readable cross-origin.
   */
  echoOrigin: boolean;
}

function fixed(code: ErrorCode, extra = ''): string {
  const { error, message } = ERRORS[code];
  return `{"error":"${error}","message":"${message}","code":"${code}"${extra}}`;
}

const REQUEST_ID = ',"requestId":"$context.requestId"';

/** 503 SERVICE_UNAVAILABLE with Retry-After: a dependency of the gateway's is down. */
function unavailable(type: GatewayResponseType, echoOrigin: boolean): GatewayResponseDefinition {
  return { type, status: 503, template: fixed('SERVICE_UNAVAILABLE'), headers: { 'Retry-After': '1' }, echoOrigin };
}

/**
 * Context keys the authorizer sets on a deny, read by the ACCESS_DENIED template. Not `error`:
 * `$context.authorizer.error` is API Gateway's own variable (the authorizer's error message).
 */
export const DENY_CONTEXT = { error: 'denyError', message: 'denyMessage', code: 'denyCode' } as const;

export const GATEWAY_RESPONSES: readonly GatewayResponseDefinition[] = [
  // The authorizer threw "Unauthorized": missing, malformed, unknown or revoked key.
  { type: 'UNAUTHORIZED', status: 401, template: fixed('INVALID_API_KEY'), echoOrigin: true },
  // The authorizer denied with a reason in its context. Never readable cross-origin: it is used for
  // secret keys, which must never carry CORS headers, and for publishable keys sent with no Origin
  // (or `null`). A refused real Origin is answered by the function instead, echoing that origin.
  {
    type: 'ACCESS_DENIED',
    status: 403,
    template:
      `{"error":"$context.authorizer.${DENY_CONTEXT.error}","message":"$context.authorizer.${DENY_CONTEXT.message}","code":"$context.authorizer.${DENY_CONTEXT.code}"}`,
    echoOrigin: false,
  },
  // The authorizer could not decide (DynamoDB down, timeout): fail closed.
  unavailable('AUTHORIZER_FAILURE', true),
  unavailable('AUTHORIZER_CONFIGURATION_ERROR', true),
  // REST APIs answer unknown paths and methods with MISSING_AUTHENTICATION_TOKEN.
  { type: 'MISSING_AUTHENTICATION_TOKEN', status: 404, template: fixed('NOT_FOUND'), echoOrigin: true },
  { type: 'RESOURCE_NOT_FOUND', status: 404, template: fixed('NOT_FOUND'), echoOrigin: true },
  { type: 'REQUEST_TOO_LARGE', status: 413, template: fixed('PAYLOAD_TOO_LARGE'), echoOrigin: true },
  {
    type: 'THROTTLED',
    status: 429,
    template: '{"error":"rate_limit_exceeded","message":"Rate limit exceeded. Try again in 1 seconds.","code":"RATE_LIMIT_EXCEEDED","retry_after":1}',
    headers: { 'Retry-After': '1' },
    echoOrigin: false,
  },
  // The function failed or timed out after the key was accepted: no CORS (see echoOrigin).
  unavailable('INTEGRATION_FAILURE', false),
  unavailable('INTEGRATION_TIMEOUT', false),
  { type: 'DEFAULT_4XX', status: 400, template: fixed('VALIDATION_ERROR'), echoOrigin: true },
  { type: 'DEFAULT_5XX', status: 500, template: fixed('INTERNAL_ERROR', REQUEST_ID), echoOrigin: false },
];

export function gatewayResponse(type: GatewayResponseType): GatewayResponseDefinition {
  const found = GATEWAY_RESPONSES.find((r) => r.type === type);
  if (!found) throw new Error(`No gateway response ${type}`);
  return found;
}

export interface RenderedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * What API Gateway sends for a gateway response: the template with `$context` substituted.
 * The local runtime uses this; a test checks it against the synthesized template.
 */
export function renderGatewayResponse(
  type: GatewayResponseType,
  context: { requestId: string; origin?: string; authorizer?: Record<string, string> },
): RenderedResponse {
  const def = gatewayResponse(type);
  const body = def.template.replace(/\$context\.([A-Za-z.]+)/g, (_, name: string) => {
    if (name === 'requestId') return context.requestId;
    if (name.startsWith('authorizer.')) return context.authorizer?.[name.slice('authorizer.'.length)] ?? '';
    return '';
  });
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...def.headers };
  if (def.echoOrigin && context.origin) {
    headers['Access-Control-Allow-Origin'] = context.origin;
    headers['Access-Control-Expose-Headers'] = CORS_EXPOSE_HEADERS;
    headers['Vary'] = 'Origin';
  }
  return { status: def.status, headers, body };
}
