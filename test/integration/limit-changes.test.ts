// Limit changes against DynamoDB Local: whatever order the copies of two changes land in, every
// key ends with the organization's newest limits (the copy carries the organization's
// limitsVersion and only replaces an older one).
import { beforeAll, describe, expect, it } from 'vitest';
import { db } from '../../shared/db/client.ts';
import { mintKey } from '../../shared/domain/key-mint.ts';
import { propagateOrgLimits, putNewKey, requireKey } from '../../shared/db/api-keys.ts';
import { createOrganization, updatePlan } from '../../shared/db/organizations.ts';
import { admit, applyOrgLimits, counterStore } from '../../shared/db/rate-limits.ts';
import { tokenStore } from '../../shared/db/token-windows.ts';
import { TAKEOVER_MS } from '../../shared/limits/limit-change.ts';
import { dailyUsage } from '../../shared/db/usage.ts';
import type { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import { effectiveLimits, type Limits, type RateSubject } from '../../shared/domain/plans.ts';
import { TEST_AUDIT } from '../support/audit.ts';
import { newKeySettings } from '../support/keys.ts';
import { widenDbPools } from '../support/db-pool.ts';

const PREFIXES = { secret: 'sk_', publishable: 'pk_' };

// Bursts of up to 200 calls from one process: a socket pool as wide (see rate-limits.test.ts).
beforeAll(() => {
  widenDbPools();
});

async function newKey(organizationId: string) {
  const { item } = mintKey(newKeySettings({ organizationId, orgLimits: { perMinute: 600, perDay: 100_000 } }), PREFIXES, new Date());
  await putNewKey(item, TEST_AUDIT, new Date());
  return item.id;
}

describe('limit changes reach every key in order', () => {
  it('two changes whose copies land in the opposite order leave every key on the newer one', { timeout: 30_000 }, async () => {
    const org = await createOrganization('Limits Co', 'owner-1', 100, TEST_AUDIT, new Date());
    const keys = await Promise.all(Array.from({ length: 8 }, () => newKey(org.id)));
    const first = await updatePlan(org, { plan: 'enterprise', limits: { perMinute: 5_000, perDay: 1_000_000 } }, TEST_AUDIT, new Date());
    const second = await updatePlan(first, { limits: { perMinute: 5, perDay: 1_000_000 } }, TEST_AUDIT, new Date());
    // The newer change's copy lands first, the older one's after it (a slower PATCH).
    await propagateOrgLimits(org.id, effectiveLimits(second.plan, second.limits), second.limitsVersion ?? 0);
    await propagateOrgLimits(org.id, effectiveLimits(first.plan, first.limits), first.limitsVersion ?? 0);
    for (const keyId of keys) {
      expect((await requireKey(org.id, keyId)).orgLimits).toEqual({ perMinute: 5, perDay: 1_000_000 });
      expect((await requireKey(org.id, keyId)).orgLimitsVersion).toBe(second.limitsVersion);
    }
    expect(second.limitsVersion).toBeGreaterThan(first.limitsVersion ?? 0);
  });

  it("a key the PATCH's copy did not reach gets the newer copy at its first request, decided under the newer limits", { timeout: 30_000 }, async () => {
    const org = await createOrganization('Limits Co', 'owner-1', 100, TEST_AUDIT, new Date());
    const keyId = await newKey(org.id);
    // The change is stored and applied to the counters, but its copy onto the keys failed.
    const changed = await updatePlan(org, { plan: 'enterprise', limits: { perMinute: 3, perDay: 1_000, tokensPerDay: 50_000 } }, TEST_AUDIT, new Date());
    await applyOrgLimits(org.id, { v: changed.limitsVersion ?? 0, limits: { perMinute: 3, perDay: 1_000 } }, new Date());
    const stale = await requireKey(org.id, keyId);
    expect(stale.orgLimits).toEqual({ perMinute: 600, perDay: 100_000 });
    const request = { organizationId: org.id, keyId, orgLimits: stale.orgLimits, orgLimitsVersion: stale.orgLimitsVersion ?? 0, keyLimits: null };
    const headers = await admit(request, new Date());
    expect(headers['X-RateLimit-Limit']).toBe('3');
    const repaired = await requireKey(org.id, keyId);
    expect(repaired.orgLimits).toEqual({ perMinute: 3, perDay: 1_000, tokensPerDay: 50_000 });
    expect(repaired.orgLimitsVersion).toBe(changed.limitsVersion);
  });
});

// Admission against DynamoDB Local while limits change in the middle of a window. The requests
// carry their key's copy of the limits and its version; the first request of a newer version
// applies it to what every counter item of the organization has counted (and a limit change
// applies it itself: applyOrgLimits), so a request with an older copy is decided under the newer.
describe('a changed limit applies to what the window has counted, on every path', () => {
  const T = new Date('2031-06-07T10:20:30.000Z');
  const subject = (organizationId: string, orgLimits: Limits, orgLimitsVersion: number, keyId = `key_${newId('req').slice(4)}`): RateSubject => ({
    organizationId,
    keyId,
    orgLimits,
    orgLimitsVersion,
    keyLimits: null,
  });
  // Concurrent in bursts of 50: DynamoDB Local on a loaded machine times out larger ones on its item locks.
  async function count(subjects: RateSubject[], now = T) {
    const results: PromiseSettledResult<Record<string, string>>[] = [];
    for (let i = 0; i < subjects.length; i += 50) results.push(...(await Promise.allSettled(subjects.slice(i, i + 50).map((s) => admit(s, now)))));
    const admitted = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Record<string, string>>[];
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as ApiError);
    for (const error of refused) expect(error.code, `${error.name}: ${error.message}`).toBe('RATE_LIMIT_EXCEEDED');
    return { admitted: admitted.map((r) => r.value), refused };
  }
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `key_${String(i).padStart(2, '0')}${newId('req').slice(6)}`);

  it('a lowered limit on the high-volume path admits nothing more once the window has counted it', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const ks = keys(8);
    const before = { perMinute: 15_000, perDay: 6_400 };
    expect((await count(Array.from({ length: 200 }, (_, i) => subject(org, before, 0, ks[i % 8])))).admitted).toHaveLength(200);
    // Lowered to 190 a day: the day has counted 200 already.
    const lowered = { perMinute: 15_000, perDay: 190 };
    const after = await count(Array.from({ length: 60 }, (_, i) => subject(org, lowered, 1, ks[i % 8])));
    expect(after.admitted).toHaveLength(0);
    // Keys still holding the older copy are decided under the newer limits too.
    expect((await count(Array.from({ length: 30 }, (_, i) => subject(org, before, 0, ks[i % 8])))).admitted).toHaveLength(0);
    expect((await dailyUsage({ organizationId: org }, 1, T))[0]!.requests).toBe(200);
  });

  it('a limit lowered above the count admits exactly up to it', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const ks = keys(8);
    expect((await count(Array.from({ length: 150 }, (_, i) => subject(org, { perMinute: 15_000, perDay: 6_400 }, 0, ks[i % 8])))).admitted).toHaveLength(150);
    const after = await count(Array.from({ length: 80 }, (_, i) => subject(org, { perMinute: 15_000, perDay: 160 }, 1, ks[i % 8])));
    expect(after.admitted).toHaveLength(10);
    // Remaining never overstates what the window has left, and the last unit reads 0.
    for (const headers of after.admitted) expect(Number(headers['X-RateLimit-Remaining'])).toBeLessThan(10);
    expect(after.admitted.some((h) => h['X-RateLimit-Remaining'] === '0')).toBe(true);
    expect((await dailyUsage({ organizationId: org }, 1, T))[0]!.requests).toBe(160);
  });

  it('crossing the high-volume threshold and back keeps the day: one count whichever path counted it', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const ks = keys(8);
    const oneItem = { perMinute: 1_000, perDay: 300 };
    const highVolume = { perMinute: 15_000, perDay: 300 };
    let total = 0;
    total += (await count(Array.from({ length: 320 }, (_, i) => subject(org, oneItem, 0, ks[i % 8])))).admitted.length;
    total += (await count(Array.from({ length: 100 }, (_, i) => subject(org, highVolume, 1, ks[i % 8])))).admitted.length;
    total += (await count(Array.from({ length: 100 }, (_, i) => subject(org, oneItem, 2, ks[i % 8])))).admitted.length;
    expect(total).toBe(300);
    expect((await dailyUsage({ organizationId: org }, 1, T))[0]!.requests).toBe(300);
  });

  it('two changes landing in either order: keys with the older copy enforce the newer limit', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const stale = { perMinute: 5_000, perDay: 100_000 };
    const newest = { perMinute: 5, perDay: 100_000 };
    // The newer change (version 2) is applied first, as its PATCH does before copying it to the keys.
    await applyOrgLimits(org, { v: 2, limits: newest }, T);
    const burst = await count(Array.from({ length: 30 }, () => subject(org, stale, 1, 'key_stale0000000000000000000')));
    expect(burst.admitted).toHaveLength(5);
    for (const headers of burst.admitted) expect(headers['X-RateLimit-Limit']).toBe('5');
    // The older change applied late changes nothing.
    await applyOrgLimits(org, { v: 1, limits: stale }, T);
    expect((await count([subject(org, stale, 1)])).admitted).toHaveLength(0);
  });
});

describe('taking over a stalled limit change', () => {
  it('one claim at a time: refused while another is under TAKEOVER_MS old or the item is frozen by another change', async () => {
    const organizationId = newId('org');
    const day = '2031-05-06';
    const version = { v: 2, limits: { perMinute: 2_000, perDay: 20_000 } };
    await counterStore.freeze({ organizationId }, day, version, 'v2');
    const at = Date.parse('2031-05-06T10:00:00Z');
    expect(await counterStore.claimChange({ organizationId }, day, 'v2', at)).toBe(true);
    expect(await counterStore.claimChange({ organizationId }, day, 'v2', at + TAKEOVER_MS - 1)).toBe(false);
    expect(await counterStore.claimChange({ organizationId }, day, 'v3', at + TAKEOVER_MS)).toBe(false);
    expect(await counterStore.claimChange({ organizationId }, day, 'v2', at + TAKEOVER_MS)).toBe(true);
    // The token item's claims are its own.
    expect(await tokenStore.claimTokenChange({ organizationId }, day, 'v2', at + TAKEOVER_MS)).toBe(true);
  });

  it('a shard is claimed only while the change freezes it, once per TAKEOVER_MS', async () => {
    const organizationId = newId('org');
    const day = '2031-05-06';
    const version = { v: 2, limits: { perMinute: 20_000, perDay: 200_000 } };
    const at = Date.parse('2031-05-06T10:00:00Z');
    // Not frozen (here: no item at all): nothing to claim, and no item is written.
    expect(await counterStore.claimChange({ organizationId, shard: 7 }, day, 'v2', at)).toBe(false);
    expect(await counterStore.peek({ organizationId, shard: 7 }, day)).toBeUndefined();
    await counterStore.freeze({ organizationId, shard: 7 }, day, version, 'v2');
    expect(await counterStore.claimChange({ organizationId, shard: 7 }, day, 'v3', at)).toBe(false);
    expect(await counterStore.claimChange({ organizationId, shard: 7 }, day, 'v2', at)).toBe(true);
    expect(await counterStore.claimChange({ organizationId, shard: 7 }, day, 'v2', at + TAKEOVER_MS - 1)).toBe(false);
    expect(await tokenStore.claimTokenChange({ organizationId, shard: 7 }, day, 'v2', at)).toBe(false);
  });
});
