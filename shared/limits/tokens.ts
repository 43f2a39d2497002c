// Token windows (docs/limits.md, "Token windows"): `tokensPerMinute` and `tokensPerDay` of an
// organization and of a key, counted in the same fixed UTC minutes and days as requests, with the
// same conditional counter writes, on the path the organization's request limits put it on.
//
// A reply holds tokens before it calls its upstream (takeTokens: as many as it wants, at least
// `atLeast`, or none) and settles when it ends (returnTokens gives back what it did not use). Each
// window is a conditional counter: a write whose condition fails changes nothing, so a window never
// counts more than its limit, under any concurrency. The key's windows (when it sets any) are on
// the key's token item, the organization's on its token item (one-item path) or one of its 64
// token shards, each holding an exact share of the organization's token limits (high-volume path).
// The key's item is written first; if the organization's refuses, the key's hold is given back.
// Decisions are the pure functions here; the writes are a TokenStore (DynamoDB in
// shared/db/rate-limits.ts).
import type { Limits, RateSubject } from '../domain/plans.ts';
import { isHighVolume, SHARD_COUNT, shardShare } from './counters.ts';
import type { WindowCount } from './headers.ts';
import { dayOfMinute, dayWindow, minuteWindow, minuteWindowFromId, type Window } from './windows.ts';
import type { WriteKind } from './counters.ts';

/** An item that counts tokens: an organization's (its token item, or token shard `shard`), or a key's. */
export type TokenTarget = { organizationId: string; shard?: number } | { keyId: string };

/** A token window's limits (either may be absent: that window is not counted). */
export interface TokenLimits {
  perMinute?: number | undefined;
  perDay?: number | undefined;
}

/** What a token item holds: `tw`, the minute it counts in, `tm` its tokens, `td` the day's tokens. */
export interface TokenCounters {
  tw?: string;
  tm?: number;
  td?: number;
}

export type TokenWrite = { ok: true; state: TokenCounters } | { ok: false; old: TokenCounters | undefined };

export interface TokenStore {
  /**
   * One conditional write adding `amount` tokens to a token item (same / roll / fresh, as for
   * request counters): only if the item is in `minute` (or rolls it forward) and stays within
   * `limits` with them. The new counts, or the item as it was when the condition failed.
   */
  takeTokens(target: TokenTarget, kind: WriteKind, minute: Window, day: string, limits: TokenLimits, amount: number): Promise<TokenWrite>;
  /** Give back `amount` tokens taken in `minute` of `day` (the minute's count too while the item is still in it). */
  returnTokens(target: TokenTarget, minute: string, day: string, amount: number): Promise<void>;
}

/** What one hold took from one item: enough to give it back from anywhere (plain data). */
export interface TokenPart {
  target: TokenTarget;
  /** The minute (id) and day the tokens were counted in. */
  minute: string;
  day: string;
  tokens: number;
}

/**
 * Tokens a reply holds in every token window that applies to it. `tokens` is what it may use
 * (between `atLeast` and what it asked for); `parts` is where they were counted (empty when no
 * token window applies). Plain data: it can be stored and settled by another process.
 */
export interface TokenHold {
  tokens: number;
  parts: TokenPart[];
  /** The token windows after the hold (for headers; empty when none applies). */
  windows: WindowCount[];
}

export type TokenTake = { ok: true; hold: TokenHold } | { ok: false; windows: WindowCount[] };

/** The token limits of a subject: the organization's and the key's own. */
export function tokenLimitsOf(subject: Pick<RateSubject, 'orgLimits' | 'keyLimits'>): { org: TokenLimits; key: TokenLimits } {
  const pick = (l: Partial<Limits> | null | undefined): TokenLimits => ({
    perMinute: typeof l?.tokensPerMinute === 'number' ? l.tokensPerMinute : undefined,
    perDay: typeof l?.tokensPerDay === 'number' ? l.tokensPerDay : undefined,
  });
  return { org: pick(subject.orgLimits), key: pick(subject.keyLimits) };
}

export function hasTokenLimits(limits: TokenLimits): boolean {
  return limits.perMinute !== undefined || limits.perDay !== undefined;
}

/** Shard `shard`'s share of the organization's token limits (the shares sum to each limit). */
export function tokenShardLimits(limits: TokenLimits, shard: number): TokenLimits {
  return {
    perMinute: limits.perMinute === undefined ? undefined : shardShare(limits.perMinute, shard),
    perDay: limits.perDay === undefined ? undefined : shardShare(limits.perDay, shard),
  };
}

/** The windows of a token item as a client is told them (scope as given). */
export function tokenWindows(state: TokenCounters | undefined, minute: Window, day: Window, limits: TokenLimits, scope: 'org' | 'key'): WindowCount[] {
  const windows: WindowCount[] = [];
  if (limits.perMinute !== undefined) windows.push({ scope, window: minute, limit: limits.perMinute, used: state?.tw === minute.id ? Number(state.tm ?? 0) : 0 });
  if (limits.perDay !== undefined) windows.push({ scope, window: day, limit: limits.perDay, used: Number(state?.td ?? 0) });
  return windows;
}

export type TokenStep = { action: WriteKind; minute: Window; amount: number } | { action: 'reject'; minute: Window; room: number };

/**
 * Decide a take from what the item holds: the minute it counts in (the clock's, or a later one of
 * the day another writer moved the item to: windows never move back), how many tokens fit (at most
 * `want`, at least `atLeast`), and which write makes it; or that fewer than `atLeast` fit.
 */
export function tokenStep(old: TokenCounters | undefined, now: Date, limits: TokenLimits, want: number, atLeast: number): TokenStep {
  const day = dayWindow(now).id;
  let minute = minuteWindow(now);
  if (old?.tw && old.tw > minute.id && dayOfMinute(old.tw) === day) minute = minuteWindowFromId(old.tw);
  const sameMinute = old?.tw === minute.id;
  const usedMinute = sameMinute ? Number(old?.tm ?? 0) : 0;
  const usedDay = old?.tw !== undefined && dayOfMinute(old.tw) === day ? Number(old.td ?? 0) : 0;
  const room = Math.min(
    limits.perMinute === undefined ? Infinity : limits.perMinute - usedMinute,
    limits.perDay === undefined ? Infinity : limits.perDay - usedDay,
  );
  const amount = Math.min(want, room);
  if (amount < Math.max(1, atLeast)) return { action: 'reject', minute, room: Math.max(0, room === Infinity ? 0 : room) };
  const action: WriteKind = old?.tw === undefined ? 'fresh' : sameMinute ? 'same' : 'roll';
  return { action, minute, amount };
}

/** Enough for a guess, a roll and a retry after losing it; the amount shrinks as the item fills. */
const MAX_TOKEN_ATTEMPTS = 6;

/** Take between `atLeast` and `want` tokens on one item: the granted amount and the item's counts, or what it had. */
export async function takeOn(
  store: TokenStore,
  target: TokenTarget,
  limits: TokenLimits,
  want: number,
  atLeast: number,
  now: Date,
): Promise<{ ok: true; amount: number; minute: Window; state: TokenCounters } | { ok: false; minute: Window; old: TokenCounters | undefined }> {
  const day = dayWindow(now).id;
  // First guess: a started item in this minute (the common case for a busy item).
  let old: TokenCounters | undefined = { tw: minuteWindow(now).id, tm: 0, td: 0 };
  for (let attempt = 1; attempt <= MAX_TOKEN_ATTEMPTS; attempt++) {
    const step = tokenStep(old, now, limits, want, atLeast);
    if (step.action === 'reject') return { ok: false, minute: step.minute, old };
    // The guess knows nothing of the counts: ask for what was wanted, and learn the rest on failure.
    const result = await store.takeTokens(target, step.action, step.minute, day, limits, step.amount);
    if (result.ok) return { ok: true, amount: step.amount, minute: step.minute, state: result.state };
    old = result.old ?? {};
  }
  throw new TokenContention();
}

export class TokenContention extends Error {
  constructor() {
    super('token counter contention');
    this.name = 'TokenContention';
  }
}

/** Which organization token shard to try next (Math.random in production; seeded in the simulation). */
export type Random = () => number;

/** How long a token shard seen short of room is skipped (tokens returned to it may give it room again). */
export const TOKEN_SHARD_MEMORY_MS = 1_000;

/**
 * What one environment saw of an organization's token shards: per `<orgId>|<shard>`, the room it
 * had (day and minute), when and under which limits. A hold skips a shard seen within the last
 * second with less room than it needs, so a refused hold on the high-volume path does not cost 64
 * failed writes each time; it only saves writes (a skipped shard may have got tokens back since).
 */
export class TokenMemory {
  readonly shards = new Map<string, { at: number; minute: string; day: string; limits: string; minuteRoom: number; dayRoom: number }>();

  note(org: string, shard: number, now: Date, minute: string, day: string, limits: TokenLimits, old: TokenCounters | undefined): void {
    if (this.shards.size >= 100_000) this.shards.clear();
    const share = tokenShardLimits(limits, shard);
    const minuteUsed = old?.tw === minute ? Number(old.tm ?? 0) : 0;
    const dayUsed = old?.tw !== undefined && dayOfMinute(old.tw) === day ? Number(old.td ?? 0) : 0;
    this.shards.set(`${org}|${shard}`, {
      at: now.getTime(),
      minute,
      day,
      limits: `${limits.perMinute}|${limits.perDay}`,
      minuteRoom: share.perMinute === undefined ? Infinity : share.perMinute - minuteUsed,
      dayRoom: share.perDay === undefined ? Infinity : share.perDay - dayUsed,
    });
  }

  /** Whether `shard` was seen, within the last second and under these limits, with less room than `atLeast`. */
  short(org: string, shard: number, now: Date, limits: TokenLimits, atLeast: number): boolean {
    const seen = this.shards.get(`${org}|${shard}`);
    if (!seen || now.getTime() - seen.at >= TOKEN_SHARD_MEMORY_MS || now.getTime() < seen.at) return false;
    if (seen.limits !== `${limits.perMinute}|${limits.perDay}` || seen.day !== dayWindow(now).id) return false;
    const minuteRoom = seen.minute === minuteWindow(now).id ? seen.minuteRoom : Infinity;
    return Math.min(minuteRoom, seen.dayRoom) < atLeast;
  }
}

/**
 * Hold between `atLeast` and `want` tokens in every token window of the subject (the key's, then
 * the organization's), or none. Refused (ok: false, with the windows that refused, for the 429)
 * when fewer than `atLeast` fit. Whatever fails after the key's take (the organization's refusal,
 * an error) gives the key's tokens back.
 */
export async function holdTokens(
  store: TokenStore,
  subject: Pick<RateSubject, 'organizationId' | 'keyId' | 'orgLimits' | 'keyLimits'>,
  want: number,
  now: Date,
  { atLeast = want, random = Math.random, memory = new TokenMemory() }: { atLeast?: number; random?: Random; memory?: TokenMemory } = {},
): Promise<TokenTake> {
  if (!(want >= 1) || !Number.isInteger(want)) throw new RangeError('want must be a positive integer');
  const floor = Math.min(want, Math.max(1, Math.floor(atLeast)));
  const limits = tokenLimitsOf(subject);
  const minute = minuteWindow(now);
  const day = dayWindow(now);
  const parts: TokenPart[] = [];
  const windows: WindowCount[] = [];
  let granted = want;

  if (hasTokenLimits(limits.key)) {
    const key = await takeOn(store, { keyId: subject.keyId }, limits.key, granted, floor, now);
    if (!key.ok) return { ok: false, windows: tokenWindows(key.old, key.minute, day, limits.key, 'key') };
    granted = key.amount;
    parts.push({ target: { keyId: subject.keyId }, minute: key.minute.id, day: day.id, tokens: key.amount });
    windows.push(...tokenWindows(key.state, key.minute, day, limits.key, 'key'));
  }
  if (hasTokenLimits(limits.org)) {
    let org: Awaited<ReturnType<typeof takeOrg>>;
    try {
      org = await takeOrg(store, subject.organizationId, subject.orgLimits, limits.org, granted, floor, now, random, memory);
    } catch (error) {
      await giveBack(store, parts);
      throw error;
    }
    if (!org.ok) {
      await giveBack(store, parts);
      return { ok: false, windows: [...org.windows, ...windows.map((w) => ({ ...w, used: Math.max(0, w.used - granted) }))] };
    }
    if (org.amount < granted && parts.length > 0) {
      // The organization holds fewer than the key did: the key's extra goes back at once.
      const key = parts[0] as TokenPart;
      await store.returnTokens(key.target, key.minute, key.day, granted - org.amount).catch(() => undefined);
      key.tokens = org.amount;
      for (const w of windows) w.used -= granted - org.amount;
    }
    granted = org.amount;
    parts.push(org.part);
    windows.push(...org.windows);
  }
  if (windows.length === 0) windows.push(...tokenWindows(undefined, minute, day, {}, 'org'));
  return { ok: true, hold: { tokens: granted, parts, windows } };
}

async function giveBack(store: TokenStore, parts: readonly TokenPart[]): Promise<void> {
  for (const part of parts) await store.returnTokens(part.target, part.minute, part.day, part.tokens).catch(() => undefined);
}

/**
 * The organization's take: on its one token item, or (high-volume path) on one of its token shards
 * that can hold at least `atLeast`, trying shards in a random order until one does or all refused.
 * The windows a client is told are what that item has left of its share (never more than the window has left).
 */
async function takeOrg(
  store: TokenStore,
  organizationId: string,
  requestLimits: Limits,
  limits: TokenLimits,
  want: number,
  atLeast: number,
  now: Date,
  random: Random,
  memory: TokenMemory,
): Promise<{ ok: true; amount: number; part: TokenPart; windows: WindowCount[] } | { ok: false; windows: WindowCount[] }> {
  const day = dayWindow(now);
  if (!isHighVolume(requestLimits)) {
    const r = await takeOn(store, { organizationId }, limits, want, atLeast, now);
    if (!r.ok) return { ok: false, windows: tokenWindows(r.old, r.minute, day, limits, 'org') };
    return { ok: true, amount: r.amount, part: { target: { organizationId }, minute: r.minute.id, day: day.id, tokens: r.amount }, windows: tokenWindows(r.state, r.minute, day, limits, 'org') };
  }
  const order = Array.from({ length: SHARD_COUNT }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  let fullMinute = true;
  for (const shard of order) {
    if (memory.short(organizationId, shard, now, limits, atLeast)) continue;
    const share = tokenShardLimits(limits, shard);
    const r = await takeOn(store, { organizationId, shard }, share, want, atLeast, now);
    memory.note(organizationId, shard, now, r.minute.id, day.id, limits, r.ok ? r.state : r.old);
    if (r.ok) {
      return {
        ok: true,
        amount: r.amount,
        part: { target: { organizationId, shard }, minute: r.minute.id, day: day.id, tokens: r.amount },
        windows: leftOfShare(tokenWindows(r.state, r.minute, day, share, 'org'), limits),
      };
    }
    const seen = tokenWindows(r.old, r.minute, day, share, 'org');
    if (seen.some((w) => w.window.period === 'day' && w.limit - w.used < atLeast)) fullMinute = false;
  }
  // No shard holds `atLeast`: the window(s) are told as full (what is left is scattered in pieces smaller than that).
  const minute = minuteWindow(now);
  return {
    ok: false,
    windows: tokenWindows(undefined, minute, day, limits, 'org').map((w) => (w.window.period === 'day' && fullMinute ? w : { ...w, used: w.limit })),
  };
}

/** A share's windows as the organization's: the share's rest is what the window is known to have left. */
function leftOfShare(shareWindows: WindowCount[], limits: TokenLimits): WindowCount[] {
  return shareWindows.map((w) => {
    const limit = (w.window.period === 'minute' ? limits.perMinute : limits.perDay) as number;
    return { ...w, limit, used: limit - Math.max(0, w.limit - w.used) };
  });
}

/**
 * Give back `tokens` of a hold (all of it when omitted): its unused part when the reply ends, or
 * the whole hold when the reply failed. Taken from the parts in reverse order (the organization's
 * first), each at most what it holds. Returns the hold as it is after (what remains counted).
 */
export async function releaseTokens(store: TokenStore, hold: TokenHold, tokens: number = hold.tokens): Promise<TokenHold> {
  const back = Math.max(0, Math.min(hold.tokens, Math.floor(tokens)));
  if (back === 0) return hold;
  const parts = hold.parts.map((p) => ({ ...p }));
  for (const part of parts) {
    const n = Math.min(back, part.tokens);
    if (n > 0) await store.returnTokens(part.target, part.minute, part.day, n);
    part.tokens -= n;
  }
  return { ...hold, tokens: hold.tokens - back, parts };
}
