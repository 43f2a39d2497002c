// CORS on public and session routes (docs/api.md "CORS on public and session routes"), as constants both the stack's OPTIONS
// mock integrations and the local runtime use.
// Idempotency-Key lets a page retry a message without paying twice; X-Database-Id names a database.
export const CORS_ALLOW_HEADERS = 'Content-Type, X-API-Key, Authorization, Idempotency-Key, X-Database-Id';
export const CORS_MAX_AGE_SECONDS = 600;
/**
 * Response headers a page may read besides the CORS-safelisted ones: its rate-limit window, how long
 * to wait (429, 409 in progress, 503), and whether a reply is a replay of an Idempotency-Key
 * (docs/api.md "Rate limits and credits"). Sent wherever a response carries Access-Control-Allow-Origin.
 */
export const CORS_EXPOSE_HEADERS = 'X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, Idempotent-Replayed';

/** The OpenAI-compatible routes also expose OpenAI's rate-limit headers (docs/openai.md). */
export const OPENAI_EXPOSE_HEADERS = `${CORS_EXPOSE_HEADERS}, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens`;

/**
 * Preflights need no key: any origin may ask, and the answer echoes it. `requestHeaders` (the
 * OpenAI-compatible routes) echoes the request's Access-Control-Request-Headers, as the OpenAI SDKs
 * send headers of their own (x-stainless-*); none asked for: the fixed list.
 */
export function preflightHeaders(origin: string | undefined, methods: readonly string[], requestHeaders?: string): Record<string, string> {
  return {
    ...(origin ? { 'Access-Control-Allow-Origin': origin } : {}),
    'Access-Control-Allow-Methods': [...methods, 'OPTIONS'].join(', '),
    'Access-Control-Allow-Headers': requestHeaders?.trim() ? requestHeaders.trim() : CORS_ALLOW_HEADERS,
    'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
    Vary: 'Origin',
  };
}
