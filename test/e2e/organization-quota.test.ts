// Free credits cannot be farmed (docs/api.md "Routes"): only a user's first organization starts
// with the initial credits (exactly one, whatever the concurrency), later ones at 0, and a user may
// create at most 10 organizations (the default, README "Deploy"), counted atomically: concurrent
// creations cannot pass the bound. Other users are not affected.
import { describe, expect, it } from 'vitest';
import { fileTestApi, portalUser, uniqueUser } from '../support/api.ts';

/** The default of the deploy setting, as the README documents it. */
const MAX_ORGANIZATIONS_PER_USER = 10;

const keygate = await fileTestApi();

describe('organizations per user', () => {
  it('the first organization gets the initial credits, the second 0', async () => {
    const user = await portalUser(keygate.url, uniqueUser('founder'));
    expect((await user.post('/v1/organizations', { name: 'First' })).body.credits).toBe(100);
    const second = await user.post('/v1/organizations', { name: 'Second' });
    expect(second.status, second.text).toBe(201);
    expect(second.body.credits).toBe(0);
    expect((await user.get(`/v1/organizations/${second.body.id}`)).body.credits).toBe(0);
  });

  it('the 11th organization of one user is 409 CONFLICT; another user still gets theirs with the initial credits', async () => {
    const farmer = await portalUser(keygate.url, uniqueUser('farmer'));
    for (let i = 1; i <= MAX_ORGANIZATIONS_PER_USER; i++) {
      const res = await farmer.post('/v1/organizations', { name: `Farm ${i}` });
      expect(res.status, res.text).toBe(201);
      expect(res.body.credits).toBe(i === 1 ? 100 : 0);
    }
    const over = await farmer.post('/v1/organizations', { name: 'Farm 11' });
    expect(over.status, over.text).toBe(409);
    expect(over.body).toEqual({ error: 'conflict', message: 'A user can create at most 10 organizations', code: 'CONFLICT' });
    expect((await farmer.get('/v1/organizations')).body.items).toHaveLength(MAX_ORGANIZATIONS_PER_USER);

    const other = await portalUser(keygate.url, uniqueUser('neighbour'));
    const theirs = await other.post('/v1/organizations', { name: 'Theirs' });
    expect(theirs.status, theirs.text).toBe(201);
    expect(theirs.body.credits).toBe(100);
  });

  it('15 concurrent creations by one user: exactly 10 are created', async () => {
    const farmer = await portalUser(keygate.url, uniqueUser('racer'));
    const results = await Promise.all(Array.from({ length: 15 }, (_, i) => farmer.post('/v1/organizations', { name: `Race ${i}` })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_ORGANIZATIONS_PER_USER);
    expect(statuses.filter((s) => s === 409)).toHaveLength(5);
    const orgs = (await farmer.get('/v1/organizations')).body.items as { credits: number }[];
    expect(orgs).toHaveLength(MAX_ORGANIZATIONS_PER_USER);
    // Exactly one of the concurrent creations was the first: the initial credits once, in total.
    expect(orgs.map((o) => o.credits).sort((a, b) => b - a)).toEqual([100, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('a refused request (bad name) does not count', async () => {
    const user = await portalUser(keygate.url, uniqueUser('careful'));
    for (let i = 0; i < 12; i++) expect((await user.post('/v1/organizations', { name: '' })).status).toBe(400);
    expect((await user.post('/v1/organizations', { name: 'First' })).status).toBe(201);
  });

  it('the count is not reachable as an organization', async () => {
    const userId = uniqueUser('curious');
    const user = await portalUser(keygate.url, userId);
    const operator = await portalUser(keygate.url, uniqueUser('staff'), ['operators']);
    expect((await user.post('/v1/organizations', { name: 'Mine' })).status).toBe(201);
    const res = await operator.get(`/v1/organizations/${encodeURIComponent(`user#${userId}`)}`);
    expect(res.status).toBe(404);
  });
});
