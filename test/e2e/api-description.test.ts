// GET /openapi.json (docs/api.md "API description"): served without credentials, a valid OpenAPI 3.1
// document (checked by a maintained validator), listing every route of docs/api.md with its
// security, parameters and errors. That real responses match it is checked on every call the
// end-to-end suite makes (test/support/api-description-check.ts).
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, startTestApi } from '../support/api.ts';

// Written from docs/api.md "Routes", "Local runtime" and "API description", not read from the route table.
const CONTRACT_ROUTES = [
  'POST /v1/organizations',
  'GET /v1/organizations',
  'GET /v1/organizations/{orgId}',
  'PATCH /v1/organizations/{orgId}',
  'POST /v1/organizations/{orgId}/credits',
  'GET /v1/organizations/{orgId}/members',
  'POST /v1/organizations/{orgId}/members',
  'PUT /v1/organizations/{orgId}/members/{userId}',
  'DELETE /v1/organizations/{orgId}/members/{userId}',
  'POST /v1/organizations/{orgId}/databases',
  'GET /v1/organizations/{orgId}/databases',
  'POST /v1/organizations/{orgId}/api-keys',
  'GET /v1/organizations/{orgId}/api-keys',
  'GET /v1/organizations/{orgId}/api-keys/{keyId}',
  'PATCH /v1/organizations/{orgId}/api-keys/{keyId}',
  'DELETE /v1/organizations/{orgId}/api-keys/{keyId}',
  'POST /v1/organizations/{orgId}/api-keys/{keyId}/roll',
  'GET /v1/organizations/{orgId}/api-keys/{keyId}/usage',
  'GET /v1/organizations/{orgId}/usage',
  'GET /v1/organizations/{orgId}/audit-log',
  'POST /v1/organizations/{orgId}/webhooks',
  'GET /v1/organizations/{orgId}/webhooks',
  'DELETE /v1/organizations/{orgId}/webhooks/{webhookId}',
  'POST /v1/organizations/{orgId}/webhooks/{webhookId}/test',
  'GET /v1/organizations/{orgId}/upstreams',
  'PATCH /v1/organizations/{orgId}/databases/{databaseId}',
  'POST /v1/organizations/{orgId}/assistants',
  'GET /v1/organizations/{orgId}/assistants',
  'GET /v1/organizations/{orgId}/assistants/{assistantId}',
  'PATCH /v1/organizations/{orgId}/assistants/{assistantId}',
  'DELETE /v1/organizations/{orgId}/assistants/{assistantId}',
  'GET /v1/auth/whoami',
  'POST /v1/chat/sessions',
  'POST /v1/chat/voice-sessions',
  'POST /v1/chat/message',
  'POST /api/v1/chat/message',
  'GET /api/export',
  'GET /v1/models',
  'POST /v1/chat/completions',
  'POST /v1/chat/sessions/{sessionId}/messages',
  'GET /v1/chat/sessions/{sessionId}/messages',
  'POST /v1/chat/sessions/{sessionId}/end',
  'GET /openapi.json',
  'POST /_dev/token',
];

let keygate: LocalKeygate;
let doc: any;
let res: Awaited<ReturnType<ApiClient['get']>>;

beforeAll(async () => {
  keygate = await startTestApi();
  res = await new ApiClient(keygate.url).get('/openapi.json');
  doc = res.body;
});
afterAll(async () => keygate?.stop());

const operations = () =>
  Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
  );

describe('GET /openapi.json', () => {
  it('answers 200 JSON without any credentials', () => {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(doc.openapi).toMatch(/^3\.1\./);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('lists every route of the API, and nothing else', () => {
    expect(operations().map((o) => o.key).sort()).toEqual([...CONTRACT_ROUTES].sort());
  });

  it('names the security of each kind of route', () => {
    const byKey = new Map(operations().map((o) => [o.key, o.op]));
    expect(byKey.get('GET /v1/auth/whoami').security).toEqual([{ ApiKeyHeader: [] }, { ApiKeyBearer: [] }]);
    expect(byKey.get('POST /v1/organizations').security).toEqual([{ PortalToken: [] }]);
    expect(byKey.get('GET /v1/chat/sessions/{sessionId}/messages').security).toEqual([{ SessionToken: [] }]);
    expect(byKey.get('GET /openapi.json').security).toEqual([]);
    expect(doc.components.securitySchemes.ApiKeyHeader).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }));
  });

  it('documents every error code of the catalogue, in the error format', () => {
    const codes = new Set<string>();
    for (const { op } of operations()) {
      for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
        if (Number(status) < 400) continue;
        const schema = response.content['application/json'].schema;
        // The OpenAI-compatible routes: OpenAI's body (`error.code`), or where API Gateway itself may answer, either.
        const shapes = schema.anyOf ?? [schema];
        for (const shape of shapes) {
          const listed = shape.allOf[1].properties.code?.enum ?? shape.allOf[1].properties.error.properties.code.enum;
          for (const code of listed) codes.add(code);
        }
      }
    }
    expect([...codes].sort()).toEqual(
      [
        'VALIDATION_ERROR', 'INVALID_API_KEY', 'API_KEY_EXPIRED', 'API_KEY_DISABLED', 'INVALID_TOKEN', 'SESSION_ENDED',
        'INSUFFICIENT_CREDITS', 'CORS_ORIGIN_NOT_ALLOWED', 'INSUFFICIENT_PERMISSIONS', 'NOT_FOUND', 'CONFLICT',
        'PAYLOAD_TOO_LARGE', 'RATE_LIMIT_EXCEEDED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE',
      ].sort(),
    );
    expect(doc.components.schemas.Error.required).toEqual(expect.arrayContaining(['error', 'message', 'code']));
  });

  it('describes request bodies from the validation schemas, with examples', () => {
    const create = doc.paths['/v1/organizations/{orgId}/api-keys'].post.requestBody.content['application/json'];
    expect(create.schema.required).toEqual(expect.arrayContaining(['name', 'type']));
    expect(create.schema.properties.type.enum).toEqual(['secret', 'publishable', 'widget']);
    expect(create.schema.properties.name.maxLength).toBe(50);
    expect(create.schema.properties.expiresInDays).toEqual(expect.objectContaining({ minimum: 1, maximum: 365 }));
    expect(create.example).toBeDefined();
    const oneShot = doc.paths['/api/v1/chat/message'].post;
    expect(oneShot.requestBody.content['application/json'].example).toEqual({ message: 'Show me sales data', conversation_id: 'conv-abc' });
    expect(oneShot.parameters.map((p: any) => p.name)).toContain('Idempotency-Key');
  });

  it('declares the rate-limit headers on counted responses and Retry-After on 429', () => {
    const whoami = doc.paths['/v1/auth/whoami'].get.responses;
    expect(Object.keys(whoami['200'].headers)).toEqual(['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']);
    expect(Object.keys(whoami['429'].headers)).toContain('Retry-After');
    expect(doc.paths['/v1/chat/sessions/{sessionId}/messages'].post.responses['200'].content).toHaveProperty('text/event-stream');
  });

  it('declares Idempotent-Replayed on replies and Retry-After on their 409 (key still in progress)', () => {
    for (const [path, op] of [
      ['/v1/chat/sessions/{sessionId}/messages', doc.paths['/v1/chat/sessions/{sessionId}/messages'].post],
      ['/v1/chat/message', doc.paths['/v1/chat/message'].post],
      ['/api/v1/chat/message', doc.paths['/api/v1/chat/message'].post],
    ]) {
      expect(Object.keys(op.responses['200'].headers), path).toEqual([
        'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Idempotent-Replayed',
      ]);
      expect(Object.keys(op.responses['409'].headers), path).toContain('Retry-After');
    }
    expect(doc.paths['/v1/auth/whoami'].get.responses['200'].headers).not.toHaveProperty('Idempotent-Replayed');
  });
});
