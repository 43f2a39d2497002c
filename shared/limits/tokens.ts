// Token windows (docs/limits.md, "Token windows"): `tokensPerMinute` and `tokensPerDay` of an
// organization and of a key, counted in the same fixed UTC minutes and days as requests, with the
// same conditional counter writes, on the path the organization's request limits put it on.
//
// A reply holds tokens before it calls its upstream (takeTokens: as many as it wants, at least
// `atLeast`, or none) and settles when it ends (returnTokens gives back what it did not use). Each
// window is a conditional counter: a write whose condition fails changes nothing, so a window never
// counts more than its limit, under any concurrency. The key's windows (when it sets any) are on
// the key's token item, checked against the limits the request carries. The organization's are on
// its token item (one-item path) or one of its 64 token shards (high-volume path), which count
// under a version of its limits (as its request counters do) and hold the room that version leaves
// them: a limit change is applied to what they counted (rebaseTokens), so a lowered limit or a
// change of path mid-window never lets the window count past the limit in force.
// The key's item is written first; if the organization's refuses, the key's hold is given back.
// Decisions are the pure functions here; the writes are a TokenStore (DynamoDB in
// shared/db/token-windows.ts).
import type { Limits, RateSubject } from '../domain/plans.ts';
import { isHighVolume, orgFullHint, SHARD_COUNT, shardShare } from './counters.ts';
import type { WindowCount } from './headers.ts';
import { applyLimitChange, ChangeWait, FROZEN_WAITS_MS, StaleVersion, type ChangeResult, type Sleep, type FrozenCounts, type ItemShare, type OrgItem, type Totals } from './limit-change.ts';
import { dayOfMinute, dayWindow, minuteWindow, minuteWindowFromId, type Window } from './windows.ts';
import type { WriteKind } from './counters.ts';

/** An item that counts tokens: an organization's (its token item, or token shard `shard`), or a key's. */
export type TokenTarget = { organizationId: string; shard?: number } | { keyId: string };

/** A token window's limits (either may be absent: that window is not counted). */
export interface TokenLimits {
  perMinute?: number | undefined;
  perDay?: number | undefined;
}

/**
 * What a token item holds: `tw`, the minute it counts in, `tm` its tokens, `td` the day's tokens.
 * An organization's items (its token item and shards) also carry the version of the limits they
 * count under (`lv`; `hv`, whether that version's path is the high-volume one; `xm`, `xd`, its
 * token limits) and what they may still count: `rm` in minute `tw`, `sm` in a later minute, `rd`
 * that day (each absent when the window is). While a limit change is applied: `fz`, and the counts
 * as they were when it froze the item (`ftw`, `ftm`, `ftd`).
 */
export interface TokenCounters {
  tw?: string;
  tm?: number;
  td?: number;
  lv?: number;
  hv?: boolean;
  xm?: number;
  xd?: number;
  rm?: number;
  sm?: number;
  rd?: number;
  fz?: string;
  /** When a request last took over a change on this item's organization (epoch ms): set by the claim and by a takeover's freeze, so that waiting requests see it and wait rather than claim. */
  fzc?: number;
  ftw?: string;
  ftm?: number;
  ftd?: number;
  /**
   * On an organization's token shards: every shard was found short (`tf`, tokenShortHint: the
   * minute and the limits version), at `tfa` (epoch ms, the finder's clock), the most any shard had
   * left being `tfr` tokens. See ShortMark.
   */
  tf?: string;
  tfa?: number;
  tfr?: number;
}

/** What an environment that found every token shard short leaves on each of them. */
export interface ShortMark {
  tf: string;
  tfa: number;
  tfr: number;
}

/** The version of an organization's limits a token take counts under: its token limits, and whether its path is the high-volume one. */
export interface TokenVersion {
  v: number;
  highVolume: boolean;
  limits: TokenLimits;
}

/** What a limit change sets on one organization token item (rebaseTokens). */
export interface TokenAssignment {
  tw: string;
  tm: number;
  /** Room in minute `tw`, in each later minute, and that day (undefined: no such window). */
  rm?: number | undefined;
  sm?: number | undefined;
  rd?: number | undefined;
}

export type TokenWrite = { ok: true; state: TokenCounters } | { ok: false; old: TokenCounters | undefined };

export interface TokenStore {
  /**
   * One conditional write adding `amount` tokens to a token item (same / roll / fresh, as for
   * request counters): only if the item is in `minute` (or rolls it forward) and stays within
   * `limits` with them. The new counts, or the item as it was when the condition failed.
   */
  takeTokens(target: TokenTarget, kind: WriteKind, minute: Window, day: string, limits: TokenLimits, amount: number, version?: TokenVersion): Promise<TokenWrite>;
  /**
   * Give back `amount` tokens taken in `minute` of `day` (the minute's count too while the item is
   * still in it; on an organization's item, its room as well).
   */
  returnTokens(target: TokenTarget, minute: string, day: string, amount: number): Promise<void>;
  /**
   * On an organization's token shard: give back `amount` tokens to `minute` of `day` (and that
   * day; to the day only when `minute` is undefined), only if the shard is not being changed and
   * counted at least that many there, so that no shard's count goes below zero whichever shard
   * counted them (releaseTokens). Whether it did, and if not, the minute the shard was in.
   */
  returnToShard(target: TokenTarget, minute: string | undefined, day: string, amount: number): Promise<{ ok: true } | { ok: false; tw?: string | undefined }>;
  /**
   * Stop an organization token item from counting while a limit change is applied: set `fz` to
   * `token`, the version (`lv`, `hv`, `xm`, `xd`) and the counts as they are (`ftw`, `ftm`, `ftd`),
   * unless it counts under a newer version or was released under this one (creating the item if
   * need be); a takeover's freeze stamps `fzc` with `claimedAt`. The item as it is now, or as it was
   * when the condition failed.
   */
  freezeTokens(target: TokenTarget, day: string, version: TokenVersion, token: string, claimedAt?: number): Promise<TokenWrite>;
  /** Set what the item may count and let it count again, if it is still frozen by `token`. */
  assignTokens(target: TokenTarget, day: string, token: string, assignment: TokenAssignment): Promise<boolean>;
  /** Claim the takeover of the change `token` on an organization token item (as CounterStore.claimChange). */
  claimTokenChange(target: TokenTarget, day: string, token: string, at: number): Promise<boolean>;
  /** The organization's SHARD_COUNT token shards of `day`, in shard order (one eventually consistent batch read; undefined: no such item). */
  readTokenShards(organizationId: string, day: string): Promise<(TokenCounters | undefined)[]>;
  /** Leave `mark` on one token shard of `day` (only on a started shard, never replacing a mark as new or newer): false when it was not left. */
  markShort(target: TokenTarget, day: string, mark: ShortMark): Promise<boolean>;
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

/**
 * How long a token shard seen short of room is skipped, and how long a mark saying every shard is
 * short is trusted (tokens returned to a shard meanwhile may give it room again).
 */
export const TOKEN_SHARD_MEMORY_MS = 1_000;

/**
 * How far ahead of a reader's clock a mark may be and still be trusted (a writer whose clock runs
 * ahead): a reader whose clock is d behind trusts a mark for TOKEN_SHARD_MEMORY_MS + d.
 */
export const MARK_AHEAD_MS = 5_000;

/** The shards a hold that found every shard short marks first (then 8, 16, 32 and the rest: docs/limits.md, "Token windows"). */
export const FIRST_MARKS = 4;

/** Whether a mark made at `at` (its writer's clock) is trusted at `now` (the reader's). */
function markFresh(at: number, now: Date): boolean {
  return now.getTime() - at < TOKEN_SHARD_MEMORY_MS && at - now.getTime() < MARK_AHEAD_MS;
}

/** `<minute id>|<version>|<tokens per minute>|<tokens per day>`: every shard found short in this minute under this version of the limits. */
export function tokenShortHint(minuteId: string, version: TokenVersion): string {
  return orgFullHint(`${minuteId}|${version.v}`, { perMinute: version.limits.perMinute ?? -1, perDay: version.limits.perDay ?? -1 });
}

/**
 * What one environment saw of an organization's token shards: per `<orgId>|<shard>`, the room it
 * had left that day, when and under which version of the limits; and per organization, the latest
 * mark saying every shard is short that it trusts. A hold's first write skips a shard seen within
 * the last second with less room for the day than it needs, and a hold is refused without a write
 * within a second of a mark that every shard had less than the hold needs. Both only save writes:
 * a skipped shard may have got tokens back since (at most a second's worth). A shard's room in the
 * minute is not remembered: tokens come back to any shard at random (releaseTokens), so a shard
 * seen short a moment ago is as likely as any to have room again, and environments whose reads
 * found the same few shards with room would otherwise all write those next.
 */
export class TokenMemory {
  readonly shards = new Map<string, { at: number; day: string; v: number; dayRoom: number }>();
  /** Per organization: the latest mark trusted (its hint, most room and time). */
  readonly marks = new Map<string, { hint: string; room: number; at: number }>();
  /** `<orgId>|<day>|<version>`: the organization's token item is known to count under that version that day (shards may start). */
  readonly anchored = new Set<string>();
  /** Per organization: the newest version of its limits its token items were found counting under (keys' copies lag a change). */
  readonly versions = new Map<string, TokenVersion>();

  note(org: string, shard: number, now: Date, day: string, version: TokenVersion, state: TokenCounters | undefined): void {
    if (this.shards.size >= 100_000) this.shards.clear();
    const counted = state !== undefined && state.fz === undefined && state.lv !== undefined && Number(state.lv) === version.v;
    const dayRoom = !counted || version.limits.perDay === undefined ? Infinity : Number(state.rd ?? Infinity);
    this.shards.set(`${org}|${shard}`, { at: now.getTime(), day, v: version.v, dayRoom });
  }

  /** Whether `shard` was seen, within the last second and under this version, with less room for the day than `atLeast`. */
  short(org: string, shard: number, now: Date, version: TokenVersion, atLeast: number): boolean {
    const seen = this.shards.get(`${org}|${shard}`);
    if (!seen || now.getTime() - seen.at >= TOKEN_SHARD_MEMORY_MS || now.getTime() < seen.at) return false;
    if (seen.v !== version.v || seen.day !== dayWindow(now).id) return false;
    return seen.dayRoom < atLeast;
  }

  /** `version`, or the newer one this environment found the organization's token items counting under: taken under at once, not after a failed write. */
  newest(org: string, version: TokenVersion): TokenVersion {
    const known = this.versions.get(org);
    return known !== undefined && known.v > version.v ? known : version;
  }

  noteVersion(org: string, version: TokenVersion): void {
    if (this.versions.size >= 10_000) this.versions.clear();
    if (version.v > (this.versions.get(org)?.v ?? -1)) this.versions.set(org, version);
  }

  noteAnchored(key: string): void {
    if (this.anchored.size >= 10_000) this.anchored.clear();
    this.anchored.add(key);
  }

  /**
   * Whether a shard's mark says every shard is short for a hold of `atLeast` in `minute` under
   * `version`: a mark of this minute and version, made less than TOKEN_SHARD_MEMORY_MS before `now`
   * by this clock (or by a clock ahead of it), whose most room is less than `atLeast`. This environment then refuses such holds
   * without a write until the mark is that old.
   */
  trust(org: string, state: TokenCounters | undefined, minute: string, version: TokenVersion, atLeast: number, now: Date): boolean {
    if (state?.tf === undefined || state.tf !== tokenShortHint(minute, version)) return false;
    const at = Number(state.tfa ?? 0);
    const room = Number(state.tfr ?? 0);
    if (!markFresh(at, now) || room >= atLeast) return false;
    this.remember(org, { tf: state.tf, tfa: at, tfr: room });
    return true;
  }

  /** Trust a mark (one this environment left, or met) until it is TOKEN_SHARD_MEMORY_MS old. */
  remember(org: string, mark: ShortMark): void {
    const known = this.marks.get(org);
    if (known && known.hint === mark.tf && known.at >= mark.tfa) return;
    if (this.marks.size >= 10_000) this.marks.clear();
    this.marks.set(org, { hint: mark.tf, room: mark.tfr, at: mark.tfa });
  }

  /** Whether a trusted mark refuses a hold of `atLeast` in `minute` under `version` now, without a write. */
  allShort(org: string, minute: string, version: TokenVersion, atLeast: number, now: Date): boolean {
    const known = this.marks.get(org);
    return known !== undefined && known.hint === tokenShortHint(minute, version) && known.room < atLeast && markFresh(known.at, now);
  }
}

const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Hold between `atLeast` and `want` tokens in every token window of the subject (the key's, then
 * the organization's), or none. Refused (ok: false, with the windows that refused, for the 429)
 * when fewer than `atLeast` fit. Whatever fails after the key's take (the organization's refusal,
 * an error) gives the key's tokens back.
 */
export async function holdTokens(
  store: TokenStore,
  subject: Pick<RateSubject, 'organizationId' | 'keyId' | 'orgLimits' | 'keyLimits' | 'orgLimitsVersion'>,
  want: number,
  now: Date,
  { atLeast = want, random = Math.random, memory = new TokenMemory(), wait = sleep }: { atLeast?: number; random?: Random; memory?: TokenMemory; wait?: Sleep } = {},
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
  // A key's copy of its organization's limits may lag a change: the newest version this environment met.
  let version = memory.newest(subject.organizationId, tokenVersionOf(subject));
  let org: Awaited<ReturnType<typeof takeOrg>> | undefined;
  if (hasTokenLimits(version.limits)) {
    for (let decisions = 1; ; decisions++) {
      try {
        org = await takeOrg(store, subject.organizationId, version, granted, floor, now, random, memory, wait);
        break;
      } catch (error) {
        // The organization's token items count under newer limits than the key's copy: take under those.
        if (error instanceof StaleTokenLimits && decisions < 3 && error.version.v > version.v) {
          memory.noteVersion(subject.organizationId, error.version);
          version = error.version;
          if (hasTokenLimits(version.limits)) continue;
          org = undefined;
          break;
        }
        await giveBack(store, parts);
        throw error;
      }
    }
  }
  if (org !== undefined) {
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

/** The version of the organization's limits a subject carries (its key's copy), for its token items. */
export function tokenVersionOf(subject: Pick<RateSubject, 'orgLimits' | 'orgLimitsVersion'>): TokenVersion {
  return { v: subject.orgLimitsVersion ?? 0, highVolume: isHighVolume(subject.orgLimits), limits: tokenLimitsOf({ orgLimits: subject.orgLimits, keyLimits: null }).org };
}

/** The version an organization token item counts under, as it records it. */
export function itemTokenVersion(item: TokenCounters): TokenVersion {
  return {
    v: Number(item.lv ?? 0),
    highVolume: item.hv === true,
    limits: { perMinute: item.xm === undefined ? undefined : Number(item.xm), perDay: item.xd === undefined ? undefined : Number(item.xd) },
  };
}

/** The organization's token items count under a newer version of its limits than the request carries: take under that one. */
export class StaleTokenLimits extends StaleVersion<TokenVersion> {
  constructor(version: TokenVersion) {
    super(version, 'StaleTokenLimits', 'token limits changed');
  }
}

export type VersionedStep =
  | { action: WriteKind; minute: Window; amount: number }
  | { action: 'reject'; minute: Window }
  /** The item is being changed (`fz`): wait, then apply that change. */
  | { action: 'wait' }
  /** The item counts under older limits (or none): apply this version first. */
  | { action: 'rebase' }
  | { action: 'stale'; version: TokenVersion };

/**
 * Decide a take on an organization token item from what it holds: its version first (being
 * changed, older, newer), then its room: in its minute (`rm`, or `sm` for a later minute of the
 * day: windows never move back) and its day (`rd`). `share` is what a fresh item starts with.
 */
export function versionedStep(old: TokenCounters | undefined, now: Date, version: TokenVersion, share: TokenLimits, want: number, atLeast: number): VersionedStep {
  let minute = minuteWindow(now);
  if (old === undefined || (old.lv === undefined && old.tw === undefined && old.fz === undefined)) {
    const amount = Math.min(want, share.perMinute ?? Infinity, share.perDay ?? Infinity);
    return amount < Math.max(1, atLeast) ? { action: 'reject', minute } : { action: 'fresh', minute, amount };
  }
  if (old.fz !== undefined) return { action: 'wait' };
  if (old.lv === undefined || Number(old.lv) < version.v) return { action: 'rebase' };
  if (Number(old.lv) > version.v) return { action: 'stale', version: itemTokenVersion(old) };
  if (old.tw && old.tw > minute.id && dayOfMinute(old.tw) === dayWindow(now).id) minute = minuteWindowFromId(old.tw);
  const sameMinute = old.tw === minute.id;
  const minuteRoom = version.limits.perMinute === undefined ? Infinity : Number((sameMinute ? old.rm : old.sm) ?? 0);
  const dayRoom = version.limits.perDay === undefined ? Infinity : Number(old.rd ?? 0);
  const amount = Math.min(want, minuteRoom, dayRoom);
  if (amount < Math.max(1, atLeast)) return { action: 'reject', minute };
  return { action: sameMinute ? 'same' : 'roll', minute, amount };
}

type VersionedTake = { ok: true; amount: number; minute: Window; state: TokenCounters } | { ok: false; minute: Window; old: TokenCounters | undefined };

/**
 * Take between `atLeast` and `want` tokens on one organization token item under `version`: the
 * first write guessed (this minute, room enough), then whatever the failed write's ALL_OLD says.
 * An item being changed is waited for (then the change is applied again, in case whoever applied
 * it stopped); an item under older limits gets `version` applied (rebaseTokens); an item under
 * newer ones throws StaleTokenLimits. `beforeFresh` runs before an item's day is started.
 */
async function takeVersioned(
  store: TokenStore,
  target: TokenTarget & { organizationId: string },
  version: TokenVersion,
  share: TokenLimits,
  want: number,
  atLeast: number,
  now: Date,
  wait: Sleep,
  beforeFresh?: () => Promise<void>,
  known?: { state: TokenCounters | undefined },
): Promise<VersionedTake> {
  const day = dayWindow(now).id;
  // First guess: a started item in this minute with room (the common case for a busy item), or
  // what a read just found; a failed write says what the item holds.
  const guess = (): VersionedStep & { action: WriteKind } => ({ action: 'same', minute: minuteWindow(now), amount: want });
  let old: TokenCounters | undefined = known?.state;
  let step: VersionedStep = known ? versionedStep(old, now, version, share, want, atLeast) : guess();
  const changes = new ChangeWait(wait, () => new TokenContention());
  // One write per attempt; a wait or an applied change gives one more (both are bounded by `changes`).
  let extra = 0;
  for (let attempt = 1; attempt <= MAX_TOKEN_ATTEMPTS + extra; attempt++) {
    if (step.action === 'reject') return { ok: false, minute: step.minute, old };
    if (step.action === 'stale') throw new StaleTokenLimits(step.version);
    let write: VersionedStep & { action: WriteKind };
    if (step.action === 'wait' || step.action === 'rebase') {
      // An item frozen too long: take its change over (whoever applied it may have stopped), unless another hold did; an older one: apply this version.
      const frozenBy = itemTokenVersion(old as TokenCounters);
      if (step.action === 'wait') await changes.frozen(now, (at) => rebaseTokens(store, target.organizationId, frozenBy, at, { takeover: target }), old?.fzc);
      else await changes.apply(() => rebaseTokens(store, target.organizationId, version, now));
      extra += 1;
      write = guess();
    } else write = step;
    if (write.action === 'fresh' && beforeFresh) await beforeFresh();
    const result = await store.takeTokens(target, write.action, write.minute, day, share, write.amount, version);
    if (result.ok) return { ok: true, amount: write.amount, minute: write.minute, state: result.state };
    old = result.old;
    step = versionedStep(old, now, version, share, want, atLeast);
  }
  throw new TokenContention();
}

/**
 * On the high-volume path, before a token shard starts its day: the organization's token item
 * must count under this version (created, with no room of its own, when it does not exist), so
 * that no shard starts a day whose tokens were counted under other limits on the other path
 * (that item is where the one-item path counts, and what a change applies first).
 */
async function ensureAnchor(store: TokenStore, organizationId: string, version: TokenVersion, now: Date, memory: TokenMemory, wait: Sleep): Promise<void> {
  const day = dayWindow(now).id;
  const key = `${organizationId}|${day}|${version.v}`;
  if (memory.anchored.has(key)) return;
  const none: TokenLimits = { perMinute: version.limits.perMinute === undefined ? undefined : 0, perDay: version.limits.perDay === undefined ? undefined : 0 };
  const changes = new ChangeWait(wait, () => new TokenContention());
  for (let attempt = 1; attempt <= MAX_TOKEN_ATTEMPTS + FROZEN_WAITS_MS.length; attempt++) {
    const r = await store.takeTokens({ organizationId }, 'fresh', minuteWindow(now), day, none, 0, version);
    const old = r.ok ? r.state : r.old;
    if (old?.fz !== undefined) {
      const frozenBy = itemTokenVersion(old);
      await changes.frozen(now, (at) => rebaseTokens(store, organizationId, frozenBy, at, { takeover: { organizationId } }), old.fzc);
      continue;
    }
    if (r.ok || (old?.lv !== undefined && Number(old.lv) === version.v)) {
      memory.noteAnchored(key);
      return;
    }
    if (old?.lv !== undefined && Number(old.lv) > version.v) throw new StaleTokenLimits(itemTokenVersion(old));
    if (old !== undefined) await changes.apply(() => rebaseTokens(store, organizationId, version, now));
  }
  throw new TokenContention();
}

/**
 * The windows of an organization token item as a client is told them: the organization's limits,
 * used up to what the item has left (its room, or `share` for an item not started): never more
 * than the window has left.
 */
export function roomWindows(state: TokenCounters | undefined, minute: Window, day: Window, share: TokenLimits, limits: TokenLimits): WindowCount[] {
  const windows: WindowCount[] = [];
  const counted = state !== undefined && state.lv !== undefined && state.fz === undefined;
  if (limits.perMinute !== undefined) {
    const room = counted ? Number((state.tw === minute.id ? state.rm : state.sm) ?? 0) : (share.perMinute ?? 0);
    windows.push({ scope: 'org', window: minute, limit: limits.perMinute, used: limits.perMinute - Math.min(limits.perMinute, Math.max(0, room)) });
  }
  if (limits.perDay !== undefined) {
    const room = counted ? Number(state.rd ?? 0) : (share.perDay ?? 0);
    windows.push({ scope: 'org', window: day, limit: limits.perDay, used: limits.perDay - Math.min(limits.perDay, Math.max(0, room)) });
  }
  return windows;
}

/**
 * The organization's take, under `version` of its limits: on its one token item, or (high-volume
 * path) on one of its token shards that can hold at least `atLeast`: one picked at random, then,
 * unless its failed write carried a mark that every shard is short, those a read of all of them
 * found with room; none: the mark is left on every shard (docs/limits.md, "Token windows").
 */
async function takeOrg(
  store: TokenStore,
  organizationId: string,
  version: TokenVersion,
  want: number,
  atLeast: number,
  now: Date,
  random: Random,
  memory: TokenMemory,
  wait: Sleep,
): Promise<{ ok: true; amount: number; part: TokenPart; windows: WindowCount[] } | { ok: false; windows: WindowCount[] }> {
  const day = dayWindow(now);
  const limits = version.limits;
  if (!version.highVolume) {
    const r = await takeVersioned(store, { organizationId }, version, limits, want, atLeast, now, wait);
    if (!r.ok) return { ok: false, windows: roomWindows(r.old, r.minute, day, limits, limits) };
    return { ok: true, amount: r.amount, part: { target: { organizationId }, minute: r.minute.id, day: day.id, tokens: r.amount }, windows: roomWindows(r.state, r.minute, day, limits, limits) };
  }
  const minute = minuteWindow(now);
  let dayShort = false;
  // Refused: no shard holds `atLeast` (what is left is scattered in pieces smaller than that): the
  // minute told as full, the day too when a shard was short for the day.
  const refused = () => ({
    ok: false as const,
    windows: tokenWindows(undefined, minute, day, limits, 'org').map((w) => (w.window.period === 'day' && !dayShort ? w : { ...w, used: w.limit })),
  });
  // An environment found every shard short within the last second: refused without a write.
  if (memory.allShort(organizationId, minute.id, version, atLeast, now)) return refused();

  const anchor = () => ensureAnchor(store, organizationId, version, now, memory, wait);
  const roomOf = (state: TokenCounters | undefined, at: Window, share: TokenLimits) => Math.min(...roomWindows(state, at, day, share, limits).map((w) => w.limit - w.used));
  const take = async (shard: number, known?: { state: TokenCounters | undefined }) => {
    const share = tokenShardLimits(limits, shard);
    const r = await takeVersioned(store, { organizationId, shard }, version, share, want, atLeast, now, wait, anchor, known);
    memory.note(organizationId, shard, now, day.id, version, r.ok ? r.state : r.old);
    if (r.ok) {
      return {
        ok: true as const,
        amount: r.amount,
        part: { target: { organizationId, shard }, minute: r.minute.id, day: day.id, tokens: r.amount },
        windows: roomWindows(r.state, r.minute, day, share, limits),
      };
    }
    if (roomWindows(r.old, r.minute, day, share, limits).some((w) => w.window.period === 'day' && w.limit - w.used < atLeast)) dayShort = true;
    return { ...r, room: roomOf(r.old, r.minute, share) };
  };
  // A shard's write that failed without an answer (lost and not confirmed, throttled, contended):
  // the hold goes on to another shard instead of failing. Tokens that write may have counted stay
  // counted until the window ends (never over; at most one hold's worth per such write).
  let failed: { error: unknown } | undefined;
  const attempt = async (shard: number, known?: { state: TokenCounters | undefined }) => {
    try {
      return await take(shard, known);
    } catch (error) {
      if (error instanceof StaleTokenLimits) throw error;
      failed = { error };
      return undefined;
    }
  };

  // One shard at random (among those this environment has not just seen short for the day).
  const order = Array.from({ length: SHARD_COUNT }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const first = order.find((shard) => !memory.short(organizationId, shard, now, version, atLeast));
  if (first !== undefined) {
    const r = await attempt(first);
    if (r?.ok) return r;
    // Its item carries a mark that every shard was short within the last second: refused with this
    // one failed write, as the key's item carries `ofm` for requests.
    if (r && memory.trust(organizationId, r.old, r.minute.id, version, atLeast, now)) return refused();
  }

  // Otherwise read every shard at once, and write those with room.
  const states = await store.readTokenShards(organizationId, day.id);
  // A shard marked since the minute ran out (within the last second): refused, as when the first
  // write meets the mark, rather than writing the shards that got tokens back since, which every
  // hold that read them races for.
  if (states.some((state) => memory.trust(organizationId, state, minute.id, version, atLeast, now))) return refused();
  let most = 0;
  const open: { shard: number; room: number }[] = [];
  for (const shard of order) {
    const share = tokenShardLimits(limits, shard);
    const step = versionedStep(states[shard], now, version, share, want, atLeast);
    if (step.action === 'reject') {
      most = Math.max(most, roomOf(states[shard], step.minute, share));
      // Short for the day: this environment's next holds skip it for a second, as if its write had failed.
      memory.note(organizationId, shard, now, day.id, version, states[shard]);
    } else if ('minute' in step) open.push({ shard, room: roomOf(states[shard], step.minute, share) });
    else open.push({ shard, room: 1 });
  }
  // In a random order weighted by room (each shard's key random^(1/room), highest first): a shard
  // with more room can serve more of the holds that read at once, so more of them try it first; not
  // the roomiest first, which all of them would write.
  const tried = open.map(({ shard, room }) => ({ shard, key: Math.pow(random(), 1 / Math.max(1, room)) })).sort((a, b) => b.key - a.key);
  let unanswered: { error: unknown } | undefined;
  for (const { shard } of tried) {
    failed = undefined;
    const r = await attempt(shard, { state: states[shard] });
    if (r?.ok) return r;
    // Another hold found every shard short since this one's read, and marked them: trust it, as the first write does.
    if (r && memory.trust(organizationId, r.old, r.minute.id, version, atLeast, now)) return refused();
    if (r) most = Math.max(most, r.room);
    else unanswered = failed;
  }
  // A shard with room whose write went unanswered: not known short, so not refused.
  if (unanswered) throw unanswered.error;
  // Every shard short: say so on each of them, so that other environments' holds are refused with
  // one failed write for the next second, not 64.
  const mark: ShortMark = { tf: tokenShortHint(minute.id, version), tfa: now.getTime(), tfr: Math.max(0, most) };
  // Not where the read found a shard not started, or a mark at least as new (a clock ahead of this
  // one made it): that write would fail. A few at first, then twice as many each time, stopping once
  // one is refused: a newer mark is there, and whoever left it marks the rest (when many holds find
  // every shard short at once, each would otherwise fail on nearly every shard).
  const stale = order.filter((shard) => states[shard]?.tw !== undefined && !(Number(states[shard]?.tfa ?? 0) >= mark.tfa));
  for (let from = 0, size = FIRST_MARKS; from < stale.length; from += size, size *= 2) {
    const left = await Promise.all(stale.slice(from, from + size).map((shard) => store.markShort({ organizationId, shard }, day.id, mark).catch(() => true)));
    if (left.includes(false)) break;
  }
  memory.remember(organizationId, mark);
  return refused();
}

/**
 * Apply `version` of the organization's limits to what its token windows have counted today,
 * whichever path counted it (as rebase in store.ts does for requests): every token item of the
 * organization (its token item and its 64 shards) stops counting (freezeTokens keeps its counts as
 * they were), the minute's and the day's counts are summed, and what the new limits leave is shared
 * out as room over the items of the path the new limits call for; the other path's items get none.
 * A window already over its new limit gets no room anywhere: each item's room is minus its own
 * count, so tokens given back later never make room while the window is over it (nothing more is
 * taken in that window until it ends, or until another change). Exact: no item takes while frozen,
 * and tokens given back only add to the room of an item that counted at least as many (returnPart).
 */
export function rebaseTokens(store: TokenStore, organizationId: string, version: TokenVersion, now: Date, options: { takeover?: OrgItem } = {}): Promise<ChangeResult> {
  const counts = (s: TokenCounters): FrozenCounts => ({ minute: s.ftw, minuteCount: s.ftm, dayCount: s.ftd });
  return applyLimitChange({ store, kind: 'tokens', organizationId, version: version.v, highVolume: version.highVolume, counts }, now, {
    freeze: (target, day, token, claimedAt) => store.freezeTokens(target, day, version, token, claimedAt),
    assign: (target, day, token, item, totals) => store.assignTokens(target, day, token, tokenAssignment(version.limits, item, totals)),
    claim: (item, day, token, at) => store.claimTokenChange(item, day, token, at),
  }, options);
}

/** What a limit change gives one token item: its share of what `limits` leave as room, or minus its count in a window already over. */
export function tokenAssignment(limits: TokenLimits, item: ItemShare, totals: Totals): TokenAssignment {
  const room = (limit: number | undefined, total: number, counted: number) => {
    if (limit === undefined) return undefined;
    const left = limit - total;
    return left < 0 ? -counted : item.share(left);
  };
  return {
    tw: totals.minute,
    tm: item.minuteCount,
    rm: room(limits.perMinute, totals.minuteTotal, item.minuteCount),
    sm: limits.perMinute === undefined ? undefined : item.share(limits.perMinute),
    rd: room(limits.perDay, totals.dayTotal, item.dayCount),
  };
}

/**
 * Give back `tokens` of a hold (all of it when omitted): its unused part when the reply ends, or
 * the whole hold when the reply failed. Every part gets them back (the key's window and the
 * organization's each counted the whole hold), each at most what it holds (returnPart). Returns
 * the hold as it is after (what remains counted).
 */
export async function releaseTokens(store: TokenStore, hold: TokenHold, tokens: number = hold.tokens, random: Random = Math.random): Promise<TokenHold> {
  const back = Math.max(0, Math.min(hold.tokens, Math.floor(tokens)));
  if (back === 0) return hold;
  const parts = hold.parts.map((p) => ({ ...p }));
  for (const part of parts) {
    const n = Math.min(back, part.tokens);
    if (n > 0) await returnPart(store, part, n, random);
    part.tokens -= n;
  }
  return { ...hold, tokens: hold.tokens - back, parts };
}

/**
 * Give back `n` tokens of one part of a hold. To an organization's token shard picked at random
 * (then the one that counted them), not to the shard the hold took them from: tokens come back
 * spread over the shards as evenly as holds' first writes spread, so no shard gets back more room
 * because many holds just took from it, which would draw the next holds' writes (and their
 * returns) to it in turn. Only where the shard counted at least what it gets back, in that minute
 * and day (returnToShard's condition): no shard's count goes below zero, so a shard's count plus
 * its room stays what a limit change left it, the window's count is still the sum of the shards'
 * counts, and a window over a lowered limit still takes nothing more (every room stays at most
 * zero). A shard already in a later minute takes them back to its day only (that minute is over
 * for it). When both counted fewer (other holds' tokens came back to them), the shards a read finds
 * counting them take them, in pieces if need be; what is left goes back to the day only (never
 * over: a window keeps what was not returned until it ends). Any other item: back to where they
 * were counted.
 */
async function returnPart(store: TokenStore, part: TokenPart, n: number, random: Random): Promise<void> {
  const target = part.target;
  if (!('organizationId' in target) || target.shard === undefined) return store.returnTokens(target, part.minute, part.day, n);
  const organizationId = target.organizationId;
  const back = (shard: number, minute: string | undefined, tokens: number) => store.returnToShard({ organizationId, shard }, minute, part.day, tokens);
  for (const shard of [Math.floor(random() * SHARD_COUNT), target.shard]) {
    const r = await back(shard, part.minute, n);
    if (r.ok) return;
    if (r.tw !== undefined && r.tw > part.minute && (await back(shard, undefined, n)).ok) return;
  }
  let left = n;
  const states = await store.readTokenShards(organizationId, part.day);
  const counting = states
    .map((state, shard) => ({ shard, tm: state?.tw === part.minute && state.fz === undefined ? Number(state.tm ?? 0) : 0 }))
    .filter(({ tm }) => tm > 0)
    .sort((a, b) => b.tm - a.tm);
  for (const { shard, tm } of counting) {
    if (left === 0) return;
    const piece = Math.min(left, tm);
    if ((await back(shard, part.minute, piece)).ok) left -= piece;
  }
  if (left > 0) await back(target.shard, undefined, left);
}
