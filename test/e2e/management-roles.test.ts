// Role checks for every management route, over HTTP against the local API: owner, admin, member,
// an outsider and a platform operator, each on every route. Who may call what is written below from
// docs/api.md "Routes", never read from the route table the code enforces: a route whose role
// changes in shared/routes.ts must fail here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, routeKey } from '../../shared/routes.ts';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, INVALID_TOKEN, NOT_A_TOKEN, portalUser, startTestApi, uniqueUser } from '../support/api.ts';

type Persona = 'owner' | 'admin' | 'member' | 'outsider' | 'operator';
const PERSONAS: Persona[] = ['owner', 'admin', 'member', 'outsider', 'operator'];

let keygate: LocalKeygate;
const as = {} as Record<Persona, ApiClient>;
const ids = {} as Record<Persona, string>;
let orgId: string;

beforeAll(async () => {
  keygate = await startTestApi();
  for (const p of PERSONAS) {
    ids[p] = uniqueUser(p);
    as[p] = await portalUser(keygate.url, ids[p], p === 'operator' ? ['operators'] : []);
  }
  const org = await as.owner.post('/v1/organizations', { name: 'Roles Inc' });
  orgId = org.body.id;
  await as.owner.put(`/v1/organizations/${orgId}/members/${ids.admin}`, { role: 'admin' });
  await as.owner.put(`/v1/organizations/${orgId}/members/${ids.member}`, { role: 'member' });
});

afterAll(async () => {
  await keygate?.stop();
});

async function newKeyId(): Promise<string> {
  const res = await as.owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'target', type: 'secret' });
  return res.body.id;
}

async function newMemberId(): Promise<string> {
  const id = uniqueUser('extra');
  await as.owner.put(`/v1/organizations/${orgId}/members/${id}`, { role: 'member' });
  return id;
}

async function newDatabaseId(): Promise<string> {
  const res = await as.owner.post(`/v1/organizations/${orgId}/databases`, { name: 'target' });
  return res.body.id;
}

async function newAssistantId(): Promise<string> {
  const res = await as.owner.post(`/v1/organizations/${orgId}/assistants`, { name: uniqueUser('asst').slice(0, 50), upstream: 'echo' });
  return res.body.id;
}

/** Nothing listens on the discard port: a test ping is simply retried until the API stops. */
const WEBHOOK = { url: 'http://127.0.0.1:9/hook', events: ['api_key.revoked'] };
let sharedWebhookId: string | undefined;

async function newWebhookId(): Promise<string> {
  const res = await as.owner.post(`/v1/organizations/${orgId}/webhooks`, WEBHOOK);
  return res.body.id;
}

/**
 * A request per route that succeeds (2xx) for a persona allowed to make it: the ids in its path
 * besides the organization's, a query and a body (its method and path come from the route key).
 */
const requests: Record<string, () => Promise<{ ids?: Record<string, string>; query?: string; body?: unknown }>> = {
  'POST /v1/organizations': async () => ({ body: { name: 'Another' } }),
  'GET /v1/organizations': async () => ({}),
  'GET /v1/organizations/{orgId}': async () => ({}),
  'PATCH /v1/organizations/{orgId}': async () => ({ body: { plan: 'free' } }),
  'POST /v1/organizations/{orgId}/credits': async () => ({ body: { amount: 1 } }),
  'GET /v1/organizations/{orgId}/members': async () => ({}),
  'POST /v1/organizations/{orgId}/members': async () => ({ body: { email: `${uniqueUser('invitee')}@example.com`, role: 'member' } }),
  'PUT /v1/organizations/{orgId}/members/{userId}': async () => ({ ids: { userId: uniqueUser('new') }, body: { role: 'member' } }),
  'DELETE /v1/organizations/{orgId}/members/{userId}': async () => ({ ids: { userId: await newMemberId() } }),
  'POST /v1/organizations/{orgId}/databases': async () => ({ body: { name: 'db' } }),
  'GET /v1/organizations/{orgId}/databases': async () => ({}),
  'PATCH /v1/organizations/{orgId}/databases/{databaseId}': async () => ({ ids: { databaseId: await newDatabaseId() }, body: { name: 'renamed' } }),
  'POST /v1/organizations/{orgId}/assistants': async () => ({ body: { name: uniqueUser('asst').slice(0, 50), upstream: 'echo' } }),
  'GET /v1/organizations/{orgId}/assistants': async () => ({}),
  'GET /v1/organizations/{orgId}/assistants/{assistantId}': async () => ({ ids: { assistantId: await newAssistantId() } }),
  'PATCH /v1/organizations/{orgId}/assistants/{assistantId}': async () => ({ ids: { assistantId: await newAssistantId() }, body: { temperature: 0.5 } }),
  'DELETE /v1/organizations/{orgId}/assistants/{assistantId}': async () => ({ ids: { assistantId: await newAssistantId() } }),
  'POST /v1/organizations/{orgId}/api-keys': async () => ({ body: { name: 'k', type: 'publishable', allowedDomains: ['example.org'] } }),
  'GET /v1/organizations/{orgId}/api-keys': async () => ({}),
  'GET /v1/organizations/{orgId}/api-keys/{keyId}': async () => ({ ids: { keyId: await newKeyId() } }),
  'PATCH /v1/organizations/{orgId}/api-keys/{keyId}': async () => ({ ids: { keyId: await newKeyId() }, body: { name: 'renamed' } }),
  'DELETE /v1/organizations/{orgId}/api-keys/{keyId}': async () => ({ ids: { keyId: await newKeyId() } }),
  'POST /v1/organizations/{orgId}/api-keys/{keyId}/roll': async () => ({ ids: { keyId: await newKeyId() }, body: {} }),
  'GET /v1/organizations/{orgId}/api-keys/{keyId}/usage': async () => ({ ids: { keyId: await newKeyId() }, query: '?days=7' }),
  'GET /v1/organizations/{orgId}/usage': async () => ({}),
  'GET /v1/organizations/{orgId}/audit-log': async () => ({}),
  'POST /v1/organizations/{orgId}/webhooks': async () => ({ body: WEBHOOK }),
  'GET /v1/organizations/{orgId}/webhooks': async () => ({}),
  'DELETE /v1/organizations/{orgId}/webhooks/{webhookId}': async () => ({ ids: { webhookId: await newWebhookId() } }),
  'POST /v1/organizations/{orgId}/webhooks/{webhookId}/test': async () => ({ ids: { webhookId: (sharedWebhookId ??= await newWebhookId()) } }),
  'GET /v1/organizations/{orgId}/upstreams': async () => ({}),
};

/** The request of a route key: its method, and its path with the organization's id and the route's `ids` filled in. */
async function requestFor(key: string): Promise<{ method: string; path: string; body?: unknown }> {
  const [method, template] = key.split(' ') as [string, string];
  const { ids = {}, query = '', body } = await requests[key]!();
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'orgId' ? orgId : ids[name]!)) + query;
  return { method, path, body };
}

type MinimumRole = 'user' | 'member' | 'admin' | 'owner' | 'operator';

/**
 * The minimum role of each management route, copied from docs/api.md (the "who" column of
 * "Routes", and "Audit log" and "Webhooks"). A new portal route must be added here from the contract.
 */
const CONTRACT_ROLES: Record<string, MinimumRole> = {
  'POST /v1/organizations': 'user',
  'GET /v1/organizations': 'user',
  'GET /v1/organizations/{orgId}': 'member',
  'PATCH /v1/organizations/{orgId}': 'operator',
  'POST /v1/organizations/{orgId}/credits': 'operator',
  'GET /v1/organizations/{orgId}/members': 'member',
  'POST /v1/organizations/{orgId}/members': 'owner',
  'PUT /v1/organizations/{orgId}/members/{userId}': 'owner',
  'DELETE /v1/organizations/{orgId}/members/{userId}': 'owner',
  'POST /v1/organizations/{orgId}/databases': 'admin',
  'GET /v1/organizations/{orgId}/databases': 'member',
  'PATCH /v1/organizations/{orgId}/databases/{databaseId}': 'admin',
  'POST /v1/organizations/{orgId}/api-keys': 'owner',
  'GET /v1/organizations/{orgId}/api-keys': 'member',
  'GET /v1/organizations/{orgId}/api-keys/{keyId}': 'member',
  'PATCH /v1/organizations/{orgId}/api-keys/{keyId}': 'owner',
  'DELETE /v1/organizations/{orgId}/api-keys/{keyId}': 'owner',
  'POST /v1/organizations/{orgId}/api-keys/{keyId}/roll': 'owner',
  'GET /v1/organizations/{orgId}/api-keys/{keyId}/usage': 'member',
  'GET /v1/organizations/{orgId}/usage': 'member',
  // docs/api.md "Audit log".
  'GET /v1/organizations/{orgId}/audit-log': 'admin',
  // docs/api.md "Webhooks".
  'POST /v1/organizations/{orgId}/webhooks': 'owner',
  'GET /v1/organizations/{orgId}/webhooks': 'admin',
  'DELETE /v1/organizations/{orgId}/webhooks/{webhookId}': 'owner',
  'POST /v1/organizations/{orgId}/webhooks/{webhookId}/test': 'owner',
  // docs/api.md "Assistants and who answers".
  'GET /v1/organizations/{orgId}/upstreams': 'member',
  'POST /v1/organizations/{orgId}/assistants': 'owner',
  'GET /v1/organizations/{orgId}/assistants': 'member',
  'GET /v1/organizations/{orgId}/assistants/{assistantId}': 'member',
  'PATCH /v1/organizations/{orgId}/assistants/{assistantId}': 'owner',
  'DELETE /v1/organizations/{orgId}/assistants/{assistantId}': 'owner',
};

/** Who may call what (docs/api.md "Authentication" and "Routes"), operators apart. */
const allowed: Record<MinimumRole, Persona[]> = {
  user: ['owner', 'admin', 'member', 'outsider', 'operator'],
  member: ['owner', 'admin', 'member'],
  admin: ['owner', 'admin'],
  owner: ['owner'],
  operator: ['operator'],
};

/** Operators (not members here) read any organization and change its plan, limits, billing and credits: nothing else. */
function mayCall(persona: Persona, role: MinimumRole, method: string): boolean {
  if (persona === 'operator' && role !== 'user') return role === 'operator' || method === 'GET';
  return allowed[role].includes(persona);
}

describe('every portal route has a role test', () => {
  it('the contract table and the requests cover exactly the portal routes of the route table', () => {
    const portalRoutes = ROUTES.filter((r) => r.auth === 'portal').map(routeKey).sort();
    expect(Object.keys(CONTRACT_ROLES).sort()).toEqual(portalRoutes);
    expect(Object.keys(requests).sort()).toEqual(portalRoutes);
  });
});

describe.each(Object.entries(CONTRACT_ROLES))('%s (contract: %s)', (key, role) => {
  it.each(PERSONAS)('%s', async (persona) => {
    const { method, path, body } = await requestFor(key);
    const res = await as[persona].call(method, path, body);
    const orgScoped = key.includes('{orgId}');
    if (mayCall(persona, role, method)) {
      expect(res.status, res.text).toBeGreaterThanOrEqual(200);
      expect(res.status, res.text).toBeLessThan(300);
    } else if (persona === 'outsider' && orgScoped) {
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ error: 'not_found', code: 'NOT_FOUND' });
    } else {
      expect(res.status, res.text).toBe(403);
      expect(res.body).toMatchObject({ error: 'forbidden', code: 'INSUFFICIENT_PERMISSIONS' });
    }
  });
});

describe('portal authentication', () => {
  it.each(NOT_A_TOKEN)('refuses %s with 401 INVALID_TOKEN', async (_, headers) => {
    const res = await new ApiClient(keygate.url, headers).get('/v1/organizations');
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_TOKEN);
  });

  it('refuses an API key on a management route (keys cannot mint keys)', async () => {
    const created = await as.owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'minter', type: 'secret' });
    const res = await new ApiClient(keygate.url, { Authorization: `Bearer ${created.body.key}` }).post(
      `/v1/organizations/${orgId}/api-keys`,
      { name: 'x', type: 'secret' },
    );
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('INVALID_TOKEN');
  });
});
