// Webhooks end to end on the local runtime (docs/api.md "Webhooks"): the routes, and deliveries to
// receivers on 127.0.0.1 from the changes themselves (stream) and from the expiry sweep (time
// injected). Signatures are checked with a reference implementation written from the contract's
// formula (test/support/webhook-receiver.ts). This file runs on its own stage (fresh tables) with webhook events on.
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { db } from '../../shared/db/client.ts';
import { tableName } from '../../shared/tables.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';
import { Receiver, verifySignature } from '../support/webhook-receiver.ts';

const DAY = 86_400_000;

let keygate: LocalKeygate;
let receiver: Receiver;
let owner: ApiClient;
let operator: ApiClient;
let orgId: string;
const secrets: string[] = [];
const O = () => `/v1/organizations/${orgId}`;

async function newWebhook(path: string, events: string[], org = orgId) {
  const res = await owner.post(`/v1/organizations/${org}/webhooks`, { url: receiver.url + path, events });
  expect(res.status, res.text).toBe(201);
  secrets.push(res.body.secret);
  return res.body as { id: string; secret: string };
}

async function newOrg() {
  const res = await owner.post('/v1/organizations', { name: 'Hooks' });
  return res.body.id as string;
}

beforeAll(async () => {
  process.env.WEBHOOK_RETRY_SCALE = '0.01'; // 30 s -> 0.3 s, 2 min -> 1.2 s: the schedule, faster
  receiver = new Receiver();
  await receiver.start();
  keygate = await startTestApi({ stage: `wh${Math.random().toString(36).slice(2, 8)}`, webhookEvents: true });
  owner = await portalUser(keygate.url, uniqueUser('owner'));
  operator = await portalUser(keygate.url, uniqueUser('staff'), ['operators']);
  orgId = await newOrg();
});

afterAll(async () => {
  await keygate?.stop();
  await receiver?.stop();
});

describe('webhook routes', () => {
  it('creates a webhook with a whsec_ secret shown once, lists it without, deletes it; each change audited', async () => {
    const org = await newOrg();
    const created = await owner.post(`/v1/organizations/${org}/webhooks`, { url: `${receiver.url}/ok`, events: ['api_key.revoked'] });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^wh_/),
      url: `${receiver.url}/ok`,
      events: ['api_key.revoked'],
      createdAt: expect.any(String),
      secret: expect.stringMatching(/^whsec_[0-9A-Za-z]{32}$/),
    });
    secrets.push(created.body.secret);
    const list = await owner.get(`/v1/organizations/${org}/webhooks`);
    expect(list.body).toEqual({ items: [{ id: created.body.id, url: `${receiver.url}/ok`, events: ['api_key.revoked'], createdAt: created.body.createdAt }] });
    expect((await owner.delete(`/v1/organizations/${org}/webhooks/${created.body.id}`)).status).toBe(204);
    expect((await owner.delete(`/v1/organizations/${org}/webhooks/${created.body.id}`)).status).toBe(404);
    expect((await owner.get(`/v1/organizations/${org}/webhooks`)).body.items).toEqual([]);
    const log = await owner.get(`/v1/organizations/${org}/audit-log?targetId=${created.body.id}`);
    expect(log.body.items.map((e: any) => e.action)).toEqual(['webhook.deleted', 'webhook.created']);
    expect(JSON.stringify(log.body)).not.toContain(created.body.secret);
  });

  it('allows at most 10 per organization (409 for the 11th)', async () => {
    const org = await newOrg();
    for (let i = 0; i < 10; i++) await newWebhook('/ok', ['credits.low'], org);
    const eleventh = await owner.post(`/v1/organizations/${org}/webhooks`, { url: `${receiver.url}/ok`, events: ['credits.low'] });
    expect(eleventh.status).toBe(409);
    expect(eleventh.body.code).toBe('CONFLICT');
  });

  it.each([
    [{ url: 'http://example.com/hook', events: ['api_key.revoked'] }, 'url'],
    [{ url: 'https://10.0.0.8/hook', events: ['api_key.revoked'] }, 'url'],
    [{ url: 'https://169.254.169.254/latest', events: ['api_key.revoked'] }, 'url'],
    [{ url: 'https://[::1]/hook', events: ['api_key.revoked'] }, 'url'],
    [{ url: 'https://user:pw@example.com/', events: ['api_key.revoked'] }, 'url'],
    [{ url: 'not a url', events: ['api_key.revoked'] }, 'url'],
    [{ url: 'https://example.com/', events: [] }, 'events'],
    [{ url: 'https://example.com/', events: ['ping'] }, 'events[0]'],
    [{ url: 'https://example.com/', events: ['credits.low', 'credits.low'] }, 'events'],
    [{ url: 'https://example.com/' }, 'events'],
  ])('refuses %j with 400 naming %s', async (body, field) => {
    const res = await owner.post(`${O()}/webhooks`, body);
    expect(res.status, res.text).toBe(400);
    expect(res.body.details.map((d: any) => d.field)).toContain(field);
  });

  it('keeps the secret only as ciphertext', async () => {
    const { Items = [] } = await db.send(new ScanCommand({ TableName: tableName('webhooks') }));
    expect(Items.length).toBeGreaterThan(0);
    const stored = JSON.stringify(Items);
    for (const secret of secrets) expect(stored).not.toContain(secret);
    for (const item of Items) expect(item.secretCiphertext).toMatch(/^local:/);
  });
});

describe('deliveries', () => {
  it('a revoke gives an audit entry and, within a minute, a signed api_key.revoked delivery to 127.0.0.1', async () => {
    const hook = await newWebhook('/ok', ['api_key.revoked']);
    const key = await owner.post(`${O()}/api-keys`, { name: 'Doomed', type: 'secret' });
    const revokedAt = Date.now();
    expect((await owner.delete(`${O()}/api-keys/${key.body.id}`)).status).toBe(204);
    const log = await owner.get(`${O()}/audit-log?targetId=${key.body.id}&action=api_key.revoked`);
    expect(log.body.items).toHaveLength(1);
    await receiver.waitFor(() => receiver.of('/ok', 'api_key.revoked').some((r) => r.body.data.keyId === key.body.id));
    const delivery = receiver.of('/ok', 'api_key.revoked').find((r) => r.body.data.keyId === key.body.id)!;
    expect(delivery.at - revokedAt).toBeLessThan(60_000);
    expect(delivery.body).toEqual({
      id: expect.stringMatching(/^evt_/),
      type: 'api_key.revoked',
      createdAt: expect.any(String),
      organizationId: orgId,
      data: expect.objectContaining({ keyId: key.body.id, name: 'Doomed', type: 'secret' }),
    });
    expect(delivery.headers['content-type']).toBe('application/json');
    const signature = verifySignature(delivery.headers['keygate-signature'] as string, delivery.raw, hook.secret);
    expect(signature.ok).toBe(true);
    expect(Math.abs(signature.t - Math.floor(delivery.at / 1000))).toBeLessThanOrEqual(5);
    // Another secret does not verify, and neither does a changed body.
    expect(verifySignature(delivery.headers['keygate-signature'] as string, delivery.raw, secrets[0]!).ok).toBe(false);
    expect(verifySignature(delivery.headers['keygate-signature'] as string, delivery.raw + ' ', hook.secret).ok).toBe(false);
    expect(JSON.stringify(delivery.body)).not.toContain(key.body.key);
  });

  it('a receiver that fails twice gets the event a third time, with the same id and body', async () => {
    const hook = await newWebhook('/flaky', ['api_key.rolled']);
    const test = await owner.post(`${O()}/webhooks/${hook.id}/test`);
    expect(test.status, test.text).toBe(202);
    expect(test.body).toEqual({ id: expect.stringMatching(/^evt_/), type: 'ping' });
    await receiver.waitFor(() => receiver.of('/flaky').filter((r) => r.body.id === test.body.id).length >= 3, 30_000);
    const attempts = receiver.of('/flaky').filter((r) => r.body.id === test.body.id);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.raw)).size).toBe(1);
    expect(attempts[0]!.body).toMatchObject({ type: 'ping', organizationId: orgId, data: { webhookId: hook.id } });
    for (const a of attempts) expect(verifySignature(a.headers['keygate-signature'] as string, a.raw, hook.secret).ok).toBe(true);
    // Backoff: the second attempt waited at least the (scaled) 30 s, the third the (scaled) 2 minutes.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(300 - 50);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(1200 - 50);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.of('/flaky').filter((r) => r.body.id === test.body.id)).toHaveLength(3);
  });

  it('a receiver that never answers does not hold up the others', async () => {
    const org = await newOrg();
    await newWebhook('/hang', ['api_key.rolled'], org);
    await newWebhook('/ok', ['api_key.rolled'], org);
    const key = await owner.post(`/v1/organizations/${org}/api-keys`, { name: 'Rolled', type: 'secret' });
    const rolledAt = Date.now();
    const rolled = await owner.post(`/v1/organizations/${org}/api-keys/${key.body.id}/roll`, { gracePeriodHours: 1 });
    expect(rolled.status).toBe(201);
    await receiver.waitFor(() => receiver.of('/ok', 'api_key.rolled').some((r) => r.body.data.keyId === key.body.id), 9_000);
    const ok = receiver.of('/ok', 'api_key.rolled').find((r) => r.body.data.keyId === key.body.id)!;
    expect(ok.body.data).toMatchObject({ keyId: key.body.id, newKeyId: rolled.body.id });
    expect(ok.at - rolledAt).toBeLessThan(9_000); // well before the hanging attempt's 10 s timeout
    // The hanging receiver got the same event (and is still holding its attempt open).
    await receiver.waitFor(() => receiver.of('/hang', 'api_key.rolled').some((r) => r.body.id === ok.body.id), 5_000);
  });

  it('credits.low when the balance falls to 10 or below, credits.exhausted at 0, each on the crossing', async () => {
    const org = await newOrg();
    await newWebhook('/ok', ['credits.low', 'credits.exhausted'], org);
    const grant = (amount: number) => operator.post(`/v1/organizations/${org}/credits`, { amount });
    // Only a user's first organization starts with credits: bring this one to 15 from whatever it has.
    const { credits } = (await operator.get(`/v1/organizations/${org}`)).body;
    expect((await grant(15 - credits)).body.credits).toBe(15);
    expect((await grant(-5)).body.credits).toBe(10); // crosses: low
    expect((await grant(-4)).body.credits).toBe(6); // already low: nothing
    expect((await grant(-6)).body.credits).toBe(0); // exhausted
    const mine = () => receiver.of('/ok').filter((r) => r.body.organizationId === org);
    await receiver.waitFor(() => mine().length >= 2);
    await new Promise((r) => setTimeout(r, 1000));
    // Deliveries are at least once, in no promised order: compare what arrived, not when.
    expect(sortedPairs(mine().map((r) => [r.body.type, r.body.data.credits]))).toEqual(sortedPairs([
      ['credits.low', 10],
      ['credits.exhausted', 0],
    ]));
  });
});

/** Deliveries in a fixed order, so tests compare the set of events received (order is not promised). */
function sortedPairs(pairs: unknown[][]): unknown[][] {
  return [...pairs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

describe('expiry notices (sweep with injected time)', () => {
  it('a key seven days from expiry gets exactly one api_key.expiring however often the sweep runs, then 1 day, then expired', async () => {
    const org = await newOrg();
    const hook = await newWebhook('/ok', ['api_key.expiring', 'api_key.expired'], org);
    const key = await owner.post(`/v1/organizations/${org}/api-keys`, { name: 'Short', type: 'secret', expiresInDays: 7 });
    const expiresAt = Date.parse(key.body.expiresAt);
    const notices = () => receiver.of('/ok').filter((r) => r.body.data.keyId === key.body.id);
    const now = Date.now();
    for (const at of [now, now, now + 3_600_000, now + 2 * DAY]) await keygate.webhooks.sweep(new Date(at));
    await Promise.all([1, 2, 3].map(() => keygate.webhooks.sweep(new Date(now + 3 * DAY))));
    await receiver.waitFor(() => notices().length >= 1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(notices().map((r) => [r.body.type, r.body.data.daysBeforeExpiry])).toEqual([['api_key.expiring', 7]]);
    expect(verifySignature(notices()[0]!.headers['keygate-signature'] as string, notices()[0]!.raw, hook.secret).ok).toBe(true);

    for (const at of [expiresAt - DAY + 60_000, expiresAt - 3_600_000]) await keygate.webhooks.sweep(new Date(at));
    for (const at of [expiresAt + 60_000, expiresAt + DAY, expiresAt + 30 * DAY]) await keygate.webhooks.sweep(new Date(at));
    await receiver.waitFor(() => notices().length >= 3);
    await new Promise((r) => setTimeout(r, 1500));
    expect(sortedPairs(notices().map((r) => [r.body.type, r.body.data.daysBeforeExpiry ?? null]))).toEqual(sortedPairs([
      ['api_key.expiring', 7],
      ['api_key.expiring', 1],
      ['api_key.expired', null],
    ]));
    expect(new Set(notices().map((r) => r.body.id)).size).toBe(3);
  });

  it('a 365-day key gets its 30-day notice at 335 days, and nothing before', async () => {
    const org = await newOrg();
    await newWebhook('/ok', ['api_key.expiring'], org);
    const key = await owner.post(`/v1/organizations/${org}/api-keys`, { name: 'Long', type: 'secret' });
    const expiresAt = Date.parse(key.body.expiresAt);
    const notices = () => receiver.of('/ok').filter((r) => r.body.data.keyId === key.body.id);
    await keygate.webhooks.sweep(new Date(expiresAt - 31 * DAY));
    await keygate.webhooks.sweep(new Date(expiresAt - 30 * DAY + 1000));
    await keygate.webhooks.sweep(new Date(expiresAt - 29 * DAY));
    await receiver.waitFor(() => notices().length >= 1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(notices().map((r) => r.body.data.daysBeforeExpiry)).toEqual([30]);
  });

  it('a revoked key gets no expiry notice', async () => {
    const org = await newOrg();
    await newWebhook('/ok', ['api_key.expiring', 'api_key.expired'], org);
    const key = await owner.post(`/v1/organizations/${org}/api-keys`, { name: 'Gone', type: 'secret', expiresInDays: 7 });
    await owner.delete(`/v1/organizations/${org}/api-keys/${key.body.id}`);
    const expiresAt = Date.parse(key.body.expiresAt);
    for (const at of [Date.now(), expiresAt - 3_600_000, expiresAt + DAY]) await keygate.webhooks.sweep(new Date(at));
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.of('/ok').filter((r) => r.body.data.keyId === key.body.id)).toEqual([]);
  });
});
