// Organizations, members, databases, plans and credits over HTTP (docs/api.md "Routes").
import { describe, expect, it } from 'vitest';
import { fileTestApiWithUsers, portalUser, uniqueUser } from '../support/api.ts';

const users = await fileTestApiWithUsers('organizations');
const { keygate, operator, operatorId } = users;
let { owner, ownerId } = users;

/**
 * A fresh organization, created by a fresh owner (`owner`, `ownerId` from then on): one user may
 * create at most 10 organizations (maxOrganizationsPerUser), fewer than this file needs.
 */
async function newOrg(name = 'Acme') {
  ownerId = uniqueUser('owner');
  owner = await portalUser(keygate.url, ownerId);
  const res = await owner.post('/v1/organizations', { name });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

describe('organizations', () => {
  it('creates an org on the free plan with initial credits and makes the caller its owner', async () => {
    const org = await newOrg('  Acme 🚀 Ünïcode  ');
    expect(org).toMatchObject({
      name: 'Acme 🚀 Ünïcode',
      plan: 'free',
      limits: { perMinute: 10, perDay: 1000 },
      credits: 100,
      role: 'owner',
    });
    expect(org.id).toMatch(/^org_/);
    expect(new Date(org.createdAt).toISOString()).toBe(org.createdAt);
    const mine = await owner.get('/v1/organizations');
    expect(mine.body.items).toContainEqual(expect.objectContaining({ id: org.id, role: 'owner' }));
    const members = await owner.get(`/v1/organizations/${org.id}/members`);
    expect(members.body).toEqual({ items: [{ userId: ownerId, email: null, role: 'owner' }] });
  });

  it.each([
    [{}, 'name'],
    [{ name: '' }, 'name'],
    [{ name: 42 }, 'name'],
    [{ name: 'x'.repeat(101) }, 'name'],
    [null, 'body'],
  ])('refuses %j with 400', async (body, field) => {
    const res = await owner.post('/v1/organizations', body);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('returns 404 for an org that does not exist, even to an operator', async () => {
    const res = await operator.get('/v1/organizations/org_doesnotexist');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
  });
});

describe('plans and limits (operators)', () => {
  it('changes the plan and the limits follow the plan table', async () => {
    const org = await newOrg();
    const res = await operator.patch(`/v1/organizations/${org.id}`, { plan: 'pro' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ plan: 'pro', limits: { perMinute: 600, perDay: 100_000 } });
  });

  it('enterprise needs limits, and then uses them', async () => {
    const org = await newOrg();
    const missing = await operator.patch(`/v1/organizations/${org.id}`, { plan: 'enterprise' });
    expect(missing.status).toBe(400);
    const res = await operator.patch(`/v1/organizations/${org.id}`, { plan: 'enterprise', limits: { perMinute: 5000, perDay: 1_000_000 } });
    expect(res.body).toMatchObject({ plan: 'enterprise', limits: { perMinute: 5000, perDay: 1_000_000 } });
  });

  it.each([
    [{ plan: 'platinum' }, 'plan'],
    [{ limits: { perMinute: 0, perDay: 1 } }, 'limits.perMinute'],
    [{ limits: { perMinute: 1.5, perDay: 1 } }, 'limits.perMinute'],
    [{}, 'body'],
  ])('refuses %j with 400', async (body, field) => {
    const org = await newOrg();
    const res = await operator.patch(`/v1/organizations/${org.id}`, body);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });
});

describe('billing (operators)', () => {
  it('is one credit per reply until an operator sets tokens; the change is audited and shown on the org', async () => {
    const org = await newOrg();
    expect(org.billing).toEqual({ mode: 'reply' });
    const billing = { mode: 'tokens', inputPer1k: 2, outputPer1k: 8 };
    const res = await operator.patch(`/v1/organizations/${org.id}`, { billing });
    expect(res.status, res.text).toBe(200);
    expect(res.body.billing).toEqual(billing);
    expect((await owner.get(`/v1/organizations/${org.id}`)).body.billing).toEqual(billing);
    // The same billing again changes nothing and writes no entry.
    expect((await operator.patch(`/v1/organizations/${org.id}`, { billing })).status).toBe(200);
    expect((await operator.patch(`/v1/organizations/${org.id}`, { billing: { mode: 'reply' } })).body.billing).toEqual({ mode: 'reply' });
    const log = await operator.get(`/v1/organizations/${org.id}/audit-log?action=organization.updated`);
    expect(log.body.items.map((e: { changes: unknown; actor: { id: string } }) => [e.changes, e.actor.id])).toEqual([
      [[{ field: 'billing', from: billing, to: { mode: 'reply' } }], operatorId],
      [[{ field: 'billing', from: { mode: 'reply' }, to: billing }], operatorId],
    ]);
  });

  it('is set by operators only', async () => {
    const org = await newOrg();
    const res = await owner.patch(`/v1/organizations/${org.id}`, { billing: { mode: 'tokens', inputPer1k: 0, outputPer1k: 1 } });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('INSUFFICIENT_PERMISSIONS');
    expect((await owner.get(`/v1/organizations/${org.id}`)).body.billing).toEqual({ mode: 'reply' });
  });

  it.each([
    [{ billing: { mode: 'tokens' } }, 'billing.inputPer1k'],
    [{ billing: { mode: 'tokens', inputPer1k: 1.5, outputPer1k: 1 } }, 'billing.inputPer1k'],
    [{ billing: { mode: 'tokens', inputPer1k: -1, outputPer1k: 1 } }, 'billing.inputPer1k'],
    [{ billing: { mode: 'tokens', inputPer1k: 0, outputPer1k: 0 } }, 'billing.outputPer1k'],
    [{ billing: { mode: 'tokens', inputPer1k: 1, outputPer1k: 1_000_001 } }, 'billing.outputPer1k'],
    [{ billing: { mode: 'reply', inputPer1k: 1 } }, 'billing'],
    [{ billing: { mode: 'minutes' } }, 'billing.mode'],
    [{ billing: 'tokens' }, 'billing'],
  ])('refuses %j with 400', async (body, field) => {
    const org = await newOrg();
    const res = await operator.patch(`/v1/organizations/${org.id}`, body);
    expect(res.status, res.text).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });
});

describe('credits (operators)', () => {
  it('grants and claws back credits, and keeps an audit entry of each change', async () => {
    const org = await newOrg();
    expect((await operator.post(`/v1/organizations/${org.id}/credits`, { amount: 50, reason: 'promo' })).body).toEqual({ credits: 150 });
    expect((await operator.post(`/v1/organizations/${org.id}/credits`, { amount: -150 })).body).toEqual({ credits: 0 });
    const log = await operator.get(`/v1/organizations/${org.id}/audit-log?action=credits.granted`);
    expect(log.body.items.map((e: any) => [e.changes, e.actor.id])).toEqual([
      [[{ field: 'credits', from: 150, to: 0 }], operatorId],
      [[{ field: 'credits', from: 100, to: 150 }, { field: 'reason', from: null, to: 'promo' }], operatorId],
    ]);
  });

  it('never takes the balance below zero (409), even under concurrent claw-backs', async () => {
    const org = await newOrg();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => operator.post(`/v1/organizations/${org.id}/credits`, { amount: -10 })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    expect(results.filter((r) => r.status === 409 && r.body.code === 'CONFLICT')).toHaveLength(10);
    expect((await owner.get(`/v1/organizations/${org.id}`)).body.credits).toBe(0);
  });

  it.each([[{ amount: 0 }], [{ amount: 1.5 }], [{ amount: '5' }], [{}], [{ amount: 5, reason: 'x'.repeat(201) }]])(
    'refuses %j with 400',
    async (body) => {
      const org = await newOrg();
      const res = await operator.post(`/v1/organizations/${org.id}/credits`, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_ERROR');
    },
  );
});

describe('members', () => {
  it('adds, changes and removes members', async () => {
    const org = await newOrg();
    const friend = uniqueUser('friend');
    expect((await owner.put(`/v1/organizations/${org.id}/members/${friend}`, { role: 'admin' })).body).toEqual({ userId: friend, email: null, role: 'admin' });
    expect((await owner.put(`/v1/organizations/${org.id}/members/${friend}`, { role: 'member' })).body.role).toBe('member');
    expect((await owner.delete(`/v1/organizations/${org.id}/members/${friend}`)).status).toBe(204);
    expect((await owner.delete(`/v1/organizations/${org.id}/members/${friend}`)).status).toBe(404);
  });

  it('removing a user id longer than any member id is 404, not a 500 from DynamoDB', async () => {
    const org = await newOrg();
    const res = await owner.delete(`/v1/organizations/${org.id}/members/${'u'.repeat(3000)}`);
    expect(res.status, res.text).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
  });

  it('refuses to remove or demote the last owner (409 CONFLICT)', async () => {
    const org = await newOrg();
    const removed = await owner.delete(`/v1/organizations/${org.id}/members/${ownerId}`);
    expect(removed.status).toBe(409);
    expect(removed.body).toMatchObject({ error: 'conflict', code: 'CONFLICT' });
    const demoted = await owner.put(`/v1/organizations/${org.id}/members/${ownerId}`, { role: 'admin' });
    expect(demoted.status).toBe(409);
  });

  it('two owners removing each other at once leave exactly one owner', async () => {
    const org = await newOrg();
    const secondId = uniqueUser('second');
    await owner.put(`/v1/organizations/${org.id}/members/${secondId}`, { role: 'owner' });
    const second = await portalUser(keygate.url, secondId);
    const [a, b] = await Promise.all([
      owner.delete(`/v1/organizations/${org.id}/members/${secondId}`),
      second.delete(`/v1/organizations/${org.id}/members/${ownerId}`),
    ]);
    // The loser is refused: 409 if both were still owners when its request ran, 404 if it ran after
    // the winner's (its caller is then not in the org, docs/api.md "Errors"). Which one depends on
    // timing: the bundled run, one process per request, sees the 404.
    const [won, lost] = [a.status, b.status].sort();
    expect(won).toBe(204);
    expect([404, 409]).toContain(lost);
    const members = await operator.get(`/v1/organizations/${org.id}/members`);
    expect(members.body.items.filter((m: { role: string }) => m.role === 'owner')).toHaveLength(1);
  });

  it('refuses an unknown role', async () => {
    const org = await newOrg();
    const res = await owner.put(`/v1/organizations/${org.id}/members/someone`, { role: 'superuser' });
    expect(res.status).toBe(400);
  });
});

describe('databases', () => {
  it('creates and lists databases, and a publishable key can be scoped to one', async () => {
    const org = await newOrg();
    const db = await owner.post(`/v1/organizations/${org.id}/databases`, { name: 'Docs' });
    expect(db.status).toBe(201);
    expect(db.body).toEqual({ id: expect.stringMatching(/^db_/), name: 'Docs', assistantId: null, createdAt: expect.any(String) });
    expect((await owner.get(`/v1/organizations/${org.id}/databases`)).body.items).toEqual([db.body]);
    const key = await owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'scoped', type: 'publishable', databaseId: db.body.id });
    expect(key.status, key.text).toBe(201);
    expect(key.body.databaseId).toBe(db.body.id);
    const secret = await owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'no', type: 'secret', databaseId: db.body.id });
    expect(secret.status).toBe(400);
  });
});

describe('usage', () => {
  it('returns N UTC days newest first, zero-filled', async () => {
    const org = await newOrg();
    const res = await owner.get(`/v1/organizations/${org.id}/usage?days=3`);
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(3);
    expect(res.body.items[0].date).toBe(new Date().toISOString().slice(0, 10));
    expect(res.body.items[0]).toEqual({ date: expect.any(String), requests: 0, rateLimited: 0, credits: 0, inputTokens: 0, outputTokens: 0 });
    expect(res.body.items[0].date > res.body.items[1].date).toBe(true);
  });

  it.each(['days=0', 'days=91', 'days=x'])('refuses %s', async (query) => {
    const org = await newOrg();
    expect((await owner.get(`/v1/organizations/${org.id}/usage?${query}`)).status).toBe(400);
  });
});

describe('operators find any organization: GET /v1/organizations?all=true&q=', () => {
  it('by a part of the name (any case) or an id prefix, a page at a time; others get 403', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const first = await newOrg(`Findable ${tag} One`);
    const second = await newOrg(`findable ${tag.toUpperCase()} two`);
    const byName = await operator.get(`/v1/organizations?all=true&q=${encodeURIComponent(`FINDABLE ${tag}`)}`);
    expect(byName.status, byName.text).toBe(200);
    expect(byName.body.items.map((o: { id: string }) => o.id).sort()).toEqual([first.id, second.id].sort());
    expect(byName.body.items[0]).not.toHaveProperty('role');
    const byId = await operator.get(`/v1/organizations?all=true&q=${first.id.slice(0, first.id.length - 2)}`);
    expect(byId.body.items.map((o: { id: string }) => o.id)).toContain(first.id);
    // limit=1 pages: the cursor leads to the other match.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await operator.get(
        `/v1/organizations?all=true&limit=1&q=${encodeURIComponent(`findable ${tag}`)}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.body.items.map((o) => o.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual([first.id, second.id].sort());
    const refused = await owner.get('/v1/organizations?all=true&q=findable');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('INSUFFICIENT_PERMISSIONS');
    // Without all=true an operator gets their own memberships, as anyone.
    expect((await operator.get('/v1/organizations')).body).toEqual({ items: [] });
  });
});
