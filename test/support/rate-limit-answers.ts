// What a rate-limited answer looks like (docs/api.md "Rate limits"), spelled out from the contract
// rather than built by the code under test.
import { expect } from 'vitest';
import { ApiError } from '../../shared/domain/errors.ts';

/** The X-RateLimit-* headers of an answer (the window that binds: its limit, what remains, when it resets). */
export function rateHeaders(limit: number, remaining: number, reset: number): Record<string, string> {
  return { 'X-RateLimit-Limit': String(limit), 'X-RateLimit-Remaining': String(remaining), 'X-RateLimit-Reset': String(reset) };
}

/** The contract 429: its body, Retry-After, and the headers of the full window that binds. */
export function expect429(error: ApiError, retryAfter: number, limit: number, reset: number): void {
  expect(error).toBeInstanceOf(ApiError);
  expect(error.status).toBe(429);
  expect(error.toBody()).toEqual({
    error: 'rate_limit_exceeded',
    message: `Rate limit exceeded. Try again in ${retryAfter} seconds.`,
    code: 'RATE_LIMIT_EXCEEDED',
    retry_after: retryAfter,
  });
  expect(error.headers).toEqual({ 'Retry-After': String(retryAfter), ...rateHeaders(limit, 0, reset) });
}
