// A key's status over time, pure: the status a caller sees (expiry is derived from expiresAt, never
// stored), how long an expired or revoked key stays before TTL removes it, and when a rolled key expires.
import { addDays, addHours, epochSeconds } from './time.ts';
import type { ApiKeyItem } from './key-item.ts';

export type KeyStatus = 'active' | 'disabled' | 'expired';

/** Expired keys stay listable for 90 days, revoked tombstones for 30, then TTL removes them. */
const EXPIRED_RETENTION_DAYS = 90;
const REVOKED_RETENTION_DAYS = 30;

export function keyStatus(item: Pick<ApiKeyItem, 'status' | 'expiresAt'>, now: Date): KeyStatus | 'revoked' {
  if (item.status === 'revoked') return 'revoked';
  if (Date.parse(item.expiresAt) <= now.getTime()) return 'expired';
  return item.status;
}

/** The TTL (epoch seconds) of a key expiring at `expiresAt`: it stays listable as expired for a while. */
export function expiredKeyTtl(expiresAt: Date): number {
  return epochSeconds(addDays(expiresAt, EXPIRED_RETENTION_DAYS));
}

/** The TTL (epoch seconds) of a key revoked at `now`: the tombstone outlives every cached copy of it. */
export function revokedKeyTtl(now: Date): number {
  return epochSeconds(addDays(now, REVOKED_RETENTION_DAYS));
}

/** A rolled key expires at the end of the grace period, or earlier if it was going to anyway (never later). */
export function rolledKeyExpiry(expiresAt: string, gracePeriodHours: number, now: Date): Date {
  return new Date(Math.min(Date.parse(expiresAt), addHours(now, gracePeriodHours).getTime()));
}
