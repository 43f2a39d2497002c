// An email counts only once verified (docs/api.md "Authentication"). A user who sets someone else's
// address on their own account without verifying it (what Cognito's UpdateUserAttributes allowed)
// must never capture an invitation sent to that address, nor have it recorded as theirs. Locally
// such a user holds a token with `email_verified: false` (POST /_dev/token).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, startTestApi, uniqueUser } from '../support/api.ts';

let keygate: LocalKeygate;

beforeAll(async () => {
  keygate = await startTestApi();
});

afterAll(async () => {
  await keygate?.stop();
});

async function signIn(body: Record<string, unknown>): Promise<ApiClient> {
  const res = await new ApiClient(keygate.url).post<{ token: string }>('/_dev/token', body);
  expect(res.status, res.text).toBe(200);
  return new ApiClient(keygate.url, { Authorization: `Bearer ${res.body.token}` });
}

describe('invitation hijack through an unverified email', () => {
  it('an unverified email never captures an invitation', async () => {
    const victimEmail = `${uniqueUser('cfo')}@victim.example`;
    const attackerId = uniqueUser('attacker');
    const attacker = await signIn({ sub: attackerId, email: victimEmail, email_verified: false });

    const owner = await signIn({ sub: uniqueUser('owner'), email: `${uniqueUser('owner')}@victim.example` });
    const orgId = (await owner.post('/v1/organizations', { name: 'Victim Inc' })).body.id as string;
    const invited = await owner.post(`/v1/organizations/${orgId}/members`, { email: victimEmail, role: 'owner' });
    expect(invited.status, invited.text).toBe(201);
    expect(invited.body.userId).not.toBe(attackerId);

    expect((await attacker.get(`/v1/organizations/${orgId}`)).status).toBe(404);
    const members = (await owner.get(`/v1/organizations/${orgId}/members`)).body.items as { userId: string }[];
    expect(members.map((m) => m.userId)).not.toContain(attackerId);
  });

  it("an unverified email is neither the member's email nor the audit actor's", async () => {
    const attackerId = uniqueUser('attacker');
    const claimed = `${uniqueUser('ceo')}@victim.example`;
    const attacker = await signIn({ sub: attackerId, email: claimed, email_verified: false });
    const org = await attacker.post('/v1/organizations', { name: 'Claimed' });
    expect(org.status, org.text).toBe(201);
    const members = (await attacker.get(`/v1/organizations/${org.body.id}/members`)).body.items;
    expect(members).toEqual([{ userId: attackerId, email: null, role: 'owner' }]);
    const audit = (await attacker.get(`/v1/organizations/${org.body.id}/audit-log`)).body.items;
    expect(audit[0].actor).toMatchObject({ id: attackerId, email: null });
  });

  it('a verified email (the default) is registered, used and found', async () => {
    const email = `${uniqueUser('ana')}@example.com`;
    const anaId = uniqueUser('ana');
    const ana = await signIn({ sub: anaId, email });
    const org = await ana.post('/v1/organizations', { name: 'Verified' });
    const owner = await signIn({ sub: uniqueUser('owner') });
    const other = (await owner.post('/v1/organizations', { name: 'Other' })).body.id as string;
    const added = await owner.post(`/v1/organizations/${other}/members`, { email, role: 'member' });
    expect(added.body).toEqual({ userId: anaId, email, role: 'member' });
    expect((await ana.get(`/v1/organizations/${org.body.id}/members`)).body.items[0].email).toBe(email);
  });
});
