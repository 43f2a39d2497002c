// Key management (portal routes): create, list, get, patch, revoke, roll, usage.
import { prefixesFromEnv } from '../../shared/domain/api-key.ts';
import { ApiError, validationError } from '../../shared/domain/errors.ts';
import { listKeysQuery, parseCreateKey, parsePatchKey, parseRoll, usageQuery } from '../../shared/domain/key-rules.ts';
import { effectiveLimits } from '../../shared/domain/plans.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { mintKey } from '../../shared/domain/key-mint.ts';
import { keyStatus } from '../../shared/domain/key-status.ts';
import { keyView } from '../../shared/domain/key-view.ts';
import {
  listKeys,
  putNewKey,
  requireKey,
  revokeKey,
  setOrgLimits,
  rollKey,
  updateKey,
} from '../../shared/db/api-keys.ts';
import { getDatabase } from '../../shared/db/databases.ts';
import { defaultAssistantOf } from '../../shared/chat/assistants.ts';
import { requireOrganization } from '../../shared/db/organizations.ts';
import { dailyUsage, withExactUsage } from '../../shared/db/usage.ts';
import { auditContext } from '../../shared/http/audit-context.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';
import { json, noContent } from '../../shared/http/response.ts';

const prefixes = prefixesFromEnv();

export async function postKey(req: ApiRequest) {
  const settings = parseCreateKey(req.body);
  const orgId = req.params.orgId!;
  const org = await requireOrganization(orgId);
  const database = settings.databaseId ? await getDatabase(orgId, settings.databaseId) : undefined;
  if (settings.databaseId && !database) {
    throw validationError([{ field: 'databaseId', message: 'does not exist in this organization' }]);
  }
  // A publishable key is pinned when it is made: the assistant given, else its database's, else the org default now.
  const assistantId =
    settings.type === 'publishable'
      ? settings.assistantId || database?.assistantId || (await defaultAssistantOf(org))
      : null;
  const now = new Date();
  const { item, plaintext } = mintKey(
    {
      ...settings,
      assistantId,
      organizationId: orgId,
      orgLimits: effectiveLimits(org.plan, org.limits),
      orgLimitsVersion: org.limitsVersion ?? 0,
      createdBy: req.user!.userId,
    },
    prefixes,
    now,
  );
  await putNewKey(item, auditContext(req), now);
  // A plan change that landed between our read and our write did not see this key: catch up.
  const current = await requireOrganization(orgId);
  if ((current.limitsVersion ?? 0) !== (org.limitsVersion ?? 0)) {
    await setOrgLimits(item.id, effectiveLimits(current.plan, current.limits), current.limitsVersion ?? 0);
  }
  return json(201, keyView(item, now, plaintext));
}

export async function getKeys(req: ApiRequest) {
  const query = parseInput(listKeysQuery, req.query);
  const now = new Date();
  const page = await listKeys(req.params.orgId!, query, now);
  return json(200, { ...page, items: await withExactUsage(req.params.orgId!, page.items, now) });
}

export async function getKey(req: ApiRequest) {
  const now = new Date();
  const [view] = await withExactUsage(req.params.orgId!, [keyView(await requireKey(req.params.orgId!, req.params.keyId!), now)], now);
  return json(200, view);
}

export async function patchKey(req: ApiRequest) {
  const current = await requireKey(req.params.orgId!, req.params.keyId!);
  const patch = parsePatchKey(req.body, current.type);
  const now = new Date();
  if (patch.status === 'active' && keyStatus(current, now) === 'expired') {
    throw new ApiError('CONFLICT', 'An expired key cannot be reactivated; roll or create a new key');
  }
  const [view] = await withExactUsage(current.organizationId, [keyView(await updateKey(current, patch, auditContext(req), now), now)], now);
  return json(200, view);
}

export async function deleteKey(req: ApiRequest) {
  await revokeKey(req.params.orgId!, req.params.keyId!, auditContext(req), new Date());
  return noContent();
}

export async function postRoll(req: ApiRequest) {
  const { gracePeriodHours } = parseRoll(req.body);
  const old = await requireKey(req.params.orgId!, req.params.keyId!);
  const now = new Date();
  const { item, plaintext } = await rollKey(old, gracePeriodHours, req.user!.userId, prefixes, auditContext(req), now);
  return json(201, keyView(item, now, plaintext));
}

export async function getKeyUsage(req: ApiRequest) {
  const { days } = parseInput(usageQuery, req.query);
  const key = await requireKey(req.params.orgId!, req.params.keyId!);
  return json(200, { items: await dailyUsage({ organizationId: key.organizationId, keyId: key.id }, days, new Date()) });
}

export async function getOrganizationUsage(req: ApiRequest) {
  const { days } = parseInput(usageQuery, req.query);
  const org = await requireOrganization(req.params.orgId!);
  return json(200, { items: await dailyUsage({ organizationId: org.id }, days, new Date()) });
}
