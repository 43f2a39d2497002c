// Organization roles, weakest first (docs/api.md "Authentication").
export const ROLES = ['member', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

export const OPERATORS_GROUP = 'operators';

/**
 * What a platform operator may do in an organization where their own role (if any) does not
 * allow it (docs/api.md "Authentication"): read it (any GET), and the operator routes (plan, limits,
 * billing, credits). Never create, change or revoke keys, members, databases, webhooks or
 * assistants, so one stolen operator password cannot mint keys in every tenant.
 */
export function operatorMay(route: { method: string; role?: string; operators?: boolean }): boolean {
  return route.method === 'GET' || route.role === 'operator' || route.operators === true;
}

/**
 * The groups a portal token carries: `operators` only for a user who signs in with TOTP MFA
 * (Cognito sets MFA per pool, not per group, so the pool's pre-token-generation trigger applies
 * this to every token it issues); other groups as they are.
 */
export function tokenGroups(groups: readonly string[], signsInWithTotp: boolean): string[] {
  return signsInWithTotp ? [...groups] : groups.filter((group) => group !== OPERATORS_GROUP);
}
