// What the widget says for each failure (docs/api.md "Errors" and "Chat widget"): the API's errors as the
// chat client raises them, and the action the panel offers.
import { describe, expect, it } from 'vitest';
import { ReplyStreamError } from '../../web/api/chat.ts';
import { ApiClientError, apiUrl } from '../../web/api/http.ts';
import { describeFailure } from '../../web/widget/failures.ts';

const ORIGIN = 'https://shop.example';

function apiError(status: number, code: string, message: string, retryAfter?: number): ApiClientError {
  return new ApiClientError(status, code, message, { error: 'x', code, message }, retryAfter);
}

describe('describeFailure', () => {
  it('a refused origin names the origin to add, and shows the API message', () => {
    const failure = describeFailure(apiError(403, 'CORS_ORIGIN_NOT_ALLOWED', 'Origin not allowed'), ORIGIN);
    expect(failure.text).toBe(
      'This chat is not enabled on https://shop.example. If this is your website, add https://shop.example to the allowed domains of the widget key.',
    );
    expect(failure.detail).toBe('Origin not allowed');
    expect(failure.action).toBe('none');
  });

  it('invalid or revoked, disabled and expired keys each say what happened', () => {
    expect(describeFailure(apiError(401, 'INVALID_API_KEY', 'Invalid or missing API key'), ORIGIN)).toMatchObject({
      text: expect.stringContaining('mistyped or has been revoked'),
      detail: 'Invalid or missing API key',
      action: 'none',
    });
    expect(describeFailure(apiError(401, 'API_KEY_DISABLED', 'API key is disabled'), ORIGIN).text).toContain('its key is disabled');
    expect(describeFailure(apiError(401, 'API_KEY_EXPIRED', 'API key has expired'), ORIGIN).text).toContain('key has expired');
  });

  it('no credits (402)', () => {
    expect(describeFailure(apiError(402, 'INSUFFICIENT_CREDITS', 'No credits left'), ORIGIN)).toMatchObject({
      text: 'This chat has run out of credits, so it cannot reply right now.',
      action: 'none',
    });
  });

  it('rate limited: the wait from Retry-After, and Retry', () => {
    expect(describeFailure(apiError(429, 'RATE_LIMIT_EXCEEDED', 'Rate limit exceeded. Try again in 42 seconds.', 42), ORIGIN)).toEqual({
      text: 'Too many messages right now. Try again in 42 seconds.',
      action: 'retry',
    });
    expect(describeFailure(apiError(429, 'RATE_LIMIT_EXCEEDED', 'x', 1), ORIGIN).text).toBe('Too many messages right now. Try again in 1 second.');
  });

  it('an ended session offers a new conversation', () => {
    for (const code of ['SESSION_ENDED', 'INVALID_TOKEN']) {
      expect(describeFailure(apiError(401, code, 'Session ended'), ORIGIN)).toMatchObject({ text: 'This conversation has ended.', action: 'new-conversation' });
    }
  });

  it('network down, a failure midway and a dropped stream offer Retry', () => {
    expect(describeFailure(new ApiClientError(0, 'NETWORK_ERROR', 'unreachable'), ORIGIN)).toMatchObject({ action: 'retry', text: expect.stringContaining('could not be reached') });
    expect(describeFailure(new ReplyStreamError('SERVICE_UNAVAILABLE', 'The model is unavailable', 'You '), ORIGIN)).toEqual({
      text: 'The reply failed before it was complete. You were not charged for it.',
      detail: 'The model is unavailable',
      action: 'retry',
    });
    expect(describeFailure(new ReplyStreamError('NETWORK_ERROR', 'lost', 'You '), ORIGIN)).toMatchObject({ action: 'retry', text: expect.stringContaining('connection was lost') });
  });

  it('anything else shows the API message; server errors offer Retry', () => {
    expect(describeFailure(apiError(503, 'SERVICE_UNAVAILABLE', 'Try later'), ORIGIN)).toMatchObject({ detail: 'Try later', action: 'retry' });
    expect(describeFailure(apiError(404, 'NOT_FOUND', 'Session not found'), ORIGIN)).toMatchObject({ detail: 'Session not found', action: 'none' });
    expect(describeFailure(new Error('boom'), ORIGIN).action).toBe('retry');
  });
});

describe('apiUrl (web/api/http.ts)', () => {
  it("keeps the base URL's path: an API Gateway stage", () => {
    expect(apiUrl('https://abc.execute-api.eu-west-1.amazonaws.com/prod/', '/v1/chat/sessions').href).toBe(
      'https://abc.execute-api.eu-west-1.amazonaws.com/prod/v1/chat/sessions',
    );
    expect(apiUrl('https://abc.execute-api.eu-west-1.amazonaws.com/prod', '/v1/x?limit=100&cursor=a%2Fb').href).toBe(
      'https://abc.execute-api.eu-west-1.amazonaws.com/prod/v1/x?limit=100&cursor=a%2Fb',
    );
  });

  it('works on a bare origin', () => {
    expect(apiUrl('http://localhost:3000', '/v1/auth/whoami').href).toBe('http://localhost:3000/v1/auth/whoami');
  });
});
