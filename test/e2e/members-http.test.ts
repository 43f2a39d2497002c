// Members by email over HTTP (docs/api.md "Routes"): POST /v1/organizations/{orgId}/members
// {email, role} finds the user in the user directory (locally: shared/users/local-directory.ts,
// which POST /_dev/token and the local sign-in register users in) or invites them first, and
// GET .../members shows each member's email.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CLIENT_ID } from '../../infra/local/dev-token.ts';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';

let keygate: LocalKeygate;

beforeAll(async () => {
  keygate = await startTestApi();
});

afterAll(async () => {
  await keygate?.stop();
});

/** Sign in like POST /_dev/token with an email: the token carries it, the directory records it. */
async function signIn(sub: string, email: string): Promise<ApiClient> {
  const res = await new ApiClient(keygate.url).post<{ token: string }>('/_dev/token', { sub, email });
  expect(res.status, res.text).toBe(200);
  return new ApiClient(keygate.url, { Authorization: `Bearer ${res.body.token}` });
}

function uniqueEmail(label: string): string {
  return `${uniqueUser(label)}@example.com`;
}

/** An owner signed in with an email, and a fresh organization of theirs. */
async function ownerWithOrg() {
  const ownerId = uniqueUser('owner');
  const ownerEmail = uniqueEmail('owner');
  const owner = await signIn(ownerId, ownerEmail);
  const org = await owner.post('/v1/organizations', { name: 'Team' });
  expect(org.status, org.text).toBe(201);
  return { owner, ownerId, ownerEmail, orgId: org.body.id as string };
}

describe('POST /v1/organizations/{orgId}/members', () => {
  it('adds a user who has an account by their email: 201 {userId, email, role}, and they can read the org', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const colleagueId = uniqueUser('colleague');
    const colleagueEmail = uniqueEmail('colleague');
    const colleague = await signIn(colleagueId, colleagueEmail);
    expect((await colleague.get(`/v1/organizations/${orgId}`)).status).toBe(404);

    const added = await owner.post(`/v1/organizations/${orgId}/members`, { email: colleagueEmail, role: 'admin' });
    expect(added.status, added.text).toBe(201);
    expect(added.body).toEqual({ userId: colleagueId, email: colleagueEmail, role: 'admin' });

    const read = await colleague.get(`/v1/organizations/${orgId}`);
    expect(read.status, read.text).toBe(200);
    const mine = await colleague.get('/v1/organizations');
    expect(mine.body.items).toContainEqual(expect.objectContaining({ id: orgId, role: 'admin' }));
  });

  it('GET members shows every member with their email, the creator included (from the token)', async () => {
    const { owner, ownerId, ownerEmail, orgId } = await ownerWithOrg();
    const memberId = uniqueUser('reader');
    const memberEmail = uniqueEmail('reader');
    await signIn(memberId, memberEmail);
    expect((await owner.post(`/v1/organizations/${orgId}/members`, { email: memberEmail, role: 'member' })).status).toBe(201);

    const members = await owner.get(`/v1/organizations/${orgId}/members`);
    expect(members.status).toBe(200);
    expect(members.body.items).toHaveLength(2);
    expect(members.body.items).toEqual(
      expect.arrayContaining([
        { userId: ownerId, email: ownerEmail, role: 'owner' },
        { userId: memberId, email: memberEmail, role: 'member' },
      ]),
    );
  });

  it('matches the email whatever its case and surrounding spaces, and stores it lowercased', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const id = uniqueUser('casey');
    const email = uniqueEmail('casey');
    await signIn(id, email);
    const added = await owner.post(`/v1/organizations/${orgId}/members`, { email: `  ${email.toUpperCase()} `, role: 'member' });
    expect(added.status, added.text).toBe(201);
    expect(added.body).toEqual({ userId: id, email, role: 'member' });
  });

  it('invites an email with no account; signing in with it later is that same member', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const email = uniqueEmail('invitee');
    const added = await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'member' });
    expect(added.status, added.text).toBe(201);
    expect(added.body).toEqual({ userId: expect.stringMatching(/^local-[0-9a-f]{24}$/), email, role: 'member' });

    // The local sign-in page signs the invitee in through the same directory.
    const { localUserDirectory } = await import('../../shared/users/local-directory.ts');
    const signedIn = await localUserDirectory().signIn(email);
    expect(signedIn).toEqual({ userId: added.body.userId, email });
    const invitee = await signIn(signedIn.userId, email);
    const read = await invitee.get(`/v1/organizations/${orgId}`);
    expect(read.status, read.text).toBe(200);

    // Inviting the same address to another organization finds the account made by the invitation.
    const other = await ownerWithOrg();
    const again = await other.owner.post(`/v1/organizations/${other.orgId}/members`, { email, role: 'admin' });
    expect(again.body).toEqual({ userId: added.body.userId, email, role: 'admin' });
  });

  it('409 CONFLICT when the user is already a member (the owner included), and nothing changes', async () => {
    const { owner, ownerEmail, orgId } = await ownerWithOrg();
    const email = uniqueEmail('twice');
    expect((await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'member' })).status).toBe(201);
    const again = await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'owner' });
    expect(again.status, again.text).toBe(409);
    expect(again.body).toMatchObject({ error: 'conflict', code: 'CONFLICT' });
    const self = await owner.post(`/v1/organizations/${orgId}/members`, { email: ownerEmail, role: 'member' });
    expect(self.status, self.text).toBe(409);

    const members = await owner.get(`/v1/organizations/${orgId}/members`);
    expect(members.body.items.map((m: { role: string }) => m.role).sort()).toEqual(['member', 'owner']);
  });

  it('an owner added by email counts as an owner: the first owner can then leave', async () => {
    const { owner, ownerId, orgId } = await ownerWithOrg();
    const email = uniqueEmail('heir');
    expect((await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'owner' })).status).toBe(201);
    expect((await owner.delete(`/v1/organizations/${orgId}/members/${ownerId}`)).status).toBe(204);
  });

  it('changing a role keeps the email', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const email = uniqueEmail('promoted');
    const added = await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'member' });
    const changed = await owner.put(`/v1/organizations/${orgId}/members/${added.body.userId}`, { role: 'admin' });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toEqual({ userId: added.body.userId, email, role: 'admin' });
    const members = await owner.get(`/v1/organizations/${orgId}/members`);
    expect(members.body.items).toContainEqual({ userId: added.body.userId, email, role: 'admin' });
  });

  it.each([
    [{ role: 'member' }, 'email'],
    [{ email: 'not-an-email', role: 'member' }, 'email'],
    [{ email: 42, role: 'member' }, 'email'],
    [{ email: `${'a'.repeat(250)}@example.com`, role: 'member' }, 'email'],
    [{ email: 'x@example.com' }, 'role'],
    [{ email: 'x@example.com', role: 'superuser' }, 'role'],
    [{ email: 'x@example.com', role: 'member', userId: 'u1' }, 'body'],
    [null, 'body'],
  ])('refuses %j with 400 naming %s', async (body, field) => {
    const { owner, orgId } = await ownerWithOrg();
    const res = await owner.post(`/v1/organizations/${orgId}/members`, body);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_error', code: 'VALIDATION_ERROR' });
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('only owners may add members: admins and members get 403, outsiders 404', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const adminId = uniqueUser('admin');
    await owner.put(`/v1/organizations/${orgId}/members/${adminId}`, { role: 'admin' });
    const admin = await portalUser(keygate.url, adminId);
    const denied = await admin.post(`/v1/organizations/${orgId}/members`, { email: uniqueEmail('x'), role: 'member' });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('INSUFFICIENT_PERMISSIONS');
    const outsider = await portalUser(keygate.url, uniqueUser('outsider'));
    expect((await outsider.post(`/v1/organizations/${orgId}/members`, { email: uniqueEmail('y'), role: 'member' })).status).toBe(404);
  });
});

/** The local sign-in page, as a browser would drive it: the form, then code + PKCE for tokens. */
async function signInOnPage(email: string): Promise<{ client: ApiClient; userId: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const redirect = `${keygate.url}/callback`;
  const form = new URLSearchParams({
    response_type: 'code',
    client_id: LOCAL_CLIENT_ID,
    redirect_uri: redirect,
    state: 's',
    scope: 'openid email profile',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    email,
  });
  const authorize = await fetch(`${keygate.url}/oauth2/authorize`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form,
    redirect: 'manual',
  });
  expect(authorize.status, await authorize.text()).toBe(302);
  const code = new URL(authorize.headers.get('location')!).searchParams.get('code')!;
  const tokenRes = await fetch(`${keygate.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirect, client_id: LOCAL_CLIENT_ID, code_verifier: verifier }),
  });
  expect(tokenRes.status).toBe(200);
  const { id_token: idToken } = (await tokenRes.json()) as { id_token: string };
  const userId = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()).sub as string;
  return { client: new ApiClient(keygate.url, { Authorization: `Bearer ${idToken}` }), userId };
}

describe('the local sign-in page signs in through the same directory', () => {
  it('an invited email signs in on the page as the invited member', async () => {
    const { owner, orgId } = await ownerWithOrg();
    const email = uniqueEmail('page-invitee');
    const added = await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'admin' });
    expect(added.status, added.text).toBe(201);
    const { client, userId } = await signInOnPage(email.toUpperCase());
    expect(userId).toBe(added.body.userId);
    const mine = await client.get('/v1/organizations');
    expect(mine.body.items).toContainEqual(expect.objectContaining({ id: orgId, role: 'admin' }));
  });

  it('a user registered by POST /_dev/token signs in on the page as that same sub', async () => {
    const sub = uniqueUser('dev');
    const email = uniqueEmail('dev');
    await signIn(sub, email);
    expect((await signInOnPage(email)).userId).toBe(sub);
  });

  it('an email first seen on the page can then be added by email as that user', async () => {
    const email = uniqueEmail('walk-in');
    const { userId } = await signInOnPage(email);
    const { owner, orgId } = await ownerWithOrg();
    const added = await owner.post(`/v1/organizations/${orgId}/members`, { email, role: 'member' });
    expect(added.body).toEqual({ userId, email, role: 'member' });
  });
});

describe('the local user directory behind POST /_dev/token', () => {
  it('an email belongs to one user: a dev token for another sub with it is 409', async () => {
    const email = uniqueEmail('taken');
    await signIn(uniqueUser('first'), email);
    const res = await new ApiClient(keygate.url).post('/_dev/token', { sub: uniqueUser('second'), email });
    expect(res.status, res.text).toBe(409);
    expect(res.body).toMatchObject({ error: 'conflict', code: 'CONFLICT' });
  });

  it('the same sub may sign in with its email again', async () => {
    const sub = uniqueUser('again');
    const email = uniqueEmail('again');
    await signIn(sub, email);
    await signIn(sub, email.toUpperCase());
  });
});
