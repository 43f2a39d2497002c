// API keys from the outside: the key-management routes and the authorizer's answers over HTTP,
// byte for byte as the contract's error table says, with the CORS headers of docs/api.md "CORS on public and session routes".
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { db } from '../../shared/db/client.ts';
import { TABLES, tableName, type TableKey } from '../../shared/tables.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';

let keygate: LocalKeygate;
let owner: ApiClient;
let api: ApiClient;
let orgId: string;
const secrets: string[] = [];

const BODY_401 = { error: 'unauthorized', message: 'Invalid or missing API key', code: 'INVALID_API_KEY' };

async function createKey(body: Record<string, unknown>) {
  const res = await owner.post(`/v1/organizations/${orgId}/api-keys`, body);
  expect(res.status, res.text).toBe(201);
  if (res.body.type === 'secret') secrets.push(res.body.key);
  return res.body;
}

beforeAll(async () => {
  keygate = await startTestApi();
  owner = await portalUser(keygate.url, uniqueUser('owner'));
  api = new ApiClient(keygate.url);
  orgId = (await owner.post('/v1/organizations', { name: 'Keys Ltd' })).body.id;
});

afterAll(async () => {
  await keygate?.stop();
});

describe('creating keys', () => {
  it('returns a secret key once, in the contract format, and never again', async () => {
    const key = await createKey({ name: '  Backend  ', type: 'secret' });
    expect(key.key).toMatch(/^sk_[0-9A-Za-z]{38}$/);
    expect(key).toMatchObject({
      organizationId: orgId,
      name: 'Backend',
      type: 'secret',
      status: 'active',
      displayKey: key.key.slice(0, 8) + '\u2022'.repeat(8),
      allowedDomains: [],
      databaseId: null,
      scopes: ['chat', 'completions', 'export'],
      rateLimit: null,
      lastUsedAt: null,
      usageCount: 0,
    });
    const lifetime = Date.parse(key.expiresAt) - Date.parse(key.createdAt);
    expect(lifetime).toBe(365 * 86_400_000);
    const fetched = await owner.get(`/v1/organizations/${orgId}/api-keys/${key.id}`);
    expect(fetched.body.key).toBeUndefined();
    expect(fetched.text).not.toContain(key.key);
  });

  it('shows a publishable key to members any time, normalizes its domains and limits its scopes', async () => {
    const key = await createKey({
      name: 'Widget',
      type: 'widget',
      allowedDomains: 'MySite.com, https://App.Example.org/path?q=1, Bücher.example',
      expiresInDays: 30,
    });
    expect(key).toMatchObject({
      type: 'publishable',
      scopes: ['chat'],
      allowedDomains: ['mysite.com', 'https://app.example.org', 'xn--bcher-kva.example'],
    });
    expect(key.key).toMatch(/^pk_/);
    const fetched = await owner.get(`/v1/organizations/${orgId}/api-keys/${key.id}`);
    expect(fetched.body.key).toBe(key.key);
  });

  it.each([
    ['a missing name', { type: 'secret' }, 'name'],
    ['a 51-character name', { name: 'x'.repeat(51), type: 'secret' }, 'name'],
    ['a name with a control character', { name: 'bad\u0007name', type: 'secret' }, 'name'],
    ['an unknown type', { name: 'k', type: 'admin' }, 'type'],
    ['domains on a secret key', { name: 'k', type: 'secret', allowedDomains: ['a.com'] }, 'allowedDomains'],
    ['a public suffix', { name: 'k', type: 'publishable', allowedDomains: ['github.io'] }, 'allowedDomains[0]'],
    ['the export scope on a publishable key', { name: 'k', type: 'publishable', scopes: ['export'] }, 'scopes'],
    ['expiresInDays 0', { name: 'k', type: 'secret', expiresInDays: 0 }, 'expiresInDays'],
    ['expiresInDays 366', { name: 'k', type: 'secret', expiresInDays: 366 }, 'expiresInDays'],
    ['a database that does not exist', { name: 'k', type: 'publishable', databaseId: 'db_nope' }, 'databaseId'],
    ['a wrong-typed rateLimit', { name: 'k', type: 'secret', rateLimit: { perMinute: 'ten' } }, 'rateLimit.perMinute'],
    ['an unknown field', { name: 'k', type: 'secret', colour: 'red' }, 'body'],
  ])('refuses %s with 400 VALIDATION_ERROR naming the field', async (_, body, field) => {
    const res = await owner.post(`/v1/organizations/${orgId}/api-keys`, body);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_error', code: 'VALIDATION_ERROR' });
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it.each([
    ['invalid JSON', '{"name":'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"hello"'],
  ])('refuses %s with 400', async (_, raw) => {
    const res = await owner.call('POST', `/v1/organizations/${orgId}/api-keys`, raw);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_ERROR');
  });

  it('refuses a body over 64 KiB with 413', async () => {
    const res = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'k', type: 'secret', pad: 'x'.repeat(70_000) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: 'payload_too_large', code: 'PAYLOAD_TOO_LARGE' });
  });
});

describe('listing keys', () => {
  let listOrg: string;
  beforeAll(async () => {
    listOrg = (await owner.post('/v1/organizations', { name: 'Many keys' })).body.id;
    for (let i = 0; i < 5; i++) {
      const res = await owner.post(`/v1/organizations/${listOrg}/api-keys`, { name: `s${i}`, type: i % 2 ? 'publishable' : 'secret' });
      if (res.body.type === 'secret') secrets.push(res.body.key);
    }
  });

  it('pages newest first with a cursor and shows displayKey, never a secret key', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: { name: string; key?: string; type: string }[]; nextCursor: string | null } } = await owner.get(
        `/v1/organizations/${listOrg}/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      for (const item of res.body.items) {
        seen.push(item.name);
        if (item.type === 'secret') expect(item.key).toBeUndefined();
      }
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['s4', 's3', 's2', 's1', 's0']);
  });

  it('filters by type and status', async () => {
    const pub = await owner.get(`/v1/organizations/${listOrg}/api-keys?type=widget`);
    expect(pub.body.items.map((k: { name: string }) => k.name)).toEqual(['s3', 's1']);
    const disabled = await owner.get(`/v1/organizations/${listOrg}/api-keys?status=disabled`);
    expect(disabled.body.items).toEqual([]);
  });

  const cursorOf = (position: object) => Buffer.from(JSON.stringify(position)).toString('base64url');

  it.each([
    'limit=0',
    'limit=101',
    'limit=abc',
    'status=revoked',
    'type=admin',
    'cursor=not-a-cursor',
    // Empty key attributes would make DynamoDB refuse ExclusiveStartKey.
    `cursor=${cursorOf({ id: '', createdAt: '' })}`,
    `cursor=${cursorOf({ id: 'key_x', createdAt: '' })}`,
  ])(
    'refuses %s with 400',
    async (query) => {
      const res = await owner.get(`/v1/organizations/${listOrg}/api-keys?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_ERROR');
    },
  );
});

describe('the authorizer over HTTP', () => {
  it('answers whoami for a secret key, with no CORS header even when an Origin is sent', async () => {
    const key = await createKey({ name: 'srv', type: 'secret' });
    const res = await api.get('/v1/auth/whoami', { 'X-API-Key': key.key, Origin: 'https://mysite.com' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      keyId: key.id,
      organizationId: orgId,
      type: 'secret',
      scopes: ['chat', 'completions', 'export'],
      databaseId: null,
      expiresAt: key.expiresAt,
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each([
    ['no key', {}],
    ['a malformed key', { 'X-API-Key': 'sk_nope' }],
    ['an unknown key', { Authorization: 'Bearer sk_' + '1'.repeat(32) + '000000' }],
  ])('401 INVALID_API_KEY for %s, readable by the calling page', async (_, headers) => {
    const res = await api.get('/v1/auth/whoami', { ...headers, Origin: 'https://mysite.com' });
    expect(res.status).toBe(401);
    expect(res.text).toBe(JSON.stringify(BODY_401));
    expect(res.headers.get('access-control-allow-origin')).toBe('https://mysite.com');
  });

  it('revoked: 401 INVALID_API_KEY on the very next request, and the key is gone from the API', async () => {
    const key = await createKey({ name: 'doomed', type: 'secret' });
    expect((await api.get('/v1/auth/whoami', { 'X-API-Key': key.key })).status).toBe(200);
    expect((await owner.delete(`/v1/organizations/${orgId}/api-keys/${key.id}`)).status).toBe(204);
    const after = await api.get('/v1/auth/whoami', { 'X-API-Key': key.key });
    expect(after.status).toBe(401);
    expect(after.body).toEqual(BODY_401);
    expect((await owner.get(`/v1/organizations/${orgId}/api-keys/${key.id}`)).status).toBe(404);
    expect((await owner.delete(`/v1/organizations/${orgId}/api-keys/${key.id}`)).status).toBe(404);
  });

  it('disabled: 401 API_KEY_DISABLED at once, and back to 200 when re-enabled', async () => {
    const key = await createKey({ name: 'toggle', type: 'secret' });
    await owner.patch(`/v1/organizations/${orgId}/api-keys/${key.id}`, { status: 'disabled' });
    const res = await api.get('/v1/auth/whoami', { 'X-API-Key': key.key });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: 'API key is disabled', code: 'API_KEY_DISABLED' });
    await owner.patch(`/v1/organizations/${orgId}/api-keys/${key.id}`, { status: 'active' });
    expect((await api.get('/v1/auth/whoami', { 'X-API-Key': key.key })).status).toBe(200);
  });

  it('rolled: the new key works, the old one until the grace period ends, then API_KEY_EXPIRED', async () => {
    const old = await createKey({ name: 'rolling', type: 'secret', expiresInDays: 10 });
    const rolled = await owner.post(`/v1/organizations/${orgId}/api-keys/${old.id}/roll`, { gracePeriodHours: 0 });
    expect(rolled.status, rolled.text).toBe(201);
    secrets.push(rolled.body.key);
    expect(rolled.body).toMatchObject({ name: 'rolling', type: 'secret', scopes: ['chat', 'completions', 'export'] });
    expect(rolled.body.key).not.toBe(old.key);
    expect(Date.parse(rolled.body.expiresAt) - Date.parse(rolled.body.createdAt)).toBe(10 * 86_400_000);
    expect((await api.get('/v1/auth/whoami', { 'X-API-Key': rolled.body.key })).status).toBe(200);
    const oldRes = await api.get('/v1/auth/whoami', { 'X-API-Key': old.key });
    expect(oldRes.status).toBe(401);
    expect(oldRes.body).toEqual({ error: 'unauthorized', message: 'API key has expired', code: 'API_KEY_EXPIRED' });
    const listed = await owner.get(`/v1/organizations/${orgId}/api-keys/${old.id}`);
    expect(listed.body.status).toBe('expired');
    // The old key names its replacement; the replacement has none.
    expect(listed.body.replacedBy).toBe(rolled.body.id);
    expect(rolled.body.replacedBy).toBeNull();
  });

  it('an expired key cannot be re-activated: PATCH {status:"active"} is 409 and the key stays expired', async () => {
    const old = await createKey({ name: 'lapsed', type: 'secret' });
    // Rolling with no grace period expires the old key now.
    const rolled = await owner.post(`/v1/organizations/${orgId}/api-keys/${old.id}/roll`, { gracePeriodHours: 0 });
    expect(rolled.status, rolled.text).toBe(201);
    secrets.push(rolled.body.key);
    const expiresAt = (await owner.get(`/v1/organizations/${orgId}/api-keys/${old.id}`)).body.expiresAt;

    const patched = await owner.patch(`/v1/organizations/${orgId}/api-keys/${old.id}`, { status: 'active' });
    expect(patched.status, patched.text).toBe(409);
    expect(patched.body).toMatchObject({ error: 'conflict', code: 'CONFLICT' });

    const after = await owner.get(`/v1/organizations/${orgId}/api-keys/${old.id}`);
    expect(after.body).toMatchObject({ status: 'expired', expiresAt });
    const res = await api.get('/v1/auth/whoami', { 'X-API-Key': old.key });
    expect(res.body).toEqual({ error: 'unauthorized', message: 'API key has expired', code: 'API_KEY_EXPIRED' });
  });

  it('roll never pushes an expiry later than it was', async () => {
    const old = await createKey({ name: 'short', type: 'secret', expiresInDays: 1 });
    await owner.post(`/v1/organizations/${orgId}/api-keys/${old.id}/roll`, { gracePeriodHours: 168 }).then((r) => secrets.push(r.body.key));
    const after = await owner.get(`/v1/organizations/${orgId}/api-keys/${old.id}`);
    expect(after.body.expiresAt).toBe(old.expiresAt);
  });

  it('publishable key: allowed origins and subdomains get the answer with CORS, others a readable 403', async () => {
    const key = await createKey({ name: 'web', type: 'publishable', allowedDomains: ['mysite.com'] });
    for (const origin of ['https://mysite.com', 'https://staging.mysite.com', 'http://localhost:3000']) {
      const ok = await api.get('/v1/auth/whoami', { 'X-API-Key': key.key, Origin: origin });
      expect(ok.status, origin).toBe(200);
      expect(ok.headers.get('access-control-allow-origin')).toBe(origin);
      expect(ok.headers.get('vary')).toContain('Origin');
    }
    const refusal = { error: 'forbidden', message: 'Origin is not allowed for this API key', code: 'CORS_ORIGIN_NOT_ALLOWED' };
    // A real Origin that is not allowed: 403 the page can read, so it can say which origin to add.
    for (const origin of ['https://evilmysite.com', 'https://mysite.com.evil.com']) {
      const denied = await api.get('/v1/auth/whoami', { 'X-API-Key': key.key, Origin: origin });
      expect(denied.status, origin).toBe(403);
      expect(denied.body).toEqual(refusal);
      expect(denied.headers.get('access-control-allow-origin')).toBe(origin);
      expect(denied.headers.get('vary')).toContain('Origin');
    }
    // No Origin, or the opaque `null`: nothing to echo.
    for (const origin of ['null', undefined]) {
      const denied = await api.get('/v1/auth/whoami', { 'X-API-Key': key.key, ...(origin ? { Origin: origin } : {}) });
      expect(denied.status, String(origin)).toBe(403);
      expect(denied.body).toEqual(refusal);
      expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('domain changes take effect on the next request', async () => {
    const key = await createKey({ name: 'moving', type: 'publishable', allowedDomains: ['old.example.com'] });
    const headers = { 'X-API-Key': key.key, Origin: 'https://new.example.org' };
    expect((await api.get('/v1/auth/whoami', headers)).status).toBe(403);
    await owner.patch(`/v1/organizations/${orgId}/api-keys/${key.id}`, { allowedDomains: ['new.example.org'] });
    expect((await api.get('/v1/auth/whoami', headers)).status).toBe(200);
  });

  it('a secret key without the export scope: 403 INSUFFICIENT_PERMISSIONS with the exact message', async () => {
    const key = await createKey({ name: 'chat only', type: 'secret', scopes: ['chat'] });
    const res = await api.get('/api/export?resource=usage', { 'X-API-Key': key.key });
    expect(res.status).toBe(403);
    expect(res.text).toBe(
      JSON.stringify({ error: 'forbidden', message: 'API key does not have access to this resource', code: 'INSUFFICIENT_PERMISSIONS' }),
    );
  });

  it('answers preflights on public routes without a key', async () => {
    const res = await api.call('OPTIONS', '/v1/auth/whoami', undefined, {
      Origin: 'https://anything.example',
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'x-api-key',
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://anything.example');
    expect(res.headers.get('access-control-allow-headers')).toContain('Content-Type, X-API-Key, Authorization');
    expect(res.headers.get('access-control-allow-methods')).toContain('GET');
    expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
  });

  it('a key id no key can have is 404 NOT_FOUND, however long (even longer than DynamoDB accepts in a key)', async () => {
    for (const id of ['key_nope', 'k'.repeat(3000)]) {
      for (const res of [
        await owner.get(`/v1/organizations/${orgId}/api-keys/${id}`),
        await owner.patch(`/v1/organizations/${orgId}/api-keys/${id}`, { name: 'x' }),
        await owner.delete(`/v1/organizations/${orgId}/api-keys/${id}`),
      ]) {
        expect(res.status, res.text).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
      }
    }
  });

  it('unknown routes are 404 NOT_FOUND in the contract format', async () => {
    const res = await api.get('/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not_found', message: 'Resource not found', code: 'NOT_FOUND' });
  });
});

describe('secrets at rest', () => {
  it('no table holds any secret key plaintext created in this file', async () => {
    expect(secrets.length).toBeGreaterThan(5);
    for (const table of Object.keys(TABLES) as TableKey[]) {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await db.send(new ScanCommand({ TableName: tableName(table), ExclusiveStartKey: start }));
        const dump = JSON.stringify(page.Items ?? []);
        for (const secret of secrets) expect(dump.includes(secret), `${table} holds a secret key`).toBe(false);
        start = page.LastEvaluatedKey;
      } while (start);
    }
  });
});
