// Which limits apply to a request, which of them binds, and how that is told to the client
// (docs/api.md "Errors" and "Rate limits and credits"). Pure: counts come in, headers and the 429 error come out.
import { ApiError } from '../domain/errors.ts';
import type { Limits } from '../domain/plans.ts';
import type { Window } from './windows.ts';

export type LimitScope = 'org' | 'key';

/** One counted window of one subject: its limit and how many requests it has admitted. */
export interface WindowCount {
  scope: LimitScope;
  window: Window;
  limit: number;
  /** Admitted requests in the window, this one included when it was admitted. */
  used: number;
}

export function remaining(w: WindowCount): number {
  return Math.max(0, w.limit - w.used);
}

export function isExhausted(w: WindowCount): boolean {
  return w.used >= w.limit;
}

/** The limits that apply: the organization's always, the key's own where it sets one. */
export interface AppliedLimits {
  org: Limits;
  key: Partial<Limits>;
}

export function appliedLimits(orgLimits: Limits, keyLimits: Partial<Limits> | null | undefined): AppliedLimits {
  const key: Partial<Limits> = {};
  if (typeof keyLimits?.perMinute === 'number') key.perMinute = keyLimits.perMinute;
  if (typeof keyLimits?.perDay === 'number') key.perDay = keyLimits.perDay;
  return { org: { perMinute: orgLimits.perMinute, perDay: orgLimits.perDay }, key };
}

/**
 * The window the X-RateLimit-* headers describe: the fewest requests remaining; on a tie the one
 * that resets last (it keeps the client waiting longest), then the smaller limit.
 */
export function bindingWindow(windows: readonly WindowCount[]): WindowCount {
  if (windows.length === 0) throw new Error('bindingWindow needs at least one window');
  return windows.reduce((best, w) => {
    const byRemaining = remaining(w) - remaining(best);
    if (byRemaining !== 0) return byRemaining < 0 ? w : best;
    if (w.window.resetAt !== best.window.resetAt) return w.window.resetAt > best.window.resetAt ? w : best;
    return w.limit < best.limit ? w : best;
  });
}

export function rateLimitHeaders(windows: readonly WindowCount[]): Record<string, string> {
  const w = bindingWindow(windows);
  return {
    'X-RateLimit-Limit': String(w.limit),
    'X-RateLimit-Remaining': String(remaining(w)),
    'X-RateLimit-Reset': String(w.window.resetAt),
  };
}

/**
 * Whole seconds until a rejected request can succeed: when the last of the exhausted windows
 * resets (a full day window outlasts a full minute window). Never less than 1.
 */
export function retryAfterSeconds(windows: readonly WindowCount[], now: Date): number {
  const exhausted = windows.filter(isExhausted);
  const resetAt = Math.max(...(exhausted.length ? exhausted : windows).map((w) => w.window.resetAt));
  return Math.max(1, Math.ceil(resetAt - now.getTime() / 1000));
}

export function rateLimitMessage(seconds: number): string {
  return `Rate limit exceeded. Try again in ${seconds} seconds.`;
}

/** The 429 for a request that one or more windows refused; nothing was counted for it. */
export function rateLimitExceeded(windows: readonly WindowCount[], now: Date): ApiError {
  const retryAfter = retryAfterSeconds(windows, now);
  return new ApiError(
    'RATE_LIMIT_EXCEEDED',
    rateLimitMessage(retryAfter),
    { retry_after: retryAfter },
    { ...rateLimitHeaders(windows), 'Retry-After': String(retryAfter) },
  );
}
