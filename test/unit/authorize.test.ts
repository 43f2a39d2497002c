// The authorizer's pure rules: which verdict a stored key earns, and how API Gateway delivers it.
import { describe, expect, it } from 'vitest';
import { gatewayAction, judge, presentedKey, requestedDatabase, type StoredKey } from '../../shared/domain/authorize.ts';
import { findRoute } from '../../shared/routes.ts';

const now = new Date('2026-06-01T00:00:00Z');
const whoami = findRoute('GET', '/v1/auth/whoami');
const exportRoute = findRoute('GET', '/api/export');

function stored(overrides: Partial<StoredKey> = {}): StoredKey {
  return {
    id: 'key_1',
    keyHash: 'h',
    organizationId: 'org_1',
    type: 'secret',
    status: 'active',
    expiresAt: '2027-01-01T00:00:00Z',
    allowedDomains: [],
    databaseId: null,
    scopes: ['chat', 'export'],
    rateLimit: null,
    orgLimits: { perMinute: 10, perDay: 1000 },
    ...overrides,
  };
}

const presented = (over: Partial<Parameters<typeof judge>[1]> = {}) => ({
  keyHash: 'h',
  origin: undefined,
  database: undefined,
  route: whoami,
  ...over,
});

describe('judge', () => {
  it.each([
    ['no stored key', undefined, presented(), 'INVALID_API_KEY'],
    ['a hash mismatch', stored(), presented({ keyHash: 'other' }), 'INVALID_API_KEY'],
    ['a revoked key', stored({ status: 'revoked' }), presented(), 'INVALID_API_KEY'],
    ['an unknown route', stored(), presented({ route: undefined }), 'INVALID_API_KEY'],
    ['an expired key', stored({ expiresAt: '2026-06-01T00:00:00Z' }), presented(), 'API_KEY_EXPIRED'],
    ['a disabled key', stored({ status: 'disabled' }), presented(), 'API_KEY_DISABLED'],
    ['a missing scope', stored({ scopes: ['chat'] }), presented({ route: exportRoute }), 'INSUFFICIENT_PERMISSIONS'],
    ['another database', stored({ databaseId: 'db_A' }), presented({ database: 'db_B' }), 'INSUFFICIENT_PERMISSIONS'],
    ['a publishable key with no origin', stored({ type: 'publishable' }), presented(), 'CORS_ORIGIN_NOT_ALLOWED'],
    [
      'an expired publishable key from a foreign origin (origin first)',
      stored({ type: 'publishable', expiresAt: '2020-01-01T00:00:00Z', allowedDomains: ['a.com'] }),
      presented({ origin: 'https://b.com' }),
      'CORS_ORIGIN_NOT_ALLOWED',
    ],
  ])('%s -> %s', (_, key, request, code) => {
    expect(judge(key, request, now)).toEqual({ ok: false, code });
  });

  it('allows and passes the identity, with the origin only for publishable keys', () => {
    const secret = judge(stored(), presented({ origin: 'https://a.com' }), now);
    expect(secret).toMatchObject({ ok: true, identity: { keyId: 'key_1', origin: null, rejection: null } });
    const pub = judge(stored({ type: 'publishable', allowedDomains: ['a.com'] }), presented({ origin: 'https://x.a.com' }), now);
    expect(pub).toMatchObject({ ok: true, identity: { origin: 'https://x.a.com' } });
  });
});

describe('gatewayAction: which answers the gateway gives and which the function gives', () => {
  it.each([
    ['INVALID_API_KEY', 'secret', 'unauthorized'],
    ['INSUFFICIENT_PERMISSIONS', 'secret', 'deny'],
    ['INSUFFICIENT_PERMISSIONS', 'publishable', 'allow'],
    ['API_KEY_EXPIRED', 'secret', 'allow'],
    ['API_KEY_DISABLED', 'publishable', 'allow'],
  ] as const)('%s for a %s key -> %s', (code, type, action) => {
    const result = gatewayAction({ ok: false, code }, stored({ type }), 'https://a.com');
    expect(result.action).toBe(action);
    if (result.action === 'allow') expect(result.identity.rejection).toBe(code);
  });
});

describe('gatewayAction for a refused origin (docs/api.md "Keys": the page can read its 403)', () => {
  it.each([
    ['https://evil.example', 'allow'],
    ['http://shop.example:8443', 'allow'],
    [undefined, 'deny'],
    ['', 'deny'],
    ['null', 'deny'],
    ['not an origin', 'deny'],
  ] as const)('Origin %j -> %s', (origin, action) => {
    const result = gatewayAction({ ok: false, code: 'CORS_ORIGIN_NOT_ALLOWED' }, stored({ type: 'publishable' }), origin);
    expect(result.action).toBe(action);
    if (result.action === 'allow') {
      // The function answers, echoing exactly that origin.
      expect(result.identity).toMatchObject({ rejection: 'CORS_ORIGIN_NOT_ALLOWED', origin });
    } else {
      expect(result).toEqual({ action: 'deny', code: 'CORS_ORIGIN_NOT_ALLOWED' });
    }
  });
});

describe('gatewayAction on the OpenAI-compatible routes: the function answers every refusal (OpenAI\'s body)', () => {
  const completions = findRoute('POST', '/v1/chat/completions');
  it.each([
    ['INVALID_API_KEY', 'secret', 'https://a.com', 'https://a.com'],
    ['INSUFFICIENT_PERMISSIONS', 'secret', 'https://a.com', null],
    ['CORS_ORIGIN_NOT_ALLOWED', 'publishable', undefined, null],
    ['CORS_ORIGIN_NOT_ALLOWED', 'publishable', 'null', null],
    ['CORS_ORIGIN_NOT_ALLOWED', 'publishable', 'https://evil.example', 'https://evil.example'],
    ['API_KEY_EXPIRED', 'secret', undefined, null],
  ] as const)('%s for a %s key from %j -> allow with the refusal, CORS origin %j', (code, type, origin, cors) => {
    const result = gatewayAction({ ok: false, code }, stored({ type }), origin, completions);
    expect(result.action).toBe('allow');
    if (result.action !== 'allow') return;
    expect(result.identity.rejection).toBe(code);
    // Only a refused real Origin, or a missing key (as the gateway's own 401), is echoed.
    if (code !== 'INVALID_API_KEY') expect(result.identity.type === 'publishable' ? result.identity.origin : null).toBe(cors);
    else expect(result.identity.origin).toBe(cors);
  });

  it('no stored key at all: allowed with only the refusal, no key or organization', () => {
    const result = gatewayAction({ ok: false, code: 'INVALID_API_KEY' }, undefined, undefined, completions);
    expect(result).toMatchObject({ action: 'allow', identity: { keyId: '', organizationId: '', rejection: 'INVALID_API_KEY', origin: null } });
  });

  it('other routes keep the gateway answers', () => {
    expect(gatewayAction({ ok: false, code: 'INVALID_API_KEY' }, undefined, undefined, whoami).action).toBe('unauthorized');
    expect(gatewayAction({ ok: false, code: 'INSUFFICIENT_PERMISSIONS' }, stored(), undefined, whoami).action).toBe('deny');
  });
});

describe('reading the request', () => {
  it.each([
    [{ 'x-api-key': ' sk_1 ' }, 'sk_1'],
    [{ authorization: 'Bearer sk_2' }, 'sk_2'],
    [{ authorization: 'bearer   sk_3' }, 'sk_3'],
    [{ 'x-api-key': 'sk_4', authorization: 'Bearer sk_5' }, 'sk_4'],
    [{ authorization: 'Basic sk_6' }, undefined],
    [{}, undefined],
  ])('%j -> %s', (headers, key) => {
    expect(presentedKey(headers)).toBe(key);
  });

  it('finds a requested database in the header or the query', () => {
    expect(requestedDatabase({ 'x-database-id': 'db_1' }, null)).toBe('db_1');
    expect(requestedDatabase({}, { databaseId: 'db_2' })).toBe('db_2');
    expect(requestedDatabase({}, null)).toBeUndefined();
  });
});
