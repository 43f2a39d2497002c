// Organizations and their members. An organization item carries its plan, credits (the balance
// the chat API debits) and ownerCount, which makes "never remove the last owner" one atomic condition.
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { changesBetween, createdFields, type AuditContext } from '../domain/audit.ts';
import { billingOf, sameBilling, type Billing } from '../domain/billing.ts';
import { ApiError, orNotFound, retryLaterError } from '../domain/errors.ts';
import { effectiveLimits, type Limits, type Plan } from '../domain/plans.ts';
import type { Role } from '../domain/roles.ts';
import { DAY_MS, iso, utcDay } from '../domain/time.ts';
import { newId } from '../domain/ids.ts';
import { tableName } from '../tables.ts';
import type { UpstreamChoice } from '../domain/assistants.ts';
import { defaultAssistantItems, transactNamingAssistant } from './assistants.ts';
import { auditPut } from './audit-log.ts';
import { conditionalUpdate, db, queryAll, setFieldsUpdate, transactUpdate, transactWrite } from './client.ts';
import { stampBillingRev } from './credit-batches.ts';

export interface OrganizationItem {
  id: string;
  name: string;
  plan: Plan;
  /** Enterprise limits; ignored on other plans. */
  limits?: Limits | null;
  /**
   * Counts plan and limits changes: the keys' copies of the limits carry it, so a copy of an
   * older change never replaces a newer one (absent: 0).
   */
  limitsVersion?: number;
  credits: number;
  /** Credits held by replies in progress (and, on the high-volume path, sitting in batches); absent: 0. */
  creditsHeld?: number;
  /** How replies are charged (absent: one credit per reply). */
  billing?: Billing;
  /**
   * Counts billing changes; a reply's hold on the balance is conditional on the revision it priced
   * with, so a reply is billed as the billing stood when it started (absent: 0).
   */
  billingRev?: number;
  ownerCount: number;
  /** The assistant that answers by default; absent on organizations made before assistants until first use. */
  defaultAssistantId?: string;
  createdAt: string;
  createdBy: string;
}

export interface MemberItem {
  organizationId: string;
  userId: string;
  role: Role;
  /** Known when the member was added by email, or signed in with one when creating the org. */
  email?: string;
  createdAt: string;
}

/** A member as the API shows it (docs/api.md "Routes"): `email` is null when it was never known. */
export function memberView(member: MemberItem) {
  return { userId: member.userId, email: member.email ?? null, role: member.role };
}

export function organizationView(org: OrganizationItem) {
  return {
    id: org.id,
    name: org.name,
    plan: org.plan,
    limits: effectiveLimits(org.plan, org.limits),
    billing: billingOf(org),
    credits: org.credits,
    creditsHeld: org.creditsHeld ?? 0,
    defaultAssistantId: org.defaultAssistantId ?? null,
    createdAt: org.createdAt,
  };
}

/**
 * The item that counts the organizations a user has created, in the organizations table under
 * `user#<userId>` (a path `{orgId}` can never name it: only `org_` ids are read). It bounds free
 * credits: only the organization that moves the count from 0 to 1 starts with the initial credits,
 * and a user may create at most `maxOrganizationsPerUser` organizations (README "Deploy").
 */
export function creatorQuotaId(userId: string): string {
  return `user#${userId}`;
}

export interface CreateOrganizationOptions {
  /** Kept on the owner's member item (from the token's verified `email` claim). */
  ownerEmail?: string;
  /** How many organizations the owner may have created, this one included; unset: no bound. */
  maxOrganizationsPerUser?: number;
  /** The initial credits go to the owner's first organization only (later ones start at 0). */
  initialCreditsOnce?: boolean;
  /** The deployed upstreams: the organization starts with its `Default` assistant on the default one. */
  assistants?: { upstreams: readonly UpstreamChoice[]; defaultUpstream: string };
}

async function organizationsCreatedBy(userId: string): Promise<number> {
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName('organizations'), Key: { id: creatorQuotaId(userId) }, ConsistentRead: true }),
  );
  return (Item?.organizationsCreated as number | undefined) ?? 0;
}

/**
 * Create an organization owned by `ownerId`, starting with `initialCredits`. With
 * `initialCreditsOnce` only a user's first organization gets them, exactly once whatever the
 * concurrency: the creation that moves the creator's count from 0 to 1 carries them (a condition
 * on that count), every other one starts at 0. Without it or a bound, nothing is counted.
 */
export async function createOrganization(
  name: string,
  ownerId: string,
  initialCredits: number,
  audit: AuditContext,
  now: Date,
  { ownerEmail, maxOrganizationsPerUser, initialCreditsOnce = false, assistants }: CreateOrganizationOptions = {},
): Promise<OrganizationItem> {
  const tooMany = () => new ApiError('CONFLICT', `A user can create at most ${maxOrganizationsPerUser} organizations`);
  const counted = initialCreditsOnce || maxOrganizationsPerUser !== undefined;
  const created = counted ? await organizationsCreatedBy(ownerId) : 0;
  if (maxOrganizationsPerUser !== undefined && created >= maxOrganizationsPerUser) throw tooMany();
  let first = created === 0;
  // A first creation that loses the race to another one is retried once as a later creation.
  for (;;) {
    const org = await createAs(first);
    if (org) return org;
    if (!first) throw tooMany();
    first = false;
  }

  async function createAs(isFirst: boolean): Promise<OrganizationItem | undefined> {
    const id = newId('org');
    const defaultAssistant = assistants ? defaultAssistantItems(id, assistants.upstreams, assistants.defaultUpstream, audit, now) : undefined;
    const org: OrganizationItem = {
      id,
      name,
      plan: 'free',
      credits: isFirst || !initialCreditsOnce ? initialCredits : 0,
      ownerCount: 1,
      ...(defaultAssistant ? { defaultAssistantId: defaultAssistant.item.id } : {}),
      createdAt: iso(now),
      createdBy: ownerId,
    };
    const member: MemberItem = {
      organizationId: org.id,
      userId: ownerId,
      role: 'owner',
      ...(ownerEmail ? { email: ownerEmail } : {}),
      createdAt: org.createdAt,
    };
    const bounded = maxOrganizationsPerUser !== undefined;
    const quota = {
      Update: {
        TableName: tableName('organizations'),
        Key: { id: creatorQuotaId(ownerId) },
        UpdateExpression: 'ADD organizationsCreated :one',
        ConditionExpression: isFirst
          ? 'attribute_not_exists(organizationsCreated) OR organizationsCreated = :zero'
          : `organizationsCreated >= :one${bounded ? ' AND organizationsCreated < :max' : ''}`,
        ExpressionAttributeValues: {
          ':one': 1,
          ...(isFirst ? { ':zero': 0 } : {}),
          ...(!isFirst && bounded ? { ':max': maxOrganizationsPerUser } : {}),
        },
      },
    };
    const result = await transactWrite({
      TransactItems: [
        ...(counted ? [quota] : []),
        { Put: { TableName: tableName('organizations'), Item: org, ConditionExpression: 'attribute_not_exists(id)' } },
        { Put: { TableName: tableName('members'), Item: member } },
        auditPut(audit, org.id, {
          action: 'organization.created',
          target: { type: 'organization', id: org.id },
          changes: createdFields(org, ['name', 'plan', 'credits']),
        }, now),
        ...(defaultAssistant?.writes ?? []),
      ],
    });
    if (result.ok) return org;
    if (counted && result.reasons[0]?.Code === 'ConditionalCheckFailed') return undefined;
    throw new Error('Organization id collision'); // 119 random bits: not expected
  }
}

export async function getOrganization(id: string): Promise<OrganizationItem | undefined> {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('organizations'), Key: { id }, ConsistentRead: true }));
  return Item as OrganizationItem | undefined;
}

/**
 * Operators' search over every organization (by id prefix or a part of the name, any case): a
 * scan, read a bounded number of pages per call, so a call's cost stays small whatever the table
 * holds; `nextCursor` continues where the scan stopped (there may be more matches after an empty page).
 */
export async function searchOrganizations(
  q: string,
  limit: number,
  cursor: string | undefined,
): Promise<{ items: OrganizationItem[]; nextCursor: string | null }> {
  const wanted = q.trim().toLowerCase();
  const matches = (org: OrganizationItem) => !wanted || org.id.toLowerCase().startsWith(wanted) || org.name.toLowerCase().includes(wanted);
  const items: OrganizationItem[] = [];
  let start: Record<string, string> | undefined = cursor ? decodeCursor(cursor, ['id'] as const, (p) => p.id.startsWith('org_')) : undefined;
  for (let pages = 0; pages < 5 && items.length < limit; pages += 1) {
    const page = await db.send(
      new ScanCommand({
        TableName: tableName('organizations'),
        FilterExpression: 'begins_with(id, :org)',
        ExpressionAttributeValues: { ':org': 'org_' },
        Limit: 200,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const org of (page.Items ?? []) as OrganizationItem[]) if (matches(org)) items.push(org);
    start = page.LastEvaluatedKey as Record<string, string> | undefined;
    if (!start) break;
  }
  // A page cut short at `limit` continues after its last item; a scan that ran out of budget after its last key.
  if (items.length > limit) {
    items.length = limit;
    return { items, nextCursor: encodeCursor({ id: items[limit - 1]!.id }) };
  }
  return { items, nextCursor: start ? encodeCursor({ id: start.id! }) : null };
}

export async function requireOrganization(id: string): Promise<OrganizationItem> {
  return orNotFound(await getOrganization(id), 'Organization not found');
}

/** Change plan and/or limits of `current` (as just read), with its audit entry. Returns the organization after. */
export async function updatePlan(
  current: OrganizationItem,
  changes: { plan?: Plan; limits?: Limits },
  audit: AuditContext,
  now: Date,
): Promise<OrganizationItem> {
  const result = await transactWrite({
    TransactItems: [
      setFieldsUpdate('organizations', { id: current.id }, changes, {
        also: 'ADD #limitsVersion :one',
        condition: 'attribute_exists(id)',
        names: { '#limitsVersion': 'limitsVersion' },
        values: { ':one': 1 },
      }),
      auditPut(audit, current.id, {
        action: 'organization.updated',
        target: { type: 'organization', id: current.id },
        changes: changesBetween<OrganizationItem>(current, changes, ['plan', 'limits']),
      }, now),
    ],
  });
  if (!result.ok) throw new ApiError('NOT_FOUND', 'Organization not found');
  return requireOrganization(current.id);
}

/**
 * An operator's change of billing, with its audit entry (`organization.updated`, field `billing`,
 * from the billing in force). Conditional on the revision read, so the entry's `from` is exact; a
 * billing changed meanwhile is 409. Returns the organization after.
 */
export async function updateBilling(current: OrganizationItem, billing: Billing, audit: AuditContext, now: Date): Promise<OrganizationItem> {
  const before = billingOf(current);
  if (sameBilling(before, billing)) return current;
  const rev = current.billingRev ?? 0;
  const result = await transactWrite({
    TransactItems: [
      transactUpdate(
        'organizations',
        { id: current.id },
        'SET billing = :billing, billingRev = :next',
        rev === 0 ? 'attribute_exists(id) AND attribute_not_exists(billingRev)' : 'billingRev = :rev',
        { ':billing': billing, ':next': rev + 1, ...(rev === 0 ? {} : { ':rev': rev }) },
      ),
      auditPut(audit, current.id, {
        action: 'organization.updated',
        target: { type: 'organization', id: current.id },
        changes: [{ field: 'billing', from: before, to: billing }],
      }, now),
    ],
  });
  if (!result.ok) {
    const org = await requireOrganization(current.id);
    throw new ApiError('CONFLICT', `The billing changed meanwhile (now ${JSON.stringify(billingOf(org))}), try again`);
  }
  // Holds on the high-volume path priced with the old billing can no longer take credits from a batch.
  await stampBillingRev(current.id, rev + 1);
  return requireOrganization(current.id);
}

/** An owner's change of name and/or default assistant, with its audit entry. Returns the organization after. */
export async function updateOrganizationSettings(
  current: OrganizationItem,
  changes: { name?: string; defaultAssistantId?: string },
  audit: AuditContext,
  now: Date,
): Promise<OrganizationItem> {
  const audited = changesBetween<OrganizationItem>(current, changes, ['name', 'defaultAssistantId']);
  if (audited.length === 0) return current;
  const newDefault = changes.defaultAssistantId !== current.defaultAssistantId ? changes.defaultAssistantId : undefined;
  const written = await transactNamingAssistant(current.id, newDefault, [
    setFieldsUpdate('organizations', { id: current.id }, changes, { condition: 'attribute_exists(id)' }),
    auditPut(audit, current.id, {
      action: 'organization.updated',
      target: { type: 'organization', id: current.id },
      changes: audited,
    }, now),
  ], 'defaultAssistantId');
  if (!written) throw new ApiError('NOT_FOUND', 'Organization not found');
  return requireOrganization(current.id);
}

export async function getMember(organizationId: string, userId: string): Promise<MemberItem | undefined> {
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName('members'), Key: { organizationId, userId }, ConsistentRead: true }),
  );
  return Item as MemberItem | undefined;
}

export async function getMemberRole(organizationId: string, userId: string): Promise<Role | undefined> {
  return (await getMember(organizationId, userId))?.role;
}

export function listMembers(organizationId: string): Promise<MemberItem[]> {
  return queryAll<MemberItem>({
    TableName: tableName('members'),
    KeyConditionExpression: 'organizationId = :o',
    ExpressionAttributeValues: { ':o': organizationId },
  });
}

/** The caller's memberships, through the members table's byUser index. */
export function listMembershipsOf(userId: string): Promise<MemberItem[]> {
  return queryAll<MemberItem>({
    TableName: tableName('members'),
    IndexName: 'byUser',
    KeyConditionExpression: 'userId = :u',
    ExpressionAttributeValues: { ':u': userId },
  });
}

const LAST_OWNER = 'An organization must keep at least one owner';

/**
 * Set a member's role. Owner count moves in the same transaction, guarded so that demoting the
 * last owner fails even when two owners demote each other at once.
 */
export async function setMemberRole(
  organizationId: string,
  userId: string,
  role: Role,
  audit: AuditContext,
  now: Date,
): Promise<MemberItem> {
  const existing = await getMember(organizationId, userId);
  const previous = existing?.role;
  const delta = (role === 'owner' ? 1 : 0) - (previous === 'owner' ? 1 : 0);
  // A role change keeps what the member item already knew (email, when they joined).
  const member: MemberItem = existing ? { ...existing, role } : { organizationId, userId, role, createdAt: iso(now) };
  // The put only lands if the role is still the one the owner count was computed from.
  const put = previous
    ? {
        TableName: tableName('members'),
        Item: member,
        ConditionExpression: '#role = :previous',
        ExpressionAttributeNames: { '#role': 'role' },
        ExpressionAttributeValues: { ':previous': previous },
      }
    : { TableName: tableName('members'), Item: member, ConditionExpression: 'attribute_not_exists(userId)' };
  const entry = auditPut(audit, organizationId, {
    action: previous ? 'member.updated' : 'member.added',
    target: { type: 'member', id: userId },
    changes: [{ field: 'role', from: previous ?? null, to: role }],
  }, now);
  const result = await transactWrite({ TransactItems: [{ Put: put }, ownerCountUpdate(organizationId, delta), entry] });
  if (!result.ok) throw new ApiError('CONFLICT', delta < 0 ? LAST_OWNER : 'The member changed meanwhile, try again');
  return member;
}

/**
 * Add a user (found or invited by email) as a member. 409 CONFLICT when they already are one; an
 * added owner moves the owner count, and the audit entry is written, in the same transaction.
 */
export async function addMember(
  organizationId: string,
  user: { userId: string; email: string },
  role: Role,
  audit: AuditContext,
  now: Date,
): Promise<MemberItem> {
  const member: MemberItem = { organizationId, userId: user.userId, role, email: user.email, createdAt: iso(now) };
  const result = await transactWrite({
    TransactItems: [
      { Put: { TableName: tableName('members'), Item: member, ConditionExpression: 'attribute_not_exists(userId)' } },
      ownerCountUpdate(organizationId, role === 'owner' ? 1 : 0),
      auditPut(audit, organizationId, {
        action: 'member.added',
        target: { type: 'member', id: user.userId },
        changes: [
          { field: 'role', from: null, to: role },
          { field: 'email', from: null, to: user.email },
        ],
      }, now),
    ],
  });
  if (!result.ok) {
    if (result.reasons[0]?.Code === 'ConditionalCheckFailed') {
      throw new ApiError('CONFLICT', `${user.email} is already a member of this organization`);
    }
    throw new ApiError('NOT_FOUND', 'Organization not found');
  }
  return member;
}

/** DynamoDB's limit for a sort key; a longer user id cannot be a member (and would make the read fail). */
const MAX_SORT_KEY_BYTES = 1024;

export async function removeMember(organizationId: string, userId: string, audit: AuditContext, now: Date): Promise<void> {
  if (Buffer.byteLength(userId) > MAX_SORT_KEY_BYTES) throw new ApiError('NOT_FOUND', 'Member not found');
  const previous = await getMemberRole(organizationId, userId);
  if (!previous) throw new ApiError('NOT_FOUND', 'Member not found');
  const delta = previous === 'owner' ? -1 : 0;
  const result = await transactWrite({
    TransactItems: [
      {
        Delete: {
          TableName: tableName('members'),
          Key: { organizationId, userId },
          ConditionExpression: '#role = :previous',
          ExpressionAttributeNames: { '#role': 'role' },
          ExpressionAttributeValues: { ':previous': previous },
        },
      },
      ownerCountUpdate(organizationId, delta),
      auditPut(audit, organizationId, {
        action: 'member.removed',
        target: { type: 'member', id: userId },
        changes: [{ field: 'role', from: previous, to: null }],
      }, now),
    ],
  });
  if (!result.ok) throw new ApiError('CONFLICT', delta < 0 ? LAST_OWNER : 'The member changed meanwhile, try again');
}

function ownerCountUpdate(organizationId: string, delta: number) {
  // Removing an owner needs another one left; adding or keeping needs only the org to exist.
  if (delta < 0) return transactUpdate('organizations', { id: organizationId }, 'ADD ownerCount :delta', 'ownerCount > :one', { ':delta': delta, ':one': 1 });
  return transactUpdate('organizations', { id: organizationId }, 'ADD ownerCount :delta', 'attribute_exists(id)', { ':delta': delta });
}

/** Invitations of new accounts an organization may send per UTC day (docs/api.md "Routes"). */
export const MAX_INVITATIONS_PER_DAY = 20;

/** The item counting an organization's invitations today (`invitations#<orgId>`, never an `org_` id). */
export function invitationCountId(organizationId: string): string {
  return `invitations#${organizationId}`;
}

/**
 * Count one invitation of a new account for today (UTC), or 429 with the seconds until the next
 * UTC day once `max` were sent. One conditional write per attempt: the same day's count grows
 * below `max`, another day's is replaced by 1; a lost race (the day turned meanwhile) is retried.
 */
export async function countInvitation(organizationId: string, now: Date, max = MAX_INVITATIONS_PER_DAY): Promise<void> {
  const key = { id: invitationCountId(organizationId) };
  const day = utcDay(now);
  const count = (update: string, condition: string, values: Record<string, unknown> = {}) =>
    conditionalUpdate({
      TableName: tableName('organizations'),
      Key: key,
      UpdateExpression: update,
      ConditionExpression: condition,
      ExpressionAttributeNames: { '#day': 'day' },
      ExpressionAttributeValues: { ':one': 1, ':day': day, ...values },
    });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await count('ADD invitations :one', '#day = :day AND invitations < :max', { ':max': max })) return;
    if (await count('SET #day = :day, invitations = :one', 'attribute_not_exists(#day) OR #day <> :day')) return;
    // Today's count exists: either full (refused below) or another request started the day first.
    const { Item } = await db.send(new GetCommand({ TableName: tableName('organizations'), Key: key, ConsistentRead: true }));
    if (Item?.day === day && (Item.invitations as number) >= max) break;
  }
  const nextDay = Date.parse(`${day}T00:00:00.000Z`) + DAY_MS;
  throw retryLaterError((nextDay - now.getTime()) / 1000);
}
