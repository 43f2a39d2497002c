// The audit entry and its change are one transaction (docs/api.md "Audit log"): a change never lands
// without its entry and an entry never without its change. The failure is forced for real: an audit
// context too large for a DynamoDB item (400 KB) makes DynamoDB refuse the whole transaction.
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { mintKey } from '../../shared/domain/key-mint.ts';
import { putNewKey, requireKey, revokeKey, rollKey, updateKey } from '../../shared/db/api-keys.ts';
import { db } from '../../shared/db/client.ts';
import { grantCredits } from '../../shared/db/credits.ts';
import { createDatabase, listDatabases } from '../../shared/db/databases.ts';
import { createOrganization, getMemberRole, getOrganization, listMembershipsOf, removeMember, setMemberRole, updatePlan } from '../../shared/db/organizations.ts';
import { actorContext, type AuditContext } from '../../shared/domain/audit.ts';
import { tableName } from '../../shared/tables.ts';
import { TEST_AUDIT } from '../support/audit.ts';
import { newKeySettings } from '../support/keys.ts';

const PREFIXES = { secret: 'sk_', publishable: 'pk_' };
/** Valid in every way but size: an item holding it exceeds DynamoDB's 400 KB item limit. */
const OVERSIZED: AuditContext = actorContext({ type: 'user', id: 'u', email: null }, { userAgent: 'x'.repeat(420_000) });

async function entries(organizationId: string) {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: tableName('auditLog'),
      KeyConditionExpression: 'organizationId = :o',
      ExpressionAttributeValues: { ':o': organizationId },
      ConsistentRead: true,
    }),
  );
  return Items ?? [];
}

let orgId: string;
beforeAll(async () => {
  orgId = (await createOrganization('Audit Co', 'owner-1', 100, TEST_AUDIT, new Date())).id;
});

async function newKey() {
  const { item } = mintKey(newKeySettings({ organizationId: orgId }), PREFIXES, new Date());
  await putNewKey(item, TEST_AUDIT, new Date());
  return item;
}

describe('a forced transaction failure leaves neither the change nor its entry', () => {
  it('revoke: the key stays active and no entry is written', async () => {
    const key = await newKey();
    const before = (await entries(orgId)).length;
    await expect(revokeKey(orgId, key.id, OVERSIZED, new Date())).rejects.toThrow();
    expect((await requireKey(orgId, key.id)).status).toBe('active');
    expect(await entries(orgId)).toHaveLength(before);
  });

  it('patch, roll: the key is unchanged and no entry is written', async () => {
    const key = await newKey();
    const before = (await entries(orgId)).length;
    await expect(updateKey(key, { name: 'renamed', status: 'disabled' }, OVERSIZED, new Date())).rejects.toThrow();
    await expect(rollKey(key, 1, 'owner-1', PREFIXES, OVERSIZED, new Date())).rejects.toThrow();
    const after = await requireKey(orgId, key.id);
    expect(after).toMatchObject({ name: 'k', status: 'active', expiresAt: key.expiresAt });
    expect(after.rolledTo).toBeUndefined();
    expect(await entries(orgId)).toHaveLength(before);
  });

  it('credit grant and plan change: the organization is unchanged and no entry is written', async () => {
    const org = (await getOrganization(orgId))!;
    const before = (await entries(orgId)).length;
    await expect(grantCredits(orgId, 50, 'promo', OVERSIZED, new Date())).rejects.toThrow();
    await expect(updatePlan(org, { plan: 'pro' }, OVERSIZED, new Date())).rejects.toThrow();
    expect(await getOrganization(orgId)).toMatchObject({ credits: org.credits, plan: org.plan });
    expect(await entries(orgId)).toHaveLength(before);
  });

  it('members and databases: nothing is added, changed or removed, and no entry is written', async () => {
    await setMemberRole(orgId, 'member-1', 'member', TEST_AUDIT, new Date());
    const before = (await entries(orgId)).length;
    await expect(setMemberRole(orgId, 'member-2', 'admin', OVERSIZED, new Date())).rejects.toThrow();
    await expect(setMemberRole(orgId, 'member-1', 'admin', OVERSIZED, new Date())).rejects.toThrow();
    await expect(removeMember(orgId, 'member-1', OVERSIZED, new Date())).rejects.toThrow();
    await expect(createDatabase(orgId, { name: 'db' }, OVERSIZED, new Date())).rejects.toThrow();
    expect(await getMemberRole(orgId, 'member-2')).toBeUndefined();
    expect(await getMemberRole(orgId, 'member-1')).toBe('member');
    expect(await listDatabases(orgId)).toEqual([]);
    expect(await entries(orgId)).toHaveLength(before);
  });

  it('organization creation: no organization without its entry', async () => {
    await expect(createOrganization('Never', 'owner-2', 100, OVERSIZED, new Date())).rejects.toThrow();
    expect(await listMembershipsOf('owner-2')).toEqual([]);
  });
});

describe('a change that succeeds has exactly one entry', () => {
  it('revoke writes api_key.revoked with status from and to, attributed to the given actor', async () => {
    const key = await newKey();
    const cli = actorContext({ type: 'operator', id: 'staff-7', email: 'staff@example.com' });
    await revokeKey(orgId, key.id, cli);
    const mine = (await entries(orgId)).filter((e) => e.target.id === key.id);
    expect(mine.map((e) => e.action)).toEqual(['api_key.created', 'api_key.revoked']);
    expect(mine[1]).toMatchObject({
      actor: { type: 'operator', id: 'staff-7', email: 'staff@example.com' },
      target: { type: 'api_key', id: key.id },
      changes: [{ field: 'status', from: 'active', to: 'revoked' }],
    });
    // 400 days of retention, in epoch seconds for DynamoDB TTL.
    const days = (mine[1]!.ttl * 1000 - Date.parse(mine[1]!.occurredAt)) / 86_400_000;
    expect(Math.round(days)).toBe(400);
  });

  it('a credit grant records the exact balance before and after', async () => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName('organizations'), Key: { id: orgId }, ConsistentRead: true }));
    const balance = Item!.credits as number;
    expect(await grantCredits(orgId, -balance, 'claw-back', TEST_AUDIT, new Date())).toBe(0);
    const last = (await entries(orgId)).at(-1)!;
    expect(last).toMatchObject({
      action: 'credits.granted',
      changes: [
        { field: 'credits', from: balance, to: 0 },
        { field: 'reason', from: null, to: 'claw-back' },
      ],
    });
    await expect(grantCredits(orgId, -1, undefined, TEST_AUDIT, new Date())).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await entries(orgId)).at(-1)!.id).toBe(last.id);
  });
});
