// Organizations, members, databases and credits (portal routes). Roles are already checked by the
// pipeline from the route table; these handlers validate input and call the repositories.
import { defaultAssistantOf, organizationAssistants } from '../../shared/chat/assistants.ts';
import { ApiError, validationError } from '../../shared/domain/errors.ts';
import {
  addMemberBody,
  createDatabaseBody,
  createOrganizationBody,
  grantCreditsBody,
  memberRoleBody,
  OPERATOR_ORGANIZATION_FIELDS,
  OWNER_ORGANIZATION_FIELDS,
  patchDatabaseBody,
  organizationSearchQuery,
  patchOrganizationBody,
  userIdParam,
} from '../../shared/domain/organization-rules.ts';
import { effectiveLimits } from '../../shared/domain/plans.ts';
import { tokenVersionOf } from '../../shared/limits/tokens.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { propagateOrgLimits } from '../../shared/db/api-keys.ts';
import { applyOrgLimits } from '../../shared/db/rate-limits.ts';
import { applyOrgTokenLimits } from '../../shared/db/token-windows.ts';
import { grantCredits } from '../../shared/db/credits.ts';
import { createDatabase, databaseView, listDatabases, requireDatabase, updateDatabase } from '../../shared/db/databases.ts';
import {
  addMember,
  countInvitation,
  createOrganization,
  getOrganization,
  listMembers,
  listMembershipsOf,
  memberView,
  organizationView,
  removeMember,
  requireOrganization,
  searchOrganizations,
  setMemberRole,
  updateOrganizationSettings,
  updateBilling,
  updatePlan,
  type OrganizationItem,
} from '../../shared/db/organizations.ts';
import { auditContext } from '../../shared/http/audit-context.ts';
import { recordInvitation } from '../../shared/metrics/emit.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { findOrInvite, normalizeEmail } from '../../shared/users/directory.ts';
import { userDirectory } from '../../shared/users/user-directory.ts';

const INITIAL_CREDITS = Number(process.env.INITIAL_CREDITS ?? 100);
/** Bounds the organizations a user can create (only the first starts with INITIAL_CREDITS). */
const MAX_ORGANIZATIONS_PER_USER = Number(process.env.MAX_ORGANIZATIONS_PER_USER ?? 10);

export async function postOrganization(req: ApiRequest) {
  const { name } = parseInput(createOrganizationBody, req.body);
  const email = req.user!.email ? normalizeEmail(req.user!.email) : undefined;
  const org = await createOrganization(name, req.user!.userId, INITIAL_CREDITS, auditContext(req), new Date(), {
    ...(email ? { ownerEmail: email } : {}),
    maxOrganizationsPerUser: MAX_ORGANIZATIONS_PER_USER,
    initialCreditsOnce: true,
    assistants: organizationAssistants(),
  });
  return json(201, { ...organizationView(org), role: 'owner' });
}

export async function getOrganizations(req: ApiRequest) {
  if (req.query.all === 'true') return searchAllOrganizations(req);
  const memberships = await listMembershipsOf(req.user!.userId);
  const orgs = await Promise.all(memberships.map((m) => getOrganization(m.organizationId)));
  const withDefaults = await Promise.all(orgs.map((org) => (org ? withDefaultAssistant(org) : undefined)));
  const items = memberships.flatMap((m, i) => {
    const org = withDefaults[i];
    return org ? [{ ...organizationView(org), role: m.role }] : [];
  });
  return json(200, { items });
}

/** `?all=true&q=&limit=&cursor=`: operators find any organization by name or id prefix. */
async function searchAllOrganizations(req: ApiRequest) {
  if (!req.user!.isOperator) throw new ApiError('INSUFFICIENT_PERMISSIONS', 'Only platform operators can do this');
  const { q, limit, cursor } = parseInput(organizationSearchQuery, req.query);
  const page = await searchOrganizations(q ?? '', limit, cursor);
  return json(200, { items: page.items.map(organizationView), nextCursor: page.nextCursor });
}

/** The fields that are set (audit changes list every key given, an undefined one as cleared). */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** The organization with its default assistant (created first for one that predates assistants). */
async function withDefaultAssistant(org: OrganizationItem): Promise<OrganizationItem> {
  return org.defaultAssistantId ? org : { ...org, defaultAssistantId: await defaultAssistantOf(org) };
}

export async function getOrganizationById(req: ApiRequest) {
  return json(200, organizationView(await withDefaultAssistant(await requireOrganization(req.params.orgId!))));
}

/**
 * Operators change plan, limits and billing; owners change name and default assistant (docs/api.md
 * "Routes"). The route admits owners and operators; each field group needs its own kind of caller.
 */
export async function patchOrganization(req: ApiRequest) {
  const input = parseInput(patchOrganizationBody, req.body ?? {});
  const operatorFields = OPERATOR_ORGANIZATION_FIELDS.filter((f) => input[f] !== undefined);
  const ownerFields = OWNER_ORGANIZATION_FIELDS.filter((f) => input[f] !== undefined);
  if (operatorFields.length === 0 && ownerFields.length === 0) {
    throw validationError([{ field: 'body', message: 'plan, limits, billing, name or defaultAssistantId is required' }]);
  }
  if (operatorFields.length > 0 && !req.user!.isOperator) {
    throw new ApiError('INSUFFICIENT_PERMISSIONS', `Only platform operators can change ${operatorFields.join(', ')}`);
  }
  if (ownerFields.length > 0 && req.role !== 'owner') {
    throw new ApiError('INSUFFICIENT_PERMISSIONS', `Only owners of the organization can change ${ownerFields.join(', ')}`);
  }
  let org = await withDefaultAssistant(await requireOrganization(req.params.orgId!));
  const now = new Date();
  if (ownerFields.length > 0) {
    org = await updateOrganizationSettings(org, definedOnly({ name: input.name, defaultAssistantId: input.defaultAssistantId }), auditContext(req), now);
  }
  if (input.billing !== undefined) org = await updateBilling(org, input.billing, auditContext(req), now);
  if (input.plan !== undefined || input.limits !== undefined) {
    if ((input.plan ?? org.plan) === 'enterprise' && !(input.limits ?? org.limits)) {
      throw validationError([{ field: 'limits', message: 'is required for the enterprise plan' }]);
    }
    // The organization as read after the change: its limits and version are one consistent pair
    // (a concurrent change may have landed since ours; then both copy the newer).
    org = await updatePlan(org, definedOnly({ plan: input.plan, limits: input.limits }), auditContext(req), now);
    const version = { v: org.limitsVersion ?? 0, limits: effectiveLimits(org.plan, org.limits) };
    await applyOrgLimits(org.id, version, now);
    await applyOrgTokenLimits(org.id, tokenVersionOf({ orgLimits: version.limits, orgLimitsVersion: version.v }), now);
    await propagateOrgLimits(org.id, version.limits, version.v);
  }
  return json(200, organizationView(org));
}

export async function postCredits(req: ApiRequest) {
  const input = parseInput(grantCreditsBody, req.body);
  const credits = await grantCredits(req.params.orgId!, input.amount, input.reason, auditContext(req), new Date());
  return json(200, { credits });
}

export async function getMembers(req: ApiRequest) {
  const members = await listMembers(req.params.orgId!);
  return json(200, { items: members.map(memberView) });
}

/** Add a member by email: the directory finds their account, or invites them first (docs/api.md "Routes"). */
export async function postMember(req: ApiRequest) {
  const { email, role } = parseInput(addMemberBody, req.body);
  // Invitations create accounts (self sign-up is off) and send mail: a daily allowance per organization.
  const user = await findOrInvite(await userDirectory(), email, () => countInvitation(req.params.orgId!, new Date()));
  if (user.invited) recordInvitation();
  const member = await addMember(req.params.orgId!, user, role, auditContext(req), new Date());
  return json(201, memberView(member));
}

export async function putMember(req: ApiRequest) {
  const userId = parseInput(userIdParam, req.params.userId, 'userId');
  const { role } = parseInput(memberRoleBody, req.body);
  const member = await setMemberRole(req.params.orgId!, userId, role, auditContext(req), new Date());
  return json(200, memberView(member));
}

export async function deleteMember(req: ApiRequest) {
  await removeMember(req.params.orgId!, req.params.userId!, auditContext(req), new Date());
  return noContent();
}

export async function postDatabase(req: ApiRequest) {
  const input = parseInput(createDatabaseBody, req.body);
  return json(201, databaseView(await createDatabase(req.params.orgId!, input, auditContext(req), new Date())));
}

export async function patchDatabase(req: ApiRequest) {
  const input = parseInput(patchDatabaseBody, req.body ?? {});
  if (input.name === undefined && input.assistantId === undefined) {
    throw validationError([{ field: 'body', message: 'name or assistantId is required' }]);
  }
  const current = await requireDatabase(req.params.orgId!, req.params.databaseId!);
  const changes = {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.assistantId !== undefined ? { assistantId: input.assistantId } : {}),
  };
  return json(200, databaseView(await updateDatabase(current, changes, auditContext(req), new Date())));
}

export async function getDatabases(req: ApiRequest) {
  const items = await listDatabases(req.params.orgId!);
  return json(200, { items: items.map(databaseView) });
}
