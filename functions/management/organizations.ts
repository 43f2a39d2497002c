// Organizations, members, databases and credits (portal routes). Roles are already checked by the
// pipeline from the route table; these handlers validate input and call the repositories.
import { validationError } from '../../shared/domain/errors.ts';
import {
  addMemberBody,
  createDatabaseBody,
  createOrganizationBody,
  grantCreditsBody,
  memberRoleBody,
  patchOrganizationBody,
  userIdParam,
} from '../../shared/domain/organization-rules.ts';
import { effectiveLimits } from '../../shared/domain/plans.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { propagateOrgLimits } from '../../shared/db/api-keys.ts';
import { grantCredits } from '../../shared/db/credits.ts';
import { createDatabase, databaseView, listDatabases } from '../../shared/db/databases.ts';
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
  setMemberRole,
  updatePlan,
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
  });
  return json(201, { ...organizationView(org), role: 'owner' });
}

export async function getOrganizations(req: ApiRequest) {
  const memberships = await listMembershipsOf(req.user!.userId);
  const orgs = await Promise.all(memberships.map((m) => getOrganization(m.organizationId)));
  const items = memberships.flatMap((m, i) => {
    const org = orgs[i];
    return org ? [{ ...organizationView(org), role: m.role }] : [];
  });
  return json(200, { items });
}

export async function getOrganizationById(req: ApiRequest) {
  return json(200, organizationView(await requireOrganization(req.params.orgId!)));
}

export async function patchOrganization(req: ApiRequest) {
  const input = parseInput(patchOrganizationBody, req.body ?? {});
  if (!input.plan && !input.limits) throw validationError([{ field: 'body', message: 'plan or limits is required' }]);
  const current = await requireOrganization(req.params.orgId!);
  if ((input.plan ?? current.plan) === 'enterprise' && !(input.limits ?? current.limits)) {
    throw validationError([{ field: 'limits', message: 'is required for the enterprise plan' }]);
  }
  // The organization as read after the change: its limits and version are one consistent pair
  // (a concurrent change may have landed since ours; then both copy the newer).
  const org = await updatePlan(current, input, auditContext(req), new Date());
  await propagateOrgLimits(org.id, effectiveLimits(org.plan, org.limits), org.limitsVersion ?? 0);
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
  const { name } = parseInput(createDatabaseBody, req.body);
  return json(201, databaseView(await createDatabase(req.params.orgId!, name, auditContext(req), new Date())));
}

export async function getDatabases(req: ApiRequest) {
  const items = await listDatabases(req.params.orgId!);
  return json(200, { items: items.map(databaseView) });
}
