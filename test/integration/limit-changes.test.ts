// Limit changes against DynamoDB Local: whatever order the copies of two changes land in, every
// key ends with the organization's newest limits (the copy carries the organization's
// limitsVersion and only replaces an older one).
import { describe, expect, it } from 'vitest';
import { mintKey } from '../../shared/domain/key-mint.ts';
import { propagateOrgLimits, putNewKey, requireKey } from '../../shared/db/api-keys.ts';
import { createOrganization, updatePlan } from '../../shared/db/organizations.ts';
import { effectiveLimits } from '../../shared/domain/plans.ts';
import { TEST_AUDIT } from '../support/audit.ts';

const PREFIXES = { secret: 'sk_', publishable: 'pk_' };

async function newKey(organizationId: string) {
  const { item } = mintKey(
    {
      organizationId,
      name: 'k',
      type: 'secret',
      allowedDomains: [],
      databaseId: null,
      scopes: ['chat'],
      expiresInDays: 30,
      rateLimit: null,
      orgLimits: { perMinute: 600, perDay: 100_000 },
      createdBy: 'owner-1',
    },
    PREFIXES,
    new Date(),
  );
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
});
