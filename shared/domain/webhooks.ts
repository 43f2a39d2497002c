// Webhook rules (docs/api.md "Webhooks"), pure: which events exist, the signature, the retry
// schedule and the expiry notices (the create request's shape is in webhook-rules.ts, which URLs
// may receive deliveries in webhook-urls.ts). Network, storage and queues live in shared/webhooks/
// and shared/db/webhooks.ts.
import { createHmac } from 'node:crypto';
import { DAY_MS } from './time.ts';

export const EVENT_TYPES = [
  'api_key.expiring',
  'api_key.expired',
  'api_key.revoked',
  'api_key.rolled',
  'credits.low',
  'credits.exhausted',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];
/** What a delivery can carry: the subscribable events and the test route's `ping`. */
export type DeliveryType = EventType | 'ping';

export const MAX_WEBHOOKS_PER_ORG = 10;
export const SECRET_PREFIX = 'whsec_';
export const SIGNATURE_HEADER = 'Keygate-Signature';
/** `credits.low` fires when the balance falls to this or below (from above it). */
export const LOW_CREDITS = 10;
/** `api_key.expiring` fires this many days before `expiresAt`, each once. */
export const NOTICE_DAYS = [30, 7, 1] as const;

/** The JSON body of every delivery; its id is the same on every attempt. */
export interface WebhookEvent {
  id: string;
  type: DeliveryType;
  createdAt: string;
  organizationId: string;
  data: Record<string, unknown>;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the secret>` (docs/api.md "Webhooks"). */
export function signatureHeader(secret: string, body: string, now: Date): string {
  const t = Math.floor(now.getTime() / 1000);
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

/** Failed deliveries are retried for this long after the first attempt. */
export const RETRY_WINDOW_MS = DAY_MS;
const FIRST_RETRY_SECONDS = 30;
const MAX_RETRY_SECONDS = 6 * 3600;

/**
 * Seconds to wait after failed attempt `attempt` (1-based): 30 s, 2 min, 8 min, 32 min, ~2 h, then
 * every 6 h, plus up to 10% jitter so receivers coming back are not hit all at once. `random` is
 * injectable for tests.
 */
export function retryDelaySeconds(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(FIRST_RETRY_SECONDS * 4 ** (attempt - 1), MAX_RETRY_SECONDS);
  return Math.round(base * (1 + random() * 0.1));
}

/** The next attempt's time, or undefined once it would fall past the 24-hour retry window. */
export function nextAttemptAt(firstAttemptAt: Date, attempt: number, now: Date, random?: () => number): Date | undefined {
  const at = new Date(now.getTime() + retryDelaySeconds(attempt, random) * 1000);
  return at.getTime() - firstAttemptAt.getTime() <= RETRY_WINDOW_MS ? at : undefined;
}

// Expiry notices. A key carries the time its next notice is due (`noticeAt`, in a sparse index);
// the sweep sends what is due and moves `noticeAt` on, so every threshold is sent once.

export type NoticeKind = `expiring:${(typeof NOTICE_DAYS)[number]}` | 'expired';

/** When the first notice of a key expiring at `expiresAt` is due: the nearest threshold not yet past at `now`. */
export function firstNoticeAt(expiresAt: Date, now: Date): Date {
  for (const days of NOTICE_DAYS) {
    const at = expiresAt.getTime() - days * DAY_MS;
    if (at >= now.getTime()) return new Date(at);
  }
  return expiresAt;
}

/**
 * The notice to send for a key whose notice is due at `now` (the most urgent threshold passed; a
 * sweep that was down sends only that one), and when the following one is due (none after `expired`).
 */
export function dueNotice(expiresAt: Date, now: Date): { kind: NoticeKind; days: number; next: Date | undefined } {
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0) return { kind: 'expired', days: 0, next: undefined };
  const passed = NOTICE_DAYS.filter((days) => left <= days * DAY_MS);
  const days = passed.length ? passed[passed.length - 1]! : NOTICE_DAYS[0];
  const later = NOTICE_DAYS.filter((d) => d < days);
  const next = later.length ? new Date(expiresAt.getTime() - later[0]! * DAY_MS) : expiresAt;
  return { kind: `expiring:${days}` as NoticeKind, days, next };
}

/** What the notice backfill reads of a key (keys stored before expiry notices existed lack `noticeShard`). */
export interface NoticeFields {
  status: string;
  expiresAt: string;
  noticeShard?: string;
  noticeAt?: string;
  lastNotice?: string;
}

export type NoticeBackfill =
  | { action: 'set'; noticeAt: Date }
  | { action: 'skip'; reason: 'indexed' | 'revoked' | 'expired' | 'notified' };

/**
 * Whether a key needs its next notice set on upgrade, and when it is due: as for a key created at
 * `now` (firstNoticeAt), so a threshold already past is never sent late (docs/api.md "Webhooks": a key
 * with less time left gets the nearest ones only). Revoked and expired keys get no notices, and a key
 * the sweep has already notified is left as the sweep left it. A legacy key rolled before the backfill
 * keeps the `noticeAt` the roll gave it (its only notice left is `expired`); it lacked just the shard.
 */
export function noticeBackfill(key: NoticeFields, now: Date): NoticeBackfill {
  if (key.noticeShard !== undefined) return { action: 'skip', reason: 'indexed' };
  if (key.status === 'revoked') return { action: 'skip', reason: 'revoked' };
  const expiresAt = new Date(key.expiresAt);
  if (expiresAt.getTime() <= now.getTime()) return { action: 'skip', reason: 'expired' };
  if (key.lastNotice !== undefined) return { action: 'skip', reason: 'notified' };
  if (key.noticeAt !== undefined) return { action: 'set', noticeAt: new Date(key.noticeAt) };
  return { action: 'set', noticeAt: firstNoticeAt(expiresAt, now) };
}
