// Which window binds, the X-RateLimit-* headers, Retry-After and the 429 body (docs/api.md 4, 5).
import { describe, expect, it } from 'vitest';
import {
  appliedLimits,
  bindingWindow,
  rateLimitExceeded,
  rateLimitHeaders,
  rateLimitMessage,
  retryAfterSeconds,
  type WindowCount,
} from '../../shared/limits/headers.ts';
import { dayWindow, minuteWindow } from '../../shared/limits/windows.ts';
import { expect429, rateHeaders } from '../support/rate-limit-answers.ts';

const NOW = new Date('2031-03-04T10:20:30.250Z');
const minute = minuteWindow(NOW);
const MINUTE_END = Date.parse('2031-03-04T10:21:00Z') / 1000;
const day = dayWindow(NOW); // resets at midnight

const w = (scope: 'org' | 'key', window: typeof minute, limit: number, used: number): WindowCount => ({ scope, window, limit, used });

describe('bindingWindow', () => {
  it('is the window with the fewest requests remaining', () => {
    expect(bindingWindow([w('org', minute, 10, 3), w('org', day, 1000, 995)])).toEqual(w('org', day, 1000, 995));
    expect(bindingWindow([w('org', minute, 10, 3), w('org', day, 1000, 3), w('key', minute, 5, 4)])).toEqual(w('key', minute, 5, 4));
  });

  it('on a tie, the one that resets last', () => {
    expect(bindingWindow([w('org', minute, 10, 8), w('org', day, 1000, 998)]).window).toBe(day);
    expect(bindingWindow([w('org', day, 1000, 998), w('org', minute, 10, 8)]).window).toBe(day);
  });

  it('on a tie of remaining and reset, the smaller limit', () => {
    expect(bindingWindow([w('org', minute, 10, 8), w('key', minute, 5, 3)])).toEqual(w('key', minute, 5, 3));
  });

  it('counts an over-full window as zero remaining', () => {
    expect(bindingWindow([w('org', minute, 10, 12), w('org', day, 1000, 1000)]).window).toBe(day);
  });
});

describe('rateLimitHeaders', () => {
  it('Limit, Remaining and Reset (Unix seconds) of the binding window', () => {
    expect(rateLimitHeaders([w('org', minute, 10, 1), w('org', day, 1000, 1)])).toEqual(rateHeaders(10, 9, MINUTE_END));
  });
});

describe('retryAfterSeconds', () => {
  it('whole seconds, rounded up, until the full window resets', () => {
    expect(retryAfterSeconds([w('org', minute, 10, 10), w('org', day, 1000, 10)], NOW)).toBe(30);
  });

  it('waits for the last of several full windows', () => {
    expect(retryAfterSeconds([w('org', minute, 10, 10), w('org', day, 10, 10)], NOW)).toBe(Math.ceil((Date.parse('2031-03-05T00:00:00Z') - NOW.getTime()) / 1000));
  });

  it('is at least one second', () => {
    expect(retryAfterSeconds([w('org', minuteWindow(new Date('2031-03-04T10:20:59.999Z')), 1, 1)], new Date('2031-03-04T10:21:00.500Z'))).toBe(1);
  });
});

describe('rateLimitExceeded', () => {
  it('is the contract 429: body, Retry-After and X-RateLimit-* headers', () => {
    const error = rateLimitExceeded([w('org', minute, 10, 10), w('org', day, 1000, 10)], NOW);
    expect429(error, 30, 10, MINUTE_END);
  });

  it('the message is exactly the contract sentence', () => {
    expect(rateLimitMessage(1)).toBe('Rate limit exceeded. Try again in 1 seconds.');
  });
});

describe('appliedLimits', () => {
  it('keeps only the limits a key actually sets', () => {
    expect(appliedLimits({ perMinute: 10, perDay: 1000 }, null)).toEqual({ org: { perMinute: 10, perDay: 1000 }, key: {} });
    expect(appliedLimits({ perMinute: 10, perDay: 1000 }, { perDay: 5 })).toEqual({ org: { perMinute: 10, perDay: 1000 }, key: { perDay: 5 } });
  });
});
