// Plans and their limits (docs/api.md "Rate limits and credits"). Enterprise limits live on the organization.

export const PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
export type Plan = (typeof PLANS)[number];

export interface Limits {
  perMinute: number;
  perDay: number;
  /** Token windows (enterprise, set by operators; a key's own too): tokens of replies per UTC minute / day. */
  tokensPerMinute?: number;
  tokensPerDay?: number;
}

/** Who a counted request is charged to: the organization, and the key (directly or via a session). */
export interface RateSubject {
  organizationId: string;
  keyId: string;
  orgLimits: Limits;
  /** The organization's `limitsVersion` those limits are (absent: 0); a newer one found on a counter wins. */
  orgLimitsVersion?: number;
  keyLimits: Partial<Limits> | null;
}

/** The largest token limit accepted (a day of a busy organization's replies, with room to spare). */
export const MAX_TOKEN_LIMIT = 1_000_000_000_000;

export const PLAN_LIMITS: Record<Exclude<Plan, 'enterprise'>, Limits> = {
  free: { perMinute: 10, perDay: 1_000 },
  starter: { perMinute: 60, perDay: 10_000 },
  pro: { perMinute: 600, perDay: 100_000 },
};

/** The limits an organization runs under: its plan's, or its own on enterprise. */
export function effectiveLimits(plan: Plan, orgLimits?: Limits | null): Limits {
  if (plan === 'enterprise') return orgLimits ?? PLAN_LIMITS.pro;
  return PLAN_LIMITS[plan];
}
