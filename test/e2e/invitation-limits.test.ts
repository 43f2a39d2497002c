// Allowances against farming and amplification (docs/api.md "Routes" and "Webhooks"): an organization
// invites at most 20 new accounts per UTC day (adding people who have an account is not counted),
// and a webhook's test route sends at most one ping per minute.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';

let keygate: LocalKeygate;

beforeAll(async () => {
  keygate = await startTestApi();
});

afterAll(async () => {
  await keygate?.stop();
});

async function ownerWithOrg(): Promise<{ owner: ApiClient; orgId: string }> {
  const owner = await portalUser(keygate.url, uniqueUser('owner'));
  const org = await owner.post('/v1/organizations', { name: 'Inviter' });
  expect(org.status, org.text).toBe(201);
  return { owner, orgId: org.body.id };
}

const newEmail = (label: string) => `${uniqueUser(label)}@example.com`;

function expectRetryLater(res: { status: number; body: any; headers: Headers; text: string }, atMost: number): void {
  expect(res.status, res.text).toBe(429);
  expect(res.body).toMatchObject({ error: 'rate_limit_exceeded', code: 'RATE_LIMIT_EXCEEDED' });
  expect(res.body.retry_after).toBeGreaterThanOrEqual(1);
  expect(res.body.retry_after).toBeLessThanOrEqual(atMost);
  expect(res.body.message).toBe(`Rate limit exceeded. Try again in ${res.body.retry_after} seconds.`);
  expect(res.headers.get('retry-after')).toBe(String(res.body.retry_after));
}

describe('invitations of new accounts', () => {
  it('the 21st invitation of the UTC day is 429 with retry_after until midnight; people with an account are still added', async () => {
    const { owner, orgId } = await ownerWithOrg();
    for (let i = 1; i <= 20; i++) {
      const res = await owner.post(`/v1/organizations/${orgId}/members`, { email: newEmail(`invitee${i}`), role: 'member' });
      expect(res.status, res.text).toBe(201);
    }
    const email = newEmail('one-too-many');
    const over = await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'member' });
    const untilMidnight = Math.ceil((Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`) + 86_400_000 - Date.now()) / 1000);
    expectRetryLater(over, untilMidnight + 5);
    expect((await owner.get(`/v1/organizations/${orgId}/members`)).body.items).toHaveLength(21);

    // Someone who already has an account is found, not invited: not counted.
    const knownEmail = newEmail('known');
    const knownId = uniqueUser('known');
    expect((await new ApiClient(keygate.url).post('/_dev/token', { sub: knownId, email: knownEmail })).status).toBe(200);
    const added = await owner.post(`/v1/organizations/${orgId}/members`, { email: knownEmail, role: 'member' });
    expect(added.status, added.text).toBe(201);
    expect(added.body.userId).toBe(knownId);

    // Another organization has its own allowance.
    const other = await ownerWithOrg();
    expect((await other.owner.post(`/v1/organizations/${other.orgId}/members`, { email, role: 'member' })).status).toBe(201);
  });

  it('concurrent invitations cannot pass the allowance', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const results = await Promise.all(
      Array.from({ length: 26 }, (_, i) => owner.post(`/v1/organizations/${orgId}/members`, { email: newEmail(`rush${i}`), role: 'member' })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(20);
    expect(results.filter((r) => r.status === 429)).toHaveLength(6);
  });
});

describe('webhook tests', () => {
  /** Nothing listens on the discard port: the ping is only queued and retried. */
  const WEBHOOK = { url: 'http://127.0.0.1:9/hook', events: ['api_key.revoked'] };

  it('at most one test per webhook per minute: the second is 429', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const hook = (await owner.post(`/v1/organizations/${orgId}/webhooks`, WEBHOOK)).body.id as string;
    const first = await owner.post(`/v1/organizations/${orgId}/webhooks/${hook}/test`);
    expect(first.status, first.text).toBe(202);
    expectRetryLater(await owner.post(`/v1/organizations/${orgId}/webhooks/${hook}/test`), 60);

    // Another webhook is not held back by this one's test.
    const other = (await owner.post(`/v1/organizations/${orgId}/webhooks`, WEBHOOK)).body.id as string;
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => owner.post(`/v1/organizations/${orgId}/webhooks/${other}/test`)));
    expect(concurrent.map((r) => r.status).sort()).toEqual([202, 429, 429, 429, 429]);
    expect((await owner.post(`/v1/organizations/${orgId}/webhooks/wh_00000000000000000000/test`)).status).toBe(404);
  });
});
