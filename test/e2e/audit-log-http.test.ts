// GET /v1/organizations/{orgId}/audit-log over HTTP (docs/api.md "Audit log"): every management
// action of the contract leaves its entry, attributed to the right actor, newest first, with
// filters and cursor pagination; owners, admins and operators read it, members and outsiders don't.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, startTestApi, uniqueUser } from '../support/api.ts';

let keygate: LocalKeygate;

async function signIn(sub: string, email: string, groups: string[] = []): Promise<ApiClient> {
  const res = await new ApiClient(keygate.url).post<{ token: string }>('/_dev/token', { sub, email, groups });
  return new ApiClient(keygate.url, { Authorization: `Bearer ${res.body.token}`, 'User-Agent': 'audit-test/1.0' });
}

let owner: ApiClient;
let operator: ApiClient;
const ownerId = uniqueUser('owner');
const operatorId = uniqueUser('staff');
const adminId = uniqueUser('admin');
const memberId = uniqueUser('member');
let orgId: string;
let keyId: string;
let plaintext: string;
let log: any[];

beforeAll(async () => {
  keygate = await startTestApi();
  owner = await signIn(ownerId, 'owner@example.com');
  operator = await signIn(operatorId, 'staff@example.com', ['operators']);
  const org = await owner.post('/v1/organizations', { name: 'Audited' });
  orgId = org.body.id;
  const O = `/v1/organizations/${orgId}`;
  const ok = async (p: Promise<{ status: number; text: string }>, status: number) => expect((await p).status, (await p).text).toBe(status);
  await ok(operator.patch(O, { plan: 'starter' }), 200);
  await ok(operator.post(`${O}/credits`, { amount: 25, reason: 'welcome' }), 200);
  await ok(owner.put(`${O}/members/${memberId}`, { role: 'member' }), 200);
  await ok(owner.put(`${O}/members/${adminId}`, { role: 'member' }), 200);
  await ok(owner.put(`${O}/members/${adminId}`, { role: 'admin' }), 200);
  await ok(owner.delete(`${O}/members/${memberId}`), 204);
  await ok(owner.put(`${O}/members/${memberId}`, { role: 'member' }), 200);
  await ok(owner.post(`${O}/databases`, { name: 'Docs' }), 201);
  const key = await owner.post(`${O}/api-keys`, { name: 'Backend', type: 'secret' });
  keyId = key.body.id;
  plaintext = key.body.key;
  await ok(owner.patch(`${O}/api-keys/${keyId}`, { name: 'Backend 2' }), 200);
  await ok(owner.patch(`${O}/api-keys/${keyId}`, { status: 'disabled' }), 200);
  await ok(owner.patch(`${O}/api-keys/${keyId}`, { status: 'active' }), 200);
  const rolled = await owner.post(`${O}/api-keys/${keyId}/roll`, { gracePeriodHours: 1 });
  expect(rolled.status).toBe(201);
  await ok(owner.delete(`${O}/api-keys/${rolled.body.id}`), 204);
  const res = await owner.get(`${O}/audit-log?limit=100`);
  expect(res.status, res.text).toBe(200);
  log = res.body.items;
});

afterAll(async () => {
  await keygate?.stop();
});

const user = (id: string, email: string) => ({ type: 'user', id, email });

describe('entries', () => {
  it('one per change, newest first, each by its actor', () => {
    const owner_ = user(ownerId, 'owner@example.com');
    const staff = { type: 'operator', id: operatorId, email: 'staff@example.com' };
    // Oldest first here, as the requests were made; the API returns them newest first.
    const expected = [
      ['organization.created', owner_, 'organization'],
      ['organization.updated', staff, 'organization'],
      ['credits.granted', staff, 'organization'],
      ['member.added', owner_, 'member'],
      ['member.added', owner_, 'member'],
      ['member.updated', owner_, 'member'],
      ['member.removed', owner_, 'member'],
      ['member.added', owner_, 'member'],
      ['database.created', owner_, 'database'],
      ['api_key.created', owner_, 'api_key'],
      ['api_key.updated', owner_, 'api_key'],
      ['api_key.disabled', owner_, 'api_key'],
      ['api_key.enabled', owner_, 'api_key'],
      ['api_key.rolled', owner_, 'api_key'],
      ['api_key.revoked', owner_, 'api_key'],
    ].reverse();
    // The Default assistant is created in the organization's creation transaction: same time, so
    // its entry's place beside organization.created is not promised; it is checked on its own.
    const ordered = log.filter((e) => e.action !== 'assistant.created');
    expect(ordered.map((e) => [e.action, e.actor, e.target.type])).toEqual(expected);
    const assistants = log.filter((e) => e.action === 'assistant.created');
    expect(assistants.map((e) => [e.action, e.actor, e.target.type])).toEqual([['assistant.created', owner_, 'assistant']]);
    expect(assistants[0]!.occurredAt).toBe(log.find((e) => e.action === 'organization.created')!.occurredAt);
  });

  it('have the contract shape: id, action, actor, target, occurredAt, requestId, sourceIp, userAgent, changes', () => {
    for (const entry of log) {
      expect(Object.keys(entry).sort()).toEqual(
        ['action', 'actor', 'changes', 'id', 'occurredAt', 'requestId', 'sourceIp', 'target', 'userAgent'].sort(),
      );
      expect(new Date(entry.occurredAt).toISOString()).toBe(entry.occurredAt);
      expect(entry.requestId).toEqual(expect.any(String));
      expect(entry.sourceIp).toBe('127.0.0.1');
      expect(entry.userAgent).toBe('audit-test/1.0');
    }
    const times = log.map((e) => e.occurredAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('list the changed fields as {field, from, to}', () => {
    const find = (action: string) => log.find((e) => e.action === action);
    expect(find('organization.updated').changes).toEqual([{ field: 'plan', from: 'free', to: 'starter' }]);
    expect(find('credits.granted').changes).toEqual([
      { field: 'credits', from: 100, to: 125 },
      { field: 'reason', from: null, to: 'welcome' },
    ]);
    expect(find('member.updated')).toMatchObject({ target: { id: adminId }, changes: [{ field: 'role', from: 'member', to: 'admin' }] });
    expect(find('member.removed')).toMatchObject({ target: { id: memberId }, changes: [{ field: 'role', from: 'member', to: null }] });
    expect(find('api_key.updated').changes).toEqual([{ field: 'name', from: 'Backend', to: 'Backend 2' }]);
    expect(find('api_key.disabled').changes).toEqual([{ field: 'status', from: 'active', to: 'disabled' }]);
    expect(find('api_key.enabled').changes).toEqual([{ field: 'status', from: 'disabled', to: 'active' }]);
    expect(find('api_key.created').changes).toContainEqual({ field: 'name', from: null, to: 'Backend' });
  });

  it('never hold a key plaintext', () => {
    expect(JSON.stringify(log)).not.toContain(plaintext);
    expect(JSON.stringify(log)).not.toContain(plaintext.slice(3));
  });
});

describe('reading', () => {
  const path = () => `/v1/organizations/${orgId}/audit-log`;

  it('pages with a cursor, without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const res: any = await owner.get(`${path()}?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(4);
      seen.push(...res.body.items.map((e: any) => e.id));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(log.map((e) => e.id));
  });

  it('filters by action, target and time', async () => {
    const byAction = await owner.get(`${path()}?action=member.added`);
    expect(byAction.body.items.map((e: any) => e.action)).toEqual(['member.added', 'member.added', 'member.added']);
    const byTarget = await owner.get(`${path()}?targetId=${keyId}`);
    expect(byTarget.body.items.map((e: any) => e.action)).toEqual([
      'api_key.rolled',
      'api_key.enabled',
      'api_key.disabled',
      'api_key.updated',
      'api_key.created',
    ]);
    const both = await owner.get(`${path()}?targetId=${keyId}&action=api_key.disabled&limit=1`);
    expect(both.body.items.map((e: any) => e.action)).toEqual(['api_key.disabled']);
    const pivot = log.find((e) => e.action === 'database.created');
    const after = await owner.get(`${path()}?from=${pivot.occurredAt}`);
    expect(after.body.items.every((e: any) => e.occurredAt >= pivot.occurredAt)).toBe(true);
    expect(after.body.items.map((e: any) => e.id)).toContain(pivot.id);
    const before = await owner.get(`${path()}?to=${pivot.occurredAt}`);
    expect(before.body.items.every((e: any) => e.occurredAt < pivot.occurredAt)).toBe(true);
    expect(before.body.items.length + after.body.items.length).toBe(log.length);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['action=api_key.deleted', 'action'],
    ['from=yesterday', 'from'],
    ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
    ['cursor=nope', 'cursor'],
    [`cursor=${Buffer.from('{"id":"x"}').toString('base64url')}`, 'cursor'],
    [`targetId=${'x'.repeat(257)}`, 'targetId'],
  ])('refuses %s with 400 naming the field', async (query, field) => {
    const res = await owner.get(`${path()}?${query}`);
    expect(res.status, res.text).toBe(400);
    expect(res.body.details.map((d: any) => d.field)).toContain(field);
  });

  it('is for owners, admins and operators; members get 403, outsiders 404', async () => {
    expect((await (await signIn(adminId, 'a@example.com')).get(path())).status).toBe(200);
    expect((await operator.get(path())).status).toBe(200);
    const member = await (await signIn(memberId, 'm@example.com')).get(path());
    expect(member.status).toBe(403);
    expect(member.body.code).toBe('INSUFFICIENT_PERMISSIONS');
    const outsider = await (await signIn(uniqueUser('x'), 'x@example.com')).get(path());
    expect(outsider.status).toBe(404);
  });
});
