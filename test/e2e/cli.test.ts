// The operator CLI end to end, as an operator runs it (a separate `node cli/keygate.ts` process)
// against the local runtime's DynamoDB: a leaked key found by its plaintext, its display prefix and
// its id, revoked, and refused by the local API on the next request; exit codes and --json.
import { execFile } from 'node:child_process';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { db } from '../../shared/db/client.ts';
import { tableName } from '../../shared/tables.ts';
import { ApiClient, portalUser, startTestApi, uniqueUser } from '../support/api.ts';
import { TEST_STAGE } from '../support/stage.ts';

const CLI = fileURLToPath(new URL('../../cli/keygate.ts', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Run the CLI on the test DynamoDB Local's tables (DYNAMODB_ENDPOINT, as `npm start` reads it). */
function keygateCli(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args, '--stage', TEST_STAGE],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, DYNAMODB_ENDPOINT: inject('dynamodbEndpoint') }, timeout: 30_000 },
      (error, stdout, stderr) => {
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr, json });
      },
    );
    child.stdin!.end(stdin ?? '');
  });
}

let keygate: LocalKeygate;
let owner: ApiClient;
let api: ApiClient;
let orgId: string;
let ownerId: string;
let leaked: { id: string; key: string; displayKey: string };
let widget: { id: string; key: string };

beforeAll(async () => {
  keygate = await startTestApi();
  ownerId = uniqueUser('owner');
  owner = await portalUser(keygate.url, ownerId);
  api = new ApiClient(keygate.url);
  orgId = (await owner.post('/v1/organizations', { name: 'Leaky Ltd' })).body.id;
  const created = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'Backend', type: 'secret' });
  expect(created.status, created.text).toBe(201);
  leaked = created.body;
  const pk = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'Site', type: 'publishable', allowedDomains: ['mysite.com'] });
  expect(pk.status, pk.text).toBe(201);
  widget = pk.body;
  expect((await api.get('/v1/auth/whoami', { 'X-API-Key': leaked.key })).status).toBe(200);
});

afterAll(async () => {
  await keygate?.stop();
});

describe('keygate keys find', () => {
  it('finds a leaked key by its plaintext (read from stdin), and prints neither the key nor its hash', async () => {
    const run = await keygateCli(['keys', 'find', '-', '--json'], `${leaked.key}\n`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.matchedBy).toBe('plaintext');
    expect(run.json.items).toHaveLength(1);
    expect(run.json.items[0]).toMatchObject({
      id: leaked.id,
      organizationId: orgId,
      name: 'Backend',
      type: 'secret',
      status: 'active',
      displayKey: leaked.displayKey,
      createdBy: ownerId,
      revokedAt: null,
    });
    expect(run.json.items[0].usageCount).toBeGreaterThanOrEqual(1);
    expect(run.stdout + run.stderr).not.toContain(leaked.key);
    expect(run.stdout).not.toMatch(/keyHash|[0-9a-f]{64}/);
  });

  it('finds it by plaintext given as an argument too, in text form', async () => {
    const run = await keygateCli(['keys', 'find', leaked.key]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(leaked.id);
    expect(run.stdout).toContain(orgId);
    expect(run.stdout).not.toContain(leaked.key);
  });

  it('finds it by the display prefix the portal shows, with or without the mask', async () => {
    for (const prefix of [leaked.key.slice(0, 8), leaked.displayKey, `${leaked.key.slice(0, 8)}...`]) {
      const run = await keygateCli(['keys', 'find', prefix, '--json']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.json.matchedBy).toBe('display');
      expect(run.json.items.map((k: { id: string }) => k.id)).toContain(leaked.id);
    }
  });

  it('finds a key by id, and never prints a publishable key either', async () => {
    const run = await keygateCli(['keys', 'find', widget.id, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.items[0]).toMatchObject({ id: widget.id, type: 'publishable', allowedDomains: ['mysite.com'] });
    expect(run.stdout).not.toContain(widget.key);
  });

  it('answers exit 3 for a key that is not there, exit 2 for something that is not a key', async () => {
    const unknown = await keygateCli(['keys', 'find', 'key_000000000000000000000000']);
    expect(unknown).toMatchObject({ code: 3, stdout: '' });
    expect(unknown.stderr).toBe('keygate: no key matches this key id\n');
    const garbage = await keygateCli(['keys', 'find', 'hello']);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toMatch(/^keygate: not an API key, a key id/);
  });
});

describe('keygate orgs show and usage', () => {
  it('shows plan, limits, credits, members and key counts', async () => {
    const run = await keygateCli(['orgs', 'show', orgId, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.organization).toMatchObject({ id: orgId, name: 'Leaky Ltd', plan: 'free', credits: 100, ownerCount: 1 });
    expect(run.json.organization.limits).toEqual({ perMinute: 10, perDay: 1000 });
    expect(run.json.members).toEqual([expect.objectContaining({ userId: ownerId, role: 'owner' })]);
    expect(run.json.keys).toEqual({
      secret: { active: 1, disabled: 0, expired: 0, revoked: 0 },
      publishable: { active: 1, disabled: 0, expired: 0, revoked: 0 },
    });
  });

  it('shows usage per UTC day for --days days', async () => {
    const run = await keygateCli(['usage', orgId, '--days', '3', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.items).toHaveLength(3);
    expect(run.json.items[0].date).toBe(new Date().toISOString().slice(0, 10));
    expect(run.json.total.requests).toBeGreaterThanOrEqual(1);
    expect((await keygateCli(['usage', orgId, '--days', '0'])).code).toBe(2);
    expect((await keygateCli(['orgs', 'show', 'org_missing'])).code).toBe(3);
  });
});

describe('keygate keys revoke', () => {
  it('refuses to revoke without a reason, with a key in the reason, or by anything but a key id', async () => {
    expect(await keygateCli(['keys', 'revoke', leaked.id])).toMatchObject({ code: 2 });
    const pasted = await keygateCli(['keys', 'revoke', leaked.id, '--reason', `found ${leaked.key} on a forum`]);
    expect(pasted.code).toBe(2);
    expect(pasted.stderr).toBe('keygate: --reason must not contain an API key: name the key by its id\n');
    const byKey = await keygateCli(['keys', 'revoke', leaked.key, '--reason', 'leaked']);
    expect(byKey.code).toBe(2);
    expect(byKey.stderr).not.toContain(leaked.key);
    expect((await api.get('/v1/auth/whoami', { 'X-API-Key': leaked.key })).status).toBe(200);
  });

  it('refuses an --operator that is not a short name (control characters, a pasted key) before anything is written', async () => {
    for (const operator of ['alice\nactor: someone else', `${leaked.key}`, 'x'.repeat(65), 'bob <b@example.com>']) {
      const run = await keygateCli(['keys', 'revoke', leaked.id, '--reason', 'leaked', '--operator', operator]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/^keygate: --operator must/);
      expect(run.stderr).not.toContain(leaked.key);
    }
    expect((await api.get('/v1/auth/whoami', { 'X-API-Key': leaked.key })).status).toBe(200);
  });

  it('orgs show, usage and audit refuse what is not an organization id (exit 2), before reading anything', async () => {
    for (const args of [['orgs', 'show', 'user#someone'], ['orgs', 'show', `org_${'x'.repeat(2000)}`], ['usage', 'not-an-org'], ['audit', '../org']]) {
      const run = await keygateCli(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toBe('keygate: <org id> must be an organization id (org_…)\n');
    }
  });

  it('revokes the key: the local API refuses it on the next request', async () => {
    const run = await keygateCli(['keys', 'revoke', leaked.id, '--reason', 'posted in a public repository', '--operator', 'alice', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ revoked: true, alreadyRevoked: false, operator: 'alice', reason: 'posted in a public repository' });
    expect(run.json.key).toMatchObject({ id: leaked.id, status: 'revoked' });
    const refused = await api.get('/v1/auth/whoami', { 'X-API-Key': leaked.key });
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ error: 'unauthorized', message: 'Invalid or missing API key', code: 'INVALID_API_KEY' });
    // The organization's API shows it gone, as after the API's own DELETE.
    expect((await owner.get(`/v1/organizations/${orgId}/api-keys/${leaked.id}`)).status).toBe(404);
  });

  it('leaves an audit entry with actor type operator, readable through the API and `keygate audit`', async () => {
    const fromApi = await owner.get(`/v1/organizations/${orgId}/audit-log?action=api_key.revoked`);
    expect(fromApi.status, fromApi.text).toBe(200);
    expect(fromApi.body.items).toHaveLength(1);
    expect(fromApi.body.items[0]).toMatchObject({
      action: 'api_key.revoked',
      actor: { type: 'operator', id: 'alice', email: null },
      target: { type: 'api_key', id: leaked.id },
      userAgent: 'keygate-cli',
      changes: [
        { field: 'status', from: 'active', to: 'revoked' },
        { field: 'revocationReason', from: null, to: 'posted in a public repository' },
      ],
    });
    const run = await keygateCli(['audit', orgId, '--action', 'api_key.revoked', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.items.map((e: { id: string }) => e.id)).toEqual(fromApi.body.items.map((e: { id: string }) => e.id));
    const all = await keygateCli(['audit', orgId]);
    expect(all.stdout).toContain('api_key.created');
    expect(all.stdout).toContain('operator:alice');
    expect((await keygateCli(['audit', orgId, '--action', 'nope'])).code).toBe(2);
    expect((await keygateCli(['audit', orgId, '--cursor', 'garbage'])).code).toBe(2);
  });

  it('reports a second revoke as already done, and find shows the tombstone', async () => {
    const again = await keygateCli(['keys', 'revoke', leaked.id, '--reason', 'again', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ revoked: true, alreadyRevoked: true });
    const found = await keygateCli(['keys', 'find', '-', '--json'], leaked.key);
    expect(found.json.items[0]).toMatchObject({ id: leaked.id, status: 'revoked', revocationReason: 'posted in a public repository' });
    expect(found.json.items[0].revokedAt).toEqual(expect.any(String));
  });
});

describe('keygate notices backfill', () => {
  const stored = async (id: string) => (await db.send(new GetCommand({ TableName: tableName('apiKeys'), Key: { id }, ConsistentRead: true }))).Item!;
  let upgradedOrg: string;
  let legacyId: string;
  let revokedId: string;
  beforeAll(async () => {
    upgradedOrg = (await owner.post('/v1/organizations', { name: 'Upgraded Ltd' })).body.id;
    const make = async (name: string) => (await owner.post(`/v1/organizations/${upgradedOrg}/api-keys`, { name, type: 'secret', expiresInDays: 20 })).body.id as string;
    legacyId = await make('Old backend');
    revokedId = await make('Old leaked');
    // Both as a version before expiry notices stored them; then one is revoked through the API.
    for (const id of [legacyId, revokedId]) {
      await db.send(new UpdateCommand({ TableName: tableName('apiKeys'), Key: { id }, UpdateExpression: 'REMOVE noticeAt, noticeShard' }));
    }
    expect((await owner.call('DELETE', `/v1/organizations/${upgradedOrg}/api-keys/${revokedId}`)).status).toBe(204);
  });

  it('a dry run reports what it would set and writes nothing', async () => {
    const run = await keygateCli(['notices', 'backfill', '--org', upgradedOrg, '--dry-run', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ dryRun: true, organizationId: upgradedOrg, unindexed: 2, set: 1, skipped: { revoked: 1, expired: 0 } });
    expect((await stored(legacyId)).noticeShard).toBeUndefined();
  });

  it('sets the next notice on the legacy key only, with progress on stderr, and a second run changes nothing', async () => {
    const run = await keygateCli(['notices', 'backfill', '--org', upgradedOrg]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^page 1: /m);
    expect(run.stdout).toContain('1 key given its next expiry notice');
    const legacy = await stored(legacyId);
    expect(legacy.noticeShard).toMatch(/^n[0-3]$/);
    // 20 days left: the 30-day notice is past and not sent late; the 7-day one is next.
    expect(legacy.noticeAt).toBe(new Date(Date.parse(legacy.expiresAt) - 7 * 86_400_000).toISOString());
    const revoked = await stored(revokedId);
    expect(revoked.status).toBe('revoked');
    expect(revoked.noticeShard).toBeUndefined();

    const again = await keygateCli(['notices', 'backfill', '--org', upgradedOrg, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ dryRun: false, unindexed: 1, set: 0, skipped: { revoked: 1 }, changedMeanwhile: 0 });
    expect(again.stderr).toBe(''); // --json: nothing but the one document
    expect(await stored(legacyId)).toEqual(legacy);
  });

  it('refuses extra arguments and a malformed --org (exit 2), and an unknown organization (exit 3)', async () => {
    expect((await keygateCli(['notices', 'backfill', 'now'])).code).toBe(2);
    const malformed = await keygateCli(['notices', 'backfill', '--org', 'acme']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--org must be an organization id');
    const unknown = await keygateCli(['notices', 'backfill', '--org', 'org_NoSuchOrganization1']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('no organization has this id');
  });
});

describe('keygate without a target or with bad arguments', () => {
  it('prints help with exit 0 and usage errors with exit 2', async () => {
    const help = await keygateCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('keygate keys find');
    const unknown = await keygateCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
    expect((await keygateCli(['keys', 'find', '--bogus'])).code).toBe(2);
  });
});
