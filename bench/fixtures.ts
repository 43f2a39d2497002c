// What the bench measures against, created over the local API like a user would: an organization on
// the enterprise plan with limits high enough that rate limiting never rejects a bench request, a
// secret key, and a publishable key for mysite.com used from https://app.mysite.com.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { ApiClient, portalUser, type CallResult } from '../test/support/api.ts';

export const ROOT = resolve(import.meta.dirname, '..');
export const ORIGIN = 'https://app.mysite.com';
// Below the high-volume threshold (shared/limits/sharded.ts): figure 1 measures the one-item path's calls.
export const ENTERPRISE_LIMITS = { perMinute: 14_000, perDay: 100_000_000 };

export interface CreatedKey {
  id: string;
  key: string;
}

export interface Fixtures {
  base: string;
  orgId: string;
  secret: CreatedKey;
  publishable: CreatedKey;
  /** X-API-Key client for the secret key. */
  secretClient: ApiClient;
  /** X-API-Key client for the publishable key, sending the allowed Origin. */
  publishableClient: ApiClient;
  /** The organization's owner and a platform operator, signed in to the portal routes. */
  owner: ApiClient;
  operator: ApiClient;
}

function expectStatus(res: CallResult, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${res.text.slice(0, 200)}`);
}

export async function createFixtures(base: string): Promise<Fixtures> {
  const owner = await portalUser(base, `bench-owner-${Date.now()}`);
  const operator = await portalUser(base, `bench-operator-${Date.now()}`, ['operators']);
  const org = await owner.post('/v1/organizations', { name: 'Keygate bench' });
  expectStatus(org, 201, 'create organization');
  const orgId = (org.body as { id: string }).id;
  // Before the keys exist, so their copy of the organization's limits is the enterprise one.
  const patched = await operator.patch(`/v1/organizations/${orgId}`, { plan: 'enterprise', limits: ENTERPRISE_LIMITS });
  expectStatus(patched, 200, 'set enterprise limits');
  const secret = await owner.post(`/v1/organizations/${orgId}/api-keys`, { name: 'bench secret', type: 'secret' });
  expectStatus(secret, 201, 'create secret key');
  const publishable = await owner.post(`/v1/organizations/${orgId}/api-keys`, {
    name: 'bench publishable',
    type: 'publishable',
    allowedDomains: ['mysite.com'],
  });
  expectStatus(publishable, 201, 'create publishable key');
  const s = secret.body as CreatedKey;
  const p = publishable.body as CreatedKey;
  return {
    base,
    orgId,
    secret: { id: s.id, key: s.key },
    publishable: { id: p.id, key: p.key },
    secretClient: new ApiClient(base, { 'X-API-Key': s.key }),
    publishableClient: new ApiClient(base, { 'X-API-Key': p.key, Origin: ORIGIN }),
    owner,
    operator,
  };
}

export function moduleUrl(entry: string): string {
  return pathToFileURL(resolve(ROOT, entry)).href;
}

/**
 * Why a function cannot serve yet: the import error of its entry (work in progress elsewhere), or
 * otherwise the HTTP answer it gave.
 */
export async function whyNotServing(entry: string, res?: CallResult): Promise<string> {
  try {
    await import(moduleUrl(entry));
  } catch (error) {
    const first = String((error as Error).message ?? error).split('\n')[0] ?? '';
    return `${entry} does not load: ${first.replaceAll(`${ROOT}/`, '')}`;
  }
  if (!res) return 'unknown';
  const code = (res.body as { code?: string } | undefined)?.code;
  return `HTTP ${res.status}${code ? ` ${code}` : ''}`;
}
