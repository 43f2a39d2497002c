// A key used only through chat sessions (or only for exports): a limit change whose copy did not
// reach the key is enforced from the key's next request, token limits included, and that request
// brings the key's copy up to date, with each function held to its own table grants (as in AWS).
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handler as publicApi } from '../../functions/public-api.ts';
import { handler as chatSession } from '../../functions/chat-session.ts';
import { bufferedHandler as chatStream } from '../../functions/chat-stream.ts';
import { handler as exportHandler } from '../../functions/export.ts';
import { buildProxyEvent } from '../../infra/local/gateway.ts';
import { putNewKey, requireKey } from '../../shared/db/api-keys.ts';
import { createOrganization, updatePlan } from '../../shared/db/organizations.ts';
import { applyOrgLimits } from '../../shared/db/rate-limits.ts';
import { toAuthorizerContext, type KeyIdentity } from '../../shared/domain/key-identity.ts';
import { mintKey } from '../../shared/domain/key-mint.ts';
import { effectiveLimits, type Limits } from '../../shared/domain/plans.ts';
import { matchRoute } from '../../shared/routes.ts';
import { TEST_AUDIT } from '../support/audit.ts';
import { asFunction } from '../support/grants.ts';
import { newKeySettings } from '../support/keys.ts';

function event(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; query?: Record<string, string>; key?: KeyIdentity } = {}): APIGatewayProxyEvent {
  const match = matchRoute(method, path);
  if (match.kind !== 'found') throw new Error(`no route ${method} ${path}`);
  const e = buildProxyEvent(
    { method, path, headers: options.headers ?? {}, query: options.query ?? {}, body: options.body === undefined ? null : JSON.stringify(options.body), sourceIp: '127.0.0.1' },
    match.route,
    match.params,
  );
  if (options.key) e.requestContext.authorizer = toAuthorizerContext(options.key);
  return e;
}

const BEFORE: Limits = { perMinute: 600, perDay: 100_000 };

/** A key with the organization's limits as they were, and a chat session it created. */
async function keyWithSession(organizationId: string) {
  const { item } = mintKey(newKeySettings({ organizationId, orgLimits: BEFORE, scopes: ['chat', 'export'] }), { secret: 'sk_', publishable: 'pk_' }, new Date());
  await putNewKey(item, TEST_AUDIT, new Date());
  const identity: KeyIdentity = {
    keyId: item.id, organizationId, type: item.type, scopes: item.scopes, databaseId: item.databaseId, origin: null,
    expiresAt: item.expiresAt, orgLimits: BEFORE, keyLimits: null, rejection: null,
  };
  const res = await publicApi(event('POST', '/v1/chat/sessions', { key: identity, body: {} }));
  expect(res.statusCode, res.body).toBe(201);
  const session = JSON.parse(res.body) as { sessionId: string; token: string };
  return { keyId: item.id, identity, ...session, headers: { authorization: `Bearer ${session.token}` } };
}

/** An organization whose limit change was stored and applied to the counters, but whose copy onto its key failed. */
async function orgWithStaleKey(limits: Limits) {
  const org = await createOrganization('Session Limits Co', 'owner-1', 100, TEST_AUDIT, new Date());
  const key = await keyWithSession(org.id);
  const changed = await updatePlan(org, { plan: 'enterprise', limits }, TEST_AUDIT, new Date());
  await applyOrgLimits(org.id, { v: changed.limitsVersion ?? 0, limits: effectiveLimits(changed.plan, changed.limits) }, new Date());
  expect((await requireKey(org.id, key.keyId)).orgLimits).toEqual(BEFORE);
  return { org, changed, key };
}

describe('a key whose copy of the limits a change missed, used through sessions or exports', () => {
  const routes = {
    'session history (chatSession)': (k: Awaited<ReturnType<typeof keyWithSession>>) =>
      asFunction('chatSession', () => chatSession(event('GET', `/v1/chat/sessions/${k.sessionId}/messages`, { headers: k.headers }))),
    'session message (chatStream)': (k: Awaited<ReturnType<typeof keyWithSession>>) =>
      asFunction('chatStream', () => chatStream(event('POST', `/v1/chat/sessions/${k.sessionId}/messages`, { headers: k.headers, body: { content: 'hi' } }))),
    'export (export)': (k: Awaited<ReturnType<typeof keyWithSession>>) =>
      asFunction('export', () => exportHandler(event('GET', '/api/export', { key: k.identity, query: { resource: 'sessions' } }))),
  };

  for (const [name, call] of Object.entries(routes)) {
    it(`${name}: decided under the newer limits, and the key gets the newer copy`, { timeout: 30_000 }, async () => {
      const limits = { perMinute: 3, perDay: 1_000, tokensPerDay: 50_000 };
      const { org, changed, key } = await orgWithStaleKey(limits);
      const res = await call(key);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers?.['X-RateLimit-Limit']).toBe('3');
      const copy = await requireKey(org.id, key.keyId);
      expect(copy.orgLimits).toEqual(limits);
      expect(copy.orgLimitsVersion).toBe(changed.limitsVersion);
    });
  }

  it("a session message is held to the newer token limits at the key's first request after the change", { timeout: 30_000 }, async () => {
    // 20 tokens a day: less than any reply's input bound.
    const { key } = await orgWithStaleKey({ perMinute: 100, perDay: 1_000, tokensPerDay: 20 });
    const res = await routes['session message (chatStream)'](key);
    expect(res.statusCode, res.body).toBe(429);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED' });
  });
});
