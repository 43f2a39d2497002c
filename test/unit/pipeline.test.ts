// The request pipeline's order: an authenticated caller's request is admitted (counted) before its
// body is parsed, so a malformed or oversized body still counts and carries X-RateLimit-* headers.
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../shared/domain/errors.ts';
import { toAuthorizerContext } from '../../shared/domain/key-identity.ts';
import { createApiHandler } from '../../shared/http/pipeline.ts';
import { json } from '../../shared/http/response.ts';
import { ROUTES, routeKey } from '../../shared/routes.ts';

const LIMIT_HEADERS = { 'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '9', 'X-RateLimit-Reset': '1780000000' };

function replyApiHandler() {
  const admit = vi.fn(async () => LIMIT_HEADERS);
  const handlers = Object.fromEntries(
    ROUTES.filter((r) => r.function === 'chatStream').map((r) => [routeKey(r), async () => json(200, { ok: true })]),
  );
  return { admit, handler: createApiHandler('chatStream', handlers, { admit }) };
}

function event(body: string): APIGatewayProxyEvent {
  return {
    resource: '/v1/chat/message',
    path: '/v1/chat/message',
    httpMethod: 'POST',
    headers: { 'X-API-Key': 'irrelevant: the authorizer already ran' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      requestId: 'req-1',
      authorizer: toAuthorizerContext({
        keyId: 'key_1',
        organizationId: 'org_1',
        type: 'secret',
        scopes: ['chat'],
        databaseId: null,
        origin: null,
        expiresAt: '2099-01-01T00:00:00.000Z',
        orgLimits: { perMinute: 10, perDay: 1000 },
        keyLimits: null,
        rejection: null,
      }),
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

describe('a public request with a bad body is counted', () => {
  it.each([
    ['invalid JSON', '{"message":', 400, 'VALIDATION_ERROR'],
    ['a body over 64 KiB', JSON.stringify({ message: 'x'.repeat(70_000) }), 413, 'PAYLOAD_TOO_LARGE'],
  ])('%s: admitted first, answered with the rate-limit headers', async (_, body, status, code) => {
    const { admit, handler } = replyApiHandler();
    const res = await handler(event(body));
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(res.body).code).toBe(code);
    expect(admit).toHaveBeenCalledTimes(1);
    expect(res.headers).toMatchObject(LIMIT_HEADERS);
  });
});

describe('prefetch', () => {
  it('starts once the caller is authenticated, before admission is decided; a refused request never reaches the handler', async () => {
    const order: string[] = [];
    let decide: () => void = () => undefined;
    const admit = vi.fn(() => {
      order.push('admit started');
      return new Promise<Record<string, string>>((_resolve, reject) => {
        decide = () => reject(new ApiError('RATE_LIMIT_EXCEEDED'));
      });
    });
    const prefetch = vi.fn(() => void order.push('prefetch'));
    const handled = vi.fn(async () => json(200, {}));
    const handlers = Object.fromEntries(ROUTES.filter((r) => r.function === 'chatStream').map((r) => [routeKey(r), handled]));
    const answered = createApiHandler('chatStream', handlers, { admit, prefetch })(event('{"message":"hi"}'));
    await vi.waitFor(() => expect(admit).toHaveBeenCalled());
    expect(order).toEqual(['prefetch', 'admit started']);
    decide();
    expect((await answered).statusCode).toBe(429);
    expect(handled).not.toHaveBeenCalled();
  });

  it('is not started for a caller that is not authenticated', async () => {
    const prefetch = vi.fn();
    const handlers = Object.fromEntries(ROUTES.filter((r) => r.function === 'chatStream').map((r) => [routeKey(r), async () => json(200, {})]));
    const rejected = event('{}');
    rejected.requestContext.authorizer = toAuthorizerContext({ keyId: 'key_1', organizationId: 'org_1', type: 'secret', scopes: [], databaseId: null, origin: null, expiresAt: '2099-01-01T00:00:00.000Z', orgLimits: { perMinute: 10, perDay: 1000 }, keyLimits: null, rejection: 'INVALID_API_KEY' });
    const res = await createApiHandler('chatStream', handlers, { admit: async () => ({}), prefetch })(rejected);
    expect(res.statusCode).toBe(401);
    expect(prefetch).not.toHaveBeenCalled();
  });
});
