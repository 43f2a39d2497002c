// Rate limits and credits over HTTP against the local API (docs/api.md "Errors" and "Rate limits and credits"): the
// X-RateLimit-* headers on 200, 402 and 429, the exact 429 and 402 bodies, Retry-After, key limits
// stricter than the org's, exact admission under a concurrent burst, and the usage figures.
// Day windows are used where a test needs a deterministic limit (a minute can end mid-test).
import { describe, expect, it } from 'vitest';
import { ApiClient, type CallResult, fileTestApiWithUsers, portalUser, uniqueUser } from '../support/api.ts';

const users = await fileTestApiWithUsers('limits');
const { keygate, operator } = users;
let { owner } = users;

/**
 * A fresh organization with a fresh owner (`owner` from then on): one user may create at most 10
 * organizations (maxOrganizationsPerUser), fewer than this file needs.
 */
async function newOrg(limits?: { perMinute: number; perDay: number }): Promise<string> {
  owner = await portalUser(keygate.url, uniqueUser('limits-owner'));
  const org = await owner.post('/v1/organizations', { name: 'Limits Inc' });
  expect(org.status, org.text).toBe(201);
  if (limits) {
    const patched = await operator.patch(`/v1/organizations/${org.body.id}`, { plan: 'enterprise', limits });
    expect(patched.status, patched.text).toBe(200);
  }
  return org.body.id;
}

async function newKey(orgId: string, body: Record<string, unknown> = {}): Promise<{ id: string; api: ApiClient }> {
  const res = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'limits', type: 'secret', ...body });
  expect(res.status, res.text).toBe(201);
  const headers: Record<string, string> = { 'X-API-Key': res.body.key };
  if (body.type === 'publishable') headers.Origin = 'https://app.example.com';
  return { id: res.body.id, api: new ApiClient(keygate.url, headers) };
}

const nextMidnight = (ms: number) => Math.floor(ms / 86_400_000) * 86_400 + 86_400;
const nextMinute = (ms: number) => Math.floor(ms / 60_000) * 60 + 60;

function rateHeaders(res: CallResult) {
  return {
    limit: res.headers.get('x-ratelimit-limit'),
    remaining: res.headers.get('x-ratelimit-remaining'),
    reset: res.headers.get('x-ratelimit-reset'),
  };
}

/** Assert the contract 429, with Retry-After until `reset` as seen between `before` and `after`. */
function expect429(res: CallResult, limit: number, reset: number, before: number, after: number) {
  expect(res.status, res.text).toBe(429);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(Math.max(1, Math.ceil(reset - after / 1000)));
  expect(retryAfter).toBeLessThanOrEqual(Math.max(1, Math.ceil(reset - before / 1000)));
  expect(res.body).toEqual({
    error: 'rate_limit_exceeded',
    message: `Rate limit exceeded. Try again in ${retryAfter} seconds.`,
    code: 'RATE_LIMIT_EXCEEDED',
    retry_after: retryAfter,
  });
  expect(rateHeaders(res)).toEqual({ limit: String(limit), remaining: '0', reset: String(reset) });
}

/** Minute-window tests start early in a minute so that ten requests cannot straddle a boundary. */
async function earlyInAMinute(): Promise<void> {
  const second = new Date().getUTCSeconds();
  if (second > 45) await new Promise((r) => setTimeout(r, (61 - second) * 1000));
}

describe('429 RATE_LIMIT_EXCEEDED', () => {
  it('free plan: the 11th request in a minute, with the minute window in the headers', { timeout: 60_000 }, async () => {
    const { api } = await newKey(await newOrg());
    await earlyInAMinute();
    const before = Date.now();
    for (let i = 1; i <= 10; i++) {
      const ok = await api.get('/v1/auth/whoami');
      expect(ok.status, ok.text).toBe(200);
      expect(rateHeaders(ok)).toEqual({ limit: '10', remaining: String(10 - i), reset: String(nextMinute(before)) });
    }
    const refused = await api.get('/v1/auth/whoami', { Origin: 'https://evil.example' });
    expect429(refused, 10, nextMinute(before), before, Date.now());
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('day window binding (enterprise perMinute 1000, perDay 3)', async () => {
    const { api } = await newKey(await newOrg({ perMinute: 1000, perDay: 3 }));
    const before = Date.now();
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const ok = await api.get('/v1/auth/whoami');
      expect(ok.status, ok.text).toBe(200);
      expect(rateHeaders(ok)).toMatchObject({ limit: '3', reset: String(nextMidnight(before)) });
      remaining.push(ok.headers.get('x-ratelimit-remaining'));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    expect429(await api.get('/v1/auth/whoami'), 3, nextMidnight(before), before, Date.now());
  });

  it("a key's own limit, stricter than the organization's", async () => {
    const orgId = await newOrg({ perMinute: 1000, perDay: 100_000 });
    const { api } = await newKey(orgId, { rateLimit: { perDay: 2 } });
    const before = Date.now();
    expect(rateHeaders(await api.get('/v1/auth/whoami'))).toMatchObject({ limit: '2', remaining: '1' });
    expect(rateHeaders(await api.get('/v1/auth/whoami'))).toMatchObject({ limit: '2', remaining: '0' });
    expect429(await api.get('/v1/auth/whoami'), 2, nextMidnight(before), before, Date.now());
    // The organization's other keys are not held back.
    const other = await newKey(orgId);
    expect(rateHeaders(await other.api.get('/v1/auth/whoami'))).toMatchObject({ limit: '1000' });
  });

  it('a publishable key sees the 429 and its headers from the browser (CORS on the error)', async () => {
    const { api } = await newKey(await newOrg({ perMinute: 1000, perDay: 1 }), { type: 'publishable', allowedDomains: ['app.example.com'] });
    const before = Date.now();
    expect((await api.get('/v1/auth/whoami')).status).toBe(200);
    const refused = await api.get('/v1/auth/whoami');
    expect429(refused, 1, nextMidnight(before), before, Date.now());
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(refused.headers.get('access-control-expose-headers')).toContain('X-RateLimit-Remaining');
    expect(refused.headers.get('access-control-expose-headers')).toContain('Retry-After');
  });

  it('a plan change by an operator applies to the next request', async () => {
    const orgId = await newOrg({ perMinute: 1000, perDay: 2 });
    const { api } = await newKey(orgId);
    await api.get('/v1/auth/whoami');
    await api.get('/v1/auth/whoami');
    expect((await api.get('/v1/auth/whoami')).status).toBe(429);
    await operator.patch(`/v1/organizations/${orgId}`, { limits: { perMinute: 1000, perDay: 5 } });
    const ok = await api.get('/v1/auth/whoami');
    expect(ok.status, ok.text).toBe(200);
    expect(rateHeaders(ok)).toMatchObject({ limit: '5', remaining: '2' });
  });
});

describe('plans', () => {
  it('a starter plan organization answers X-RateLimit-Limit 60', async () => {
    const orgId = await newOrg();
    const patched = await operator.patch(`/v1/organizations/${orgId}`, { plan: 'starter' });
    expect(patched.status, patched.text).toBe(200);
    const { api } = await newKey(orgId);
    const res = await api.get('/v1/auth/whoami');
    expect(res.status, res.text).toBe(200);
    expect(rateHeaders(res)).toMatchObject({ limit: '60', remaining: '59' });
  });
});

describe('errors raised after authentication', () => {
  const EVIL = { Origin: 'https://evil.example' };

  it('a 400 on a counted request carries the X-RateLimit headers (secret key)', async () => {
    const { api } = await newKey(await newOrg({ perMinute: 1000, perDay: 100 }));
    const before = Date.now();
    const res = await api.post('/v1/chat/message', { message: '' });
    expect(res.status, res.text).toBe(400);
    expect(res.body.code).toBe('VALIDATION_ERROR');
    expect(rateHeaders(res)).toEqual({ limit: '100', remaining: '99', reset: String(nextMidnight(before)) });
  });

  it('a publishable-key 400 from an allowed Origin carries Access-Control-Allow-Origin and Vary: Origin', async () => {
    const { api } = await newKey(await newOrg({ perMinute: 1000, perDay: 100 }), { type: 'publishable', allowedDomains: ['app.example.com'] });
    const res = await api.post('/v1/chat/sessions', { metadata: [1] });
    expect(res.status, res.text).toBe(400);
    expect(res.body.code).toBe('VALIDATION_ERROR');
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('secret-key 400 and 402 sent with a foreign Origin carry no Access-Control-Allow-Origin', async () => {
    const orgId = await newOrg({ perMinute: 1000, perDay: 100 });
    const { api } = await newKey(orgId);
    const invalid = await api.post('/v1/chat/sessions', { metadata: [1] }, EVIL);
    expect(invalid.status, invalid.text).toBe(400);
    expect(invalid.headers.get('access-control-allow-origin')).toBeNull();
    const org = await owner.get(`/v1/organizations/${orgId}`);
    const drained = await operator.post(`/v1/organizations/${orgId}/credits`, { amount: -org.body.credits });
    expect(drained.status, drained.text).toBe(200);
    const poor = await api.post('/v1/chat/sessions', {}, EVIL);
    expect(poor.status, poor.text).toBe(402);
    expect(poor.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('exact under concurrency, over HTTP', () => {
  it('a burst of 40 concurrent requests at perDay 15 admits exactly 15', { timeout: 120_000 }, async () => {
    const { api } = await newKey(await newOrg({ perMinute: 1000, perDay: 15 }));
    const results = await Promise.all(Array.from({ length: 40 }, () => api.get('/v1/auth/whoami')));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(15);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    const remaining = results.filter((r) => r.status === 200).map((r) => Number(r.headers.get('x-ratelimit-remaining')));
    expect(remaining.sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i));
  });
});

describe('402 INSUFFICIENT_CREDITS', () => {
  it('session creation at zero credits: the contract body, with the rate-limit headers', async () => {
    const orgId = await newOrg({ perMinute: 1000, perDay: 100 });
    const { api } = await newKey(orgId);
    const org = await owner.get(`/v1/organizations/${orgId}`);
    const drained = await operator.post(`/v1/organizations/${orgId}/credits`, { amount: -org.body.credits, reason: 'test' });
    expect(drained.body).toEqual({ credits: 0 });
    const before = Date.now();
    const res = await api.post('/v1/chat/sessions', {});
    expect(res.status, res.text).toBe(402);
    expect(res.body).toEqual({ error: 'insufficient_credits', message: 'Organization has no credits left', code: 'INSUFFICIENT_CREDITS' });
    expect(rateHeaders(res)).toEqual({ limit: '100', remaining: '99', reset: String(nextMidnight(before)) });
  });
});

describe('credits per reply', () => {
  it('a one-shot reply costs one credit, counted in usage; at zero the next one is a 402', { timeout: 60_000 }, async () => {
    const orgId = await newOrg({ perMinute: 1000, perDay: 100 });
    const { id: keyId, api } = await newKey(orgId);
    const org = await owner.get(`/v1/organizations/${orgId}`);
    await operator.post(`/v1/organizations/${orgId}/credits`, { amount: 1 - org.body.credits });
    const reply = await api.post('/v1/chat/message', { message: 'Hello' });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body.usage).toEqual({ credits: 1 });
    expect(rateHeaders(reply)).toMatchObject({ limit: '100', remaining: '99' });
    expect((await owner.get(`/v1/organizations/${orgId}`)).body.credits).toBe(0);
    const refused = await api.post('/v1/chat/message', { message: 'Again' });
    expect(refused.status, refused.text).toBe(402);
    expect(refused.body).toEqual({ error: 'insufficient_credits', message: 'Organization has no credits left', code: 'INSUFFICIENT_CREDITS' });
    expect(rateHeaders(refused)).toMatchObject({ limit: '100', remaining: '98' });
    const today = new Date().toISOString().slice(0, 10);
    expect((await owner.get(`/v1/organizations/${orgId}/usage?days=1`)).body.items[0]).toEqual({ date: today, requests: 2, rateLimited: 0, credits: 1, inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
    expect((await owner.get(`/v1/organizations/${orgId}/api-keys/${keyId}/usage?days=1`)).body.items[0]).toMatchObject({ credits: 1 });
  });
});

describe('usage, lastUsedAt and usageCount', () => {
  it('admitted and refused requests are counted per organization and per key', async () => {
    const orgId = await newOrg({ perMinute: 1000, perDay: 4 });
    const { id: keyId, api } = await newKey(orgId);
    const started = Date.now();
    for (let i = 0; i < 6; i++) await api.get('/v1/auth/whoami');
    const today = new Date().toISOString().slice(0, 10);
    const orgUsage = await owner.get(`/v1/organizations/${orgId}/usage?days=1`);
    expect(orgUsage.body).toEqual({ items: [{ date: today, requests: 4, rateLimited: 2, credits: 0, inputTokens: 0, outputTokens: 0 }] });
    const keyUsage = await owner.get(`/v1/organizations/${orgId}/api-keys/${keyId}/usage?days=1`);
    expect(keyUsage.body).toEqual({ items: [{ date: today, requests: 4, rateLimited: 2, credits: 0, inputTokens: 0, outputTokens: 0 }] });
    const key = await owner.get(`/v1/organizations/${orgId}/api-keys/${keyId}`);
    // Refreshed on the key's first admitted request of each minute: lags by under 60 s.
    expect(Date.parse(key.body.lastUsedAt)).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
    expect(Date.now() - Date.parse(key.body.lastUsedAt)).toBeLessThan(60_000);
    // Exact when read (docs/api.md "Rate limits and credits"): the 4 admitted requests, not the 2 refused.
    expect(key.body.usageCount).toBe(4);
  });
});
