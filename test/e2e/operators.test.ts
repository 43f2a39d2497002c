// Platform operators (docs/api.md "Authentication") read any organization and change its plan, limits,
// billing and credits; every other change in an organization they are not an owner of is a 403,
// so one stolen operator password cannot mint keys in every tenant. The owner routes are read
// from the route table, so a route added later is covered without touching this file.
import { describe, expect, it } from 'vitest';
import { operatorMay } from '../../shared/domain/roles.ts';
import { ROUTES, routeKey } from '../../shared/routes.ts';
import { fileTestApiWithUsers } from '../support/api.ts';

const { keygate, owner, operator, operatorId } = await fileTestApiWithUsers('operators');
const orgId: string = (await owner.post('/v1/organizations', { name: 'Tenant' })).body.id;

/** Changes in an organization that only its members (owners, sometimes admins) make. */
const memberWrites = ROUTES.filter((r) => r.auth === 'portal' && r.path.includes('{orgId}') && !operatorMay(r));

/** A concrete path: the real organization, placeholders of the right shape for the other ids. */
function pathOf(template: string): string {
  return template.replace('{orgId}', orgId).replace(/\{(\w+)\}/g, (_, name: string) => `${name}-placeholder`);
}

describe('operators outside an organization', () => {
  it('the route table has the owner routes this test iterates', () => {
    const keys = memberWrites.map(routeKey);
    expect(keys).toContain('POST /v1/organizations/{orgId}/api-keys');
    expect(keys).toContain('POST /v1/organizations/{orgId}/members');
    expect(keys).toContain('POST /v1/organizations/{orgId}/webhooks');
    expect(memberWrites.filter((r) => r.role === 'owner').length).toBeGreaterThanOrEqual(9);
  });

  it.each(memberWrites.map((r) => [routeKey(r), r] as const))('%s: 403', async (_, route) => {
    const res = await operator.call(route.method, pathOf(route.path), {});
    expect(res.status, res.text).toBe(403);
    expect(res.body).toMatchObject({ error: 'forbidden', code: 'INSUFFICIENT_PERMISSIONS' });
  });

  it('cannot create a key, add an owner or a webhook: nothing is written', async () => {
    const base = `/v1/organizations/${orgId}`;
    expect((await operator.post(`${base}/api-keys`, { name: 'stolen', type: 'secret' })).status).toBe(403);
    expect((await operator.put(`${base}/members/${operatorId}`, { role: 'owner' })).status).toBe(403);
    expect((await operator.post(`${base}/members`, { email: 'attacker@example.com', role: 'owner' })).status).toBe(403);
    expect((await operator.post(`${base}/webhooks`, { url: 'http://127.0.0.1:9/hook', events: ['api_key.revoked'] })).status).toBe(403);
    expect((await owner.get(`${base}/api-keys`)).body.items).toEqual([]);
    expect((await owner.get(`${base}/members`)).body.items).toHaveLength(1);
    expect((await owner.get(`${base}/webhooks`)).body.items).toEqual([]);
  });

  it('reads the organization, its keys, members, usage, webhooks and audit log, and changes plan and credits', async () => {
    const base = `/v1/organizations/${orgId}`;
    for (const path of [base, `${base}/api-keys`, `${base}/members`, `${base}/usage`, `${base}/webhooks`, `${base}/audit-log`]) {
      expect((await operator.get(path)).status, path).toBe(200);
    }
    expect((await operator.patch(base, { plan: 'starter' })).status).toBe(200);
    expect((await operator.post(`${base}/credits`, { amount: 5 })).status).toBe(200);
  });

  it('an operator who owns an organization manages it as its owner', async () => {
    const own = (await operator.post('/v1/organizations', { name: 'Operator own' })).body.id;
    const res = await operator.post(`/v1/organizations/${own}/api-keys`, { name: 'mine', type: 'secret' });
    expect(res.status, res.text).toBe(201);
  });
});
