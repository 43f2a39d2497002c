// Assistants over HTTP on the local runtime (docs/api.md, "Assistants and who answers"): the routes
// and their roles, 409s, audit entries, `Default` for every organization (made on first use for one
// that predates assistants), databases and keys naming assistants, the publishable-key pin, the
// assistant a session keeps, and the maxInputTokens bound.
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { db } from '../../shared/db/client.ts';
import { PINNED_MESSAGE } from '../../shared/domain/assistants.ts';
import { tableName } from '../../shared/tables.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';
import { APP_ORIGIN, createTestOrg, type TestOrg } from './chat-helpers.ts';

let keygate: LocalKeygate;

beforeAll(async () => {
  keygate = await startTestApi();
});

afterAll(async () => {
  await keygate?.stop();
});

const A = (org: string) => `/v1/organizations/${org}/assistants`;

async function orgWithRoles() {
  const org = await createTestOrg(keygate.url, 'Assistants');
  const adminId = uniqueUser('admin');
  const memberId = uniqueUser('member');
  await org.owner.put(`/v1/organizations/${org.id}/members/${adminId}`, { role: 'admin' });
  await org.owner.put(`/v1/organizations/${org.id}/members/${memberId}`, { role: 'member' });
  return { org, admin: await portalUser(keygate.url, adminId), member: await portalUser(keygate.url, memberId) };
}

async function newAssistant(org: TestOrg, body: Record<string, unknown> = {}) {
  const res = await org.owner.post(A(org.id), { name: uniqueUser('a').slice(0, 50), upstream: 'echo', ...body });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; name: string };
}

async function auditActions(org: TestOrg, targetId: string): Promise<string[]> {
  const log = await org.owner.get(`/v1/organizations/${org.id}/audit-log?targetId=${targetId}`);
  return log.body.items.map((e: { action: string }) => e.action);
}

describe('every organization has Default', () => {
  it('a new organization starts with Default on the default upstream, and names it as its default', async () => {
    const org = await createTestOrg(keygate.url, 'Fresh');
    const got = await org.owner.get(`/v1/organizations/${org.id}`);
    expect(got.body.defaultAssistantId).toMatch(/^asst_/);
    const list = await org.owner.get(A(org.id));
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([
      {
        id: got.body.defaultAssistantId,
        organizationId: org.id,
        name: 'Default',
        upstream: 'echo',
        model: null,
        instructions: '',
        maxInputTokens: 8000,
        maxOutputTokens: 1024,
        temperature: null,
        createdAt: expect.any(String),
      },
    ]);
    expect(await auditActions(org, got.body.defaultAssistantId)).toEqual(['assistant.created']);
  });

  it('an organization from before assistants gets exactly one Default on first use, however many requests race', async () => {
    const org = await createTestOrg(keygate.url, 'Legacy');
    // Make it look like an organization stored before assistants existed.
    const defaultId = (await org.owner.get(`/v1/organizations/${org.id}`)).body.defaultAssistantId as string;
    await db.send(new DeleteCommand({ TableName: tableName('databases'), Key: { organizationId: org.id, id: defaultId } }));
    await db.send(new DeleteCommand({ TableName: tableName('databases'), Key: { organizationId: org.id, id: 'asstname#default' } }));
    await db.send(new UpdateCommand({ TableName: tableName('organizations'), Key: { id: org.id }, UpdateExpression: 'REMOVE defaultAssistantId' }));

    const { api } = await org.secretKey();
    const [sessions, lists, orgs] = await Promise.all([
      Promise.all([1, 2, 3].map(() => api.post('/v1/chat/sessions', {}))),
      Promise.all([1, 2, 3].map(() => org.owner.get(A(org.id)))),
      Promise.all([1, 2].map(() => org.owner.get(`/v1/organizations/${org.id}`))),
    ]);
    for (const res of [...sessions, ...lists, ...orgs]) expect(res.status, res.text).toBeLessThan(300);
    const list = await org.owner.get(A(org.id));
    expect(list.body.items.map((a: { name: string }) => a.name)).toEqual(['Default']);
    const id = list.body.items[0].id;
    expect(id).not.toBe(defaultId);
    expect(new Set([...sessions.map((s) => s.body.assistant.id), ...orgs.map((o) => o.body.defaultAssistantId)])).toEqual(new Set([id]));
    const { Item } = await db.send(new GetCommand({ TableName: tableName('organizations'), Key: { id: org.id }, ConsistentRead: true }));
    expect(Item!.defaultAssistantId).toBe(id);
    const log = await org.owner.get(`/v1/organizations/${org.id}/audit-log?targetId=${id}`);
    expect(log.body.items).toEqual([expect.objectContaining({ action: 'assistant.created', actor: { type: 'system', id: 'keygate', email: null } })]);
  });
});

describe('assistant routes', () => {
  it('creates, reads, changes and deletes an assistant; each change audited in the same transaction', async () => {
    const { org } = await orgWithRoles();
    const created = await org.owner.post(A(org.id), {
      name: 'Support',
      upstream: 'echo',
      instructions: 'Be brief.',
      maxInputTokens: 4000,
      maxOutputTokens: 256,
      temperature: 0.3,
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ name: 'Support', upstream: 'echo', model: null, instructions: 'Be brief.', maxInputTokens: 4000, maxOutputTokens: 256, temperature: 0.3 });
    const id = created.body.id as string;
    expect((await org.owner.get(`${A(org.id)}/${id}`)).body).toEqual(created.body);

    const patched = await org.owner.patch(`${A(org.id)}/${id}`, { name: 'Helpdesk', temperature: null, instructions: 'Be very brief.' });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Helpdesk', temperature: null, instructions: 'Be very brief.', maxOutputTokens: 256 });
    // The old name is free again, the new one is taken.
    expect((await org.owner.post(A(org.id), { name: 'support', upstream: 'echo' })).status).toBe(201);
    expect((await org.owner.post(A(org.id), { name: 'HELPDESK', upstream: 'echo' })).status).toBe(409);

    expect((await org.owner.delete(`${A(org.id)}/${id}`)).status).toBe(204);
    expect((await org.owner.get(`${A(org.id)}/${id}`)).status).toBe(404);
    expect((await org.owner.delete(`${A(org.id)}/${id}`)).status).toBe(404);
    expect(await auditActions(org, id)).toEqual(['assistant.deleted', 'assistant.updated', 'assistant.created']);
    const log = await org.owner.get(`/v1/organizations/${org.id}/audit-log?targetId=${id}&action=assistant.updated`);
    expect(log.body.items[0].changes).toEqual([
      { field: 'name', from: 'Support', to: 'Helpdesk' },
      { field: 'instructions.length', from: 9, to: 14 },
      { field: 'temperature', from: 0.3, to: null },
    ]);
  });

  it.each([
    ['an upstream that is not deployed', { name: 'X', upstream: 'gpt' }, 'upstream'],
    ['a model on an upstream without models', { name: 'X', upstream: 'echo', model: 'm' }, 'model'],
    ['maxInputTokens over 200,000', { name: 'X', upstream: 'echo', maxInputTokens: 200_001 }, 'maxInputTokens'],
    ['temperature over 2', { name: 'X', upstream: 'echo', temperature: 3 }, 'temperature'],
    ['instructions over 8,000 characters', { name: 'X', upstream: 'echo', instructions: 'x'.repeat(8001) }, 'instructions'],
  ])('refuses %s with 400 naming the field', async (_, body, field) => {
    const org = await createTestOrg(keygate.url, 'Bad');
    const res = await org.owner.post(A(org.id), body);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual([field]);
  });

  it('409 for a name in use, Default included', async () => {
    const org = await createTestOrg(keygate.url, 'Names');
    const res = await org.owner.post(A(org.id), { name: 'default', upstream: 'echo' });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('CONFLICT');
  });

  it('members read, only owners change; admins choose a database\'s assistant', async () => {
    const { org, admin, member } = await orgWithRoles();
    const a = await newAssistant(org);
    expect((await member.get(A(org.id))).status).toBe(200);
    expect((await member.get(`${A(org.id)}/${a.id}`)).status).toBe(200);
    for (const client of [admin, member]) {
      expect((await client.post(A(org.id), { name: 'Nope', upstream: 'echo' })).status).toBe(403);
      expect((await client.patch(`${A(org.id)}/${a.id}`, { temperature: 1 })).status).toBe(403);
      expect((await client.delete(`${A(org.id)}/${a.id}`)).status).toBe(403);
      expect((await client.patch(`/v1/organizations/${org.id}`, { defaultAssistantId: a.id })).status).toBe(403);
    }
    const database = await admin.post(`/v1/organizations/${org.id}/databases`, { name: 'Sales', assistantId: a.id });
    expect(database.status, database.text).toBe(201);
    expect(database.body.assistantId).toBe(a.id);
    const patched = await admin.patch(`/v1/organizations/${org.id}/databases/${database.body.id}`, { assistantId: null, name: 'Sales EU' });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Sales EU', assistantId: null });
    expect((await member.patch(`/v1/organizations/${org.id}/databases/${database.body.id}`, { name: 'x' })).status).toBe(403);
    expect(await auditActions(org, database.body.id)).toEqual(['database.updated', 'database.created']);
  });

  it('operators outside the organization change its plan but not its default assistant', async () => {
    const org = await createTestOrg(keygate.url, 'Ops');
    const a = await newAssistant(org);
    const res = await org.operator.patch(`/v1/organizations/${org.id}`, { defaultAssistantId: a.id });
    expect(res.status).toBe(403);
    expect((await org.operator.patch(`/v1/organizations/${org.id}`, { plan: 'starter' })).status).toBe(200);
    expect((await org.owner.patch(`/v1/organizations/${org.id}`, { plan: 'pro' })).status).toBe(403);
  });
});

describe('deleting an assistant something names: 409', () => {
  it('the org default, a database, a key: each refuses the deletion until it names another', async () => {
    const org = await createTestOrg(keygate.url, 'In use');
    const original = (await org.owner.get(`/v1/organizations/${org.id}`)).body.defaultAssistantId as string;
    const a = await newAssistant(org);
    const path = `${A(org.id)}/${a.id}`;

    const setDefault = await org.owner.patch(`/v1/organizations/${org.id}`, { defaultAssistantId: a.id });
    expect(setDefault.status, setDefault.text).toBe(200);
    expect(setDefault.body.defaultAssistantId).toBe(a.id);
    expect((await org.owner.delete(path)).status).toBe(409);
    expect((await org.owner.patch(`/v1/organizations/${org.id}`, { defaultAssistantId: original })).status).toBe(200);

    const database = (await org.owner.post(`/v1/organizations/${org.id}/databases`, { name: 'Docs', assistantId: a.id })).body;
    const refused = await org.owner.delete(path);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain(database.id);
    await org.owner.patch(`/v1/organizations/${org.id}/databases/${database.id}`, { assistantId: null });

    const key = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'w', type: 'publishable', allowedDomains: ['app.example.com'], assistantId: a.id });
    expect(key.status, key.text).toBe(201);
    expect(key.body.assistantId).toBe(a.id);
    expect((await org.owner.delete(path)).status).toBe(409);
    // A revoked key no longer names it.
    expect((await org.owner.delete(`/v1/organizations/${org.id}/api-keys/${key.body.id}`)).status).toBe(204);
    expect((await org.owner.delete(path)).status).toBe(204);

    const log = await org.owner.get(`/v1/organizations/${org.id}/audit-log?targetId=${org.id}&action=organization.updated`);
    expect(log.body.items.map((e: { changes: unknown }) => e.changes)).toEqual([
      [{ field: 'defaultAssistantId', from: a.id, to: original }],
      [{ field: 'defaultAssistantId', from: original, to: a.id }],
      // createTestOrg's plan change (by an operator)
      expect.any(Array),
    ]);
  });

  it('an assistant id that names nothing is 400 on databases, keys and the org default', async () => {
    const org = await createTestOrg(keygate.url, 'Unknown');
    const missing = 'asst_000000000000000000NO';
    expect((await org.owner.post(`/v1/organizations/${org.id}/databases`, { name: 'D', assistantId: missing })).status).toBe(400);
    expect((await org.owner.patch(`/v1/organizations/${org.id}`, { defaultAssistantId: missing })).status).toBe(400);
    const key = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'w', type: 'publishable', allowedDomains: ['a.example.com'], assistantId: missing });
    expect(key.status).toBe(400);
    expect(key.body.details).toEqual([{ field: 'assistantId', message: 'does not exist in this organization' }]);
    expect((await org.owner.get(`/v1/organizations/${org.id}/databases`)).body.items).toEqual([]);
  });
});

describe('who answers', () => {
  it('a publishable key is pinned at creation: the one given, else its database\'s, else the org default then', async () => {
    const org = await createTestOrg(keygate.url, 'Pins');
    const orgDefault = (await org.owner.get(`/v1/organizations/${org.id}`)).body.defaultAssistantId;
    const a = await newAssistant(org);
    const database = (await org.owner.post(`/v1/organizations/${org.id}/databases`, { name: 'D', assistantId: a.id })).body;
    const make = (body: Record<string, unknown>) =>
      org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'w', type: 'publishable', allowedDomains: ['app.example.com'], ...body });
    expect((await make({})).body.assistantId).toBe(orgDefault);
    expect((await make({ databaseId: database.id })).body.assistantId).toBe(a.id);
    const b = await newAssistant(org);
    expect((await make({ databaseId: database.id, assistantId: b.id })).body.assistantId).toBe(b.id);
    // Secret keys are never pinned.
    const secret = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 's', type: 'secret', assistantId: a.id });
    expect(secret.status).toBe(400);
    expect((await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 's', type: 'secret' })).body.assistantId).toBeNull();
    // A later change of the org default leaves a pinned key as it is.
    await org.owner.patch(`/v1/organizations/${org.id}`, { defaultAssistantId: b.id });
    const pinned = (await make({})).body;
    expect(pinned.assistantId).toBe(b.id);
  });

  it('a pinned key answers with its assistant; naming another is 403 (a system prompt too: unit-tested, no route here takes one)', async () => {
    const org = await createTestOrg(keygate.url, 'Pinned');
    const a = await newAssistant(org, { name: 'Widget helper' });
    const other = await newAssistant(org, { name: 'Internal' });
    const created = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'w', type: 'publishable', allowedDomains: ['app.example.com'], assistantId: a.id });
    const api = new ApiClient(keygate.url, { 'X-API-Key': created.body.key, Origin: APP_ORIGIN });

    const session = await api.post('/v1/chat/sessions', {});
    expect(session.status, session.text).toBe(201);
    expect(session.body.assistant).toEqual({ id: a.id, name: 'Widget helper' });
    expect((await api.post('/v1/chat/sessions', { assistant: 'widget helper' })).body.assistant.id).toBe(a.id);

    for (const res of [
      await api.post('/v1/chat/sessions', { assistant: other.id }),
      await api.post('/v1/chat/sessions', { assistant: 'Internal' }),
      await api.post('/v1/chat/message', { message: 'hi', assistant: other.id }),
    ]) {
      expect(res.status, res.text).toBe(403);
      expect(res.body).toMatchObject({ code: 'INSUFFICIENT_PERMISSIONS', message: PINNED_MESSAGE });
    }
    // X-Database-Id does not move a pinned key either.
    const database = (await org.owner.post(`/v1/organizations/${org.id}/databases`, { name: 'D', assistantId: other.id })).body;
    expect((await api.post('/v1/chat/sessions', {}, { 'X-Database-Id': database.id })).body.assistant.id).toBe(a.id);

    // Only an owner's PATCH moves the pin.
    const repinned = await org.owner.patch(`/v1/organizations/${org.id}/api-keys/${created.body.id}`, { assistantId: other.id });
    expect(repinned.status, repinned.text).toBe(200);
    expect(repinned.body.assistantId).toBe(other.id);
    expect((await api.post('/v1/chat/sessions', {})).body.assistant.id).toBe(other.id);
    expect(await auditActions(org, created.body.id)).toEqual(['api_key.updated', 'api_key.created']);
  });

  it('a secret key: the request\'s assistant (id or name), else the database\'s, else the org default', async () => {
    const org = await createTestOrg(keygate.url, 'Secret');
    const orgDefault = (await org.owner.get(`/v1/organizations/${org.id}`)).body.defaultAssistantId;
    const a = await newAssistant(org, { name: 'Analyst' });
    const b = await newAssistant(org, { name: 'Sales' });
    const database = (await org.owner.post(`/v1/organizations/${org.id}/databases`, { name: 'D', assistantId: b.id })).body;
    const { api } = await org.secretKey();
    expect((await api.post('/v1/chat/sessions', {})).body.assistant.id).toBe(orgDefault);
    expect((await api.post('/v1/chat/sessions', { assistant: 'analyst' })).body.assistant.id).toBe(a.id);
    expect((await api.post('/v1/chat/sessions', { assistant: a.id }, { 'X-Database-Id': database.id })).body.assistant.id).toBe(a.id);
    expect((await api.post('/v1/chat/sessions', {}, { 'X-Database-Id': database.id })).body.assistant.id).toBe(b.id);
    const unknown = await api.post('/v1/chat/sessions', { assistant: 'Nobody' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.details).toEqual([{ field: 'assistant', message: 'names no assistant of this organization' }]);
    const oneShot = await api.post('/v1/chat/message', { message: 'hi', assistant: 'Sales' });
    expect(oneShot.status, oneShot.text).toBe(200);
  });

  it('a session keeps the assistant it was created with, whatever changes later', async () => {
    const org = await createTestOrg(keygate.url, 'Keeps');
    const a = await newAssistant(org, { name: 'First', instructions: 'Version one.' });
    const { api } = await org.secretKey();
    const session = (await api.post('/v1/chat/sessions', { assistant: a.id })).body;
    await org.owner.patch(`${A(org.id)}/${a.id}`, { instructions: 'Version two.', name: 'Renamed' });
    await org.owner.patch(`/v1/organizations/${org.id}`, { defaultAssistantId: a.id });
    const { Item } = await db.send(new GetCommand({ TableName: tableName('sessions'), Key: { id: session.sessionId }, ConsistentRead: true }));
    expect(Item!.assistant).toMatchObject({ id: a.id, name: 'First', instructions: 'Version one.' });
    const reply = await fetch(`${keygate.url}/v1/chat/sessions/${session.sessionId}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${session.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: 'hello' }),
    });
    expect(reply.status).toBe(200);
    expect(await reply.text()).toContain('message.completed');
  });
});

describe('maxInputTokens', () => {
  it('400 when the instructions and the newest message alone do not fit, and nothing is charged', async () => {
    const org = await createTestOrg(keygate.url, 'Bound');
    const a = await newAssistant(org, { instructions: 'x'.repeat(50), maxInputTokens: 100 });
    const { api } = await org.secretKey();
    const before = await org.credits();
    const res = await api.post('/v1/chat/message', { message: 'y'.repeat(60), assistant: a.id });
    expect(res.status, res.text).toBe(400);
    expect(res.body.details).toEqual([{ field: 'message', message: expect.stringContaining('maxInputTokens (100)') }]);
    expect(await org.credits()).toBe(before);
    // Small enough: answered.
    expect((await api.post('/v1/chat/message', { message: 'y'.repeat(10), assistant: a.id })).status).toBe(200);
  });
});
