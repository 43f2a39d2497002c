// What the organization's day counter item says about a request, as pure functions: the counts of
// every applicable window, and which conditional write to try next (or that the request is over a
// limit). shared/db/rate-limits.ts turns the steps into DynamoDB UpdateItems.
import type { Limits } from '../domain/plans.ts';
import { isExhausted, type AppliedLimits, type WindowCount } from './headers.ts';
import { dayOfMinute, dayWindow, minuteWindow, minuteWindowFromId, type Window } from './windows.ts';

/**
 * The counter attributes of an organization's day item (pk `usage#org#<orgId>`, sk the UTC day).
 * The day window's count is `requests` (the day's admitted requests, also the usage figure).
 * Every key used that day is counted in the same item (up to a bound, see `maxKeys` in
 * `nextStep`), so one conditional write decides the organization's and the key's limits together
 * and records the key's requests (its refusals and credits are on its own day item: every write on
 * this one is billed by its size). The same shape, without the per-key maps, is the counter on a
 * key's own day item (pk `usage#key#<keyId>`) for keys beyond the bound.
 */
export interface OrgDayCounters {
  /** Current minute window id, `YYYY-MM-DDTHH:MM`. */
  mw?: string;
  /** Admitted requests in minute `mw`. */
  mc?: number;
  /** Admitted requests this day. */
  requests?: number;
  /** Per key: admitted requests in minute `mw` (reset when mw moves). 1 = the key's first of the minute. */
  km?: Record<string, number>;
  /** Per key: admitted requests this day (the key's day window and its usage figure). */
  kr?: Record<string, number>;
  /**
   * On a key's own item of a high-volume organization (shared/limits/sharded.ts): the minute, and
   * the day, in which every shard of the organization was found full, as `orgFullHint` values.
   */
  ofm?: string;
  ofd?: string;
  /**
   * On the organization's counter items (its day item and its shards): the organization's
   * `limitsVersion` the item counts under, and that version's limits (`lm` per minute, `ld` per
   * day), so a request that carries an older copy is decided under these.
   */
  lv?: number;
  lm?: number;
  ld?: number;
  /**
   * What this item may count: `am` in minute `mw`, `sm` in each later minute of the day, `ad` in
   * the day. Its share of the limits, or, after a limit change within the day, its count when the
   * change was applied plus its share of what the limits then had left (see rebase in store.ts).
   */
  am?: number;
  sm?: number;
  ad?: number;
  /** Set (to the change's token) while a limit change is applied: the item counts nothing meanwhile. */
  fz?: string;
  /** When a request last took over a change on this item's organization (epoch ms): set by the claim and by a takeover's freeze, so that waiting requests see it and wait rather than claim. */
  fzc?: number;
  /** The item's minute, minute count and day count when the change of version `lv` was applied to it. */
  fmw?: string;
  fmc?: number;
  frq?: number;
  /**
   * On a key's own item (high-volume path): the lowest Remaining told to the key for the
   * organization's minute (`hm`, in window `hmw`) and day (`hd`, in `hdw`); see toldToKey in sharded.ts.
   */
  hmw?: string;
  hm?: number;
  hdw?: string;
  hd?: number;
  /** On the organization's day item: its counts that day are also on this many shard items, started under version `sv`. */
  shards?: number;
  sv?: number;
}

/**
 * The allowances of an organization counter item as the limits it enforces in `minuteId`
 * (undefined for an item without them: a key's own item).
 */
export function itemLimits(state: OrgDayCounters | undefined, minuteId: string): { perMinute: number; perDay: number } | undefined {
  if (state?.ad === undefined || state.sm === undefined) return undefined;
  return { perMinute: state.mw === minuteId ? Number(state.am ?? state.sm) : Number(state.sm), perDay: Number(state.ad) };
}

/**
 * The organization's windows as a client is told them, from an item whose allowances are not the
 * limits themselves (a shard, or any item after a limit change within the day): what the item has
 * left is what the window is known to have left, so `Remaining` never overstates.
 */
export function orgWindowsOf(state: OrgDayCounters | undefined, minute: Window, day: Window, limits: { perMinute: number; perDay: number }): WindowCount[] {
  const allowed = itemLimits(state, minute.id);
  const minuteCount = state?.mw === minute.id ? Number(state.mc ?? 0) : 0;
  const dayCount = Number(state?.requests ?? 0);
  const left = (limit: number, allowance: number | undefined, count: number) => (allowance === undefined ? Math.max(0, limit - count) : Math.max(0, Math.min(limit, allowance - count)));
  return [
    { scope: 'org', window: minute, limit: limits.perMinute, used: limits.perMinute - left(limits.perMinute, allowed?.perMinute, minuteCount) },
    { scope: 'org', window: day, limit: limits.perDay, used: limits.perDay - left(limits.perDay, allowed?.perDay, dayCount) },
  ];
}

/**
 * `<window id>|<perMinute>|<perDay>`: a window found full under these limits. Both limits are in
 * it (a minute is full when some shards are full for the day and the rest for the minute), so any
 * limit change makes it a different hint.
 */
export function orgFullHint(windowId: string, limits: { perMinute: number; perDay: number }): string {
  return `${windowId}|${limits.perMinute}|${limits.perDay}`;
}

/** The counts of every window that applies to `keyId`, as `state` records them for `minute` and `day`. */
export function windowCounts(
  state: OrgDayCounters | undefined,
  minute: Window,
  day: Window,
  limits: AppliedLimits,
  keyId: string,
): WindowCount[] {
  const sameMinute = state?.mw === minute.id;
  const counts: WindowCount[] = [
    { scope: 'org', window: minute, limit: limits.org.perMinute, used: sameMinute ? (state?.mc ?? 0) : 0 },
    { scope: 'org', window: day, limit: limits.org.perDay, used: state?.requests ?? 0 },
  ];
  if (limits.key.perMinute !== undefined) {
    counts.push({ scope: 'key', window: minute, limit: limits.key.perMinute, used: sameMinute ? (state?.km?.[keyId] ?? 0) : 0 });
  }
  if (limits.key.perDay !== undefined) {
    counts.push({ scope: 'key', window: day, limit: limits.key.perDay, used: state?.kr?.[keyId] ?? 0 });
  }
  return counts;
}

/**
 * same:  the item is in this minute window; count in it.
 * roll:  the item holds an earlier minute of this day; start this minute at one.
 * fresh: the item has no window yet (first request of the day); create the counters.
 */
export type WriteKind = 'same' | 'roll' | 'fresh';

/**
 * overflow: the organization's item already holds `maxKeys` other keys today; this key is counted
 * on its own day item instead (see shared/db/rate-limits.ts).
 */
export type Step =
  | { action: WriteKind; minute: Window }
  | { action: 'reject'; windows: WindowCount[] }
  | { action: 'overflow' };

/** Whether the organization's item counts `keyId` today, or would take it (fewer than `maxKeys` keys). */
export function hasRoomFor(state: OrgDayCounters | undefined, keyId: string, maxKeys: number): boolean {
  const keys = state?.kr ?? {};
  return keyId in keys || Object.keys(keys).length < maxKeys;
}

/**
 * Decide from the item as it was (ALL_OLD of a failed conditional write): over a limit, or which
 * write to try. Windows never move backwards: if a writer whose clock runs ahead already moved the
 * item to a later minute of this day, this request counts in that minute. With `maxKeys` (the
 * organization's item, counting keys), a key the item has no room for overflows, unless the
 * organization's own windows refuse the request first.
 */
export function nextStep(old: OrgDayCounters | undefined, now: Date, limits: AppliedLimits, keyId: string, maxKeys?: number): Step {
  const day = dayWindow(now);
  let minute = minuteWindow(now);
  if (old?.mw && old.mw > minute.id && dayOfMinute(old.mw) === day.id) minute = minuteWindowFromId(old.mw);
  const windows = windowCounts(old, minute, day, limits, keyId);
  if (windows.some(isExhausted)) return { action: 'reject', windows };
  if (!old?.mw) return { action: 'fresh', minute };
  if (maxKeys !== undefined && !hasRoomFor(old, keyId, maxKeys)) return { action: 'overflow' };
  return { action: old.mw === minute.id ? 'same' : 'roll', minute };
}

/**
 * The first write to try, before anything is known about the item: from the minute this process
 * last saw for the organization (undefined when it saw none). A wrong guess costs one failed
 * conditional write, whose ALL_OLD then tells the right one.
 */
export function firstGuess(lastSeenMinute: string | undefined, now: Date): { action: WriteKind; minute: Window } {
  const minute = minuteWindow(now);
  const day = dayWindow(now).id;
  if (!lastSeenMinute) return { action: 'same', minute };
  if (dayOfMinute(lastSeenMinute) !== day) return { action: lastSeenMinute < minute.id ? 'fresh' : 'same', minute };
  if (lastSeenMinute < minute.id) return { action: 'roll', minute };
  if (lastSeenMinute > minute.id) return { action: 'same', minute: minuteWindowFromId(lastSeenMinute) };
  return { action: 'same', minute };
}

/** How far into a minute a busy item is taken to have been moved to it by another writer (at 250 writes/s, 25 writes in). */
export const BUSY_ROLLED_AFTER_MS = 100;

/**
 * The first write to try on an item many environments write many times a second (the high-volume
 * path's shards and keys' items): once a minute is 100 ms old, another environment has almost
 * surely started it there, so this environment's first write in it is `same`, not `roll` or
 * `fresh`. Otherwise every environment's first write in each minute would fail once on each
 * item, a burst of failed writes at every minute's start that grows with the number of
 * environments. A wrong guess (a quiet key) costs one failed write, whose ALL_OLD tells the right one.
 */
export function firstGuessOnBusyItem(lastSeenMinute: string | undefined, now: Date): { action: WriteKind; minute: Window } {
  const minute = minuteWindow(now);
  const intoMinute = now.getTime() - (minute.resetAt * 1000 - 60_000);
  if (lastSeenMinute !== undefined && lastSeenMinute < minute.id && intoMinute >= BUSY_ROLLED_AFTER_MS) return { action: 'same', minute };
  return firstGuess(lastSeenMinute, now);
}

/** A limit a key does not set: its own item still counts (usage), and never refuses. */
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** A key's own limits as the limits of its own counter item. */
export function keyItemLimits(key: Partial<Limits>): AppliedLimits {
  return { org: { perMinute: key.perMinute ?? UNLIMITED, perDay: key.perDay ?? UNLIMITED }, key: {} };
}

/** The windows of a key's own item as the key's windows (only those the key sets a limit for). */
export function asKeyWindows(windows: readonly WindowCount[], key: Partial<Limits>): WindowCount[] {
  return windows
    .filter((w) => (w.window.period === 'minute' ? key.perMinute : key.perDay) !== undefined)
    .map((w) => ({ ...w, scope: 'key' as const }));
}

/**
 * From this minute limit up an organization is counted on shards. One item takes 1,000 WCU/s and
 * an admission on the one-item path costs 1-4 WCU (the item grows with the keys used that day), so
 * the one-item path is safe to about 250 requests/s sustained = 15,000 a minute. Free, starter
 * and pro (at most 600 a minute) are always below it.
 */
export const SHARDED_FROM_PER_MINUTE = 15_000;

/**
 * Shards per organization. Fixed, so a limit change never moves counts between shard sets. At
 * 10,000 requests/s a shard takes about 156 writes/s (16% of its item's 1,000 WCU/s); the path
 * stays under half the per-item ceiling up to about 32,000 requests/s, three times API Gateway's
 * default account ceiling.
 */
export const SHARD_COUNT = 64;

export function isHighVolume(orgLimits: Limits): boolean {
  return orgLimits.perMinute >= SHARDED_FROM_PER_MINUTE;
}

/** Shard `shard`'s share of `limit`: as even as integers allow; the shares sum to the limit exactly. */
export function shardShare(limit: number, shard: number, shards: number = SHARD_COUNT): number {
  return Math.floor(limit / shards) + (shard < limit % shards ? 1 : 0);
}

