// Fixed UTC rate-limit windows (docs/api.md "Rate limits and credits"), as pure functions of an injected clock so
// roll-over is testable. A window id sorts lexicographically in time order, which is what lets the
// counters in DynamoDB refuse to move a window backwards (see shared/db/rate-limits.ts).
import { DAY_MS, epochSeconds, utcDay } from '../domain/time.ts';

export type Period = 'minute' | 'day';

export interface Window {
  period: Period;
  /** `YYYY-MM-DDTHH:MM` for minutes, `YYYY-MM-DD` for days (UTC). */
  id: string;
  /** Unix seconds when the window ends and the next one starts. */
  resetAt: number;
}

const MINUTE_MS = 60_000;

// The last window of each period is kept (frozen, so no caller can change it): a busy process, and
// the simulation in bench/, ask for the same window many times a second.
let lastMinute: Window | undefined;
let lastDay: Window | undefined;

export function minuteWindow(now: Date): Window {
  const start = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS;
  if (lastMinute?.resetAt !== (start + MINUTE_MS) / 1000) {
    lastMinute = Object.freeze({ period: 'minute', id: new Date(start).toISOString().slice(0, 16), resetAt: (start + MINUTE_MS) / 1000 });
  }
  return lastMinute;
}

export function dayWindow(now: Date): Window {
  const start = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  if (lastDay?.resetAt !== (start + DAY_MS) / 1000) {
    lastDay = Object.freeze({ period: 'day', id: utcDay(now), resetAt: (start + DAY_MS) / 1000 });
  }
  return lastDay;
}

/** The minute window a stored id names (used when another writer's clock is a little ahead). */
export function minuteWindowFromId(id: string): Window {
  return minuteWindow(new Date(`${id}:00.000Z`));
}

/** The UTC day a minute window belongs to. */
export function dayOfMinute(minuteId: string): string {
  return minuteId.slice(0, 10);
}

/**
 * How long the daily usage items (which double as the day-window counters) are kept. Longer than
 * any key lives (365 days), so a key's lifetime request count can always be carried forward from
 * its previous usage day; the usage routes only show the last 90 days.
 */
export const USAGE_RETENTION_DAYS = 400;

/** TTL (epoch seconds) of a daily usage item. */
export function usageItemTtl(day: string): number {
  return epochSeconds(new Date(Date.parse(`${day}T00:00:00.000Z`) + USAGE_RETENTION_DAYS * DAY_MS));
}

/** How long a credit reservation (the idempotency record of one reply) is kept. */
export const RESERVATION_RETENTION_DAYS = 7;

export function reservationTtl(now: Date): number {
  return epochSeconds(new Date(now.getTime() + RESERVATION_RETENTION_DAYS * DAY_MS));
}
