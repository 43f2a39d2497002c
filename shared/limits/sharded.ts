// The high-volume admission path (docs/limits.md, "Past one hot item"): an organization whose
// minute limit is at least SHARDED_FROM_PER_MINUTE is counted on SHARD_COUNT shard items, each
// holding an exact share of every limit (the shares sum to the limit), instead of its one day item.
//
// Never over: each shard's conditional write admits at most its share in a window, and the shares
// sum to the limit. No early refusals: a full shard is only ever learnt from that shard's own
// failed write (counts never go down within a window), and a request is refused only when every
// shard is known full, so the window has admitted exactly its limit. Nothing is held between
// requests (no leased tokens), so a Lambda environment frozen or killed at any point strands no
// capacity, and a thawed one counts in the window its clock is in, never back in an earlier one
// (a shard's window only moves forward, as the one-item path's counter does).
//
// The key's counts, its own limits and its usage are on its own day item (`usage#key#<keyId>`,
// the shape the one-item path uses for keys beyond its bound), decided first with one conditional
// write: two writes per admitted request, each on an item that takes a share of the load.
import type { Limits, RateSubject } from '../domain/plans.ts';
import { asKeyWindows, firstGuessOnBusyItem, keyItemLimits, nextStep, orgFullHint, orgWindowsOf, SHARD_COUNT, shardShare, windowCounts, type OrgDayCounters } from './counters.ts';
import { appliedLimits, isExhausted, type AppliedLimits, type WindowCount } from './headers.ts';
import { countIn, fullMark, StaleLimits, versionOf, withAllowances, type Admission, type CounterStore, type CounterTarget, type LimitsVersion, type OrgFull } from './store.ts';
import { TokenMemory } from './tokens.ts';
import { dayOfMinute, dayWindow, minuteWindow, type Window } from './windows.ts';

/**
 * Refusals are tallied in memory and written by the request that was refused, before its 429 is
 * answered (with whatever else the environment tallied): in one process serving many requests at
 * once, concurrent refusals share the writes. Admitted requests write what is left at most this often.
 */
export const REFUSAL_FLUSH_MS = 1_000;

export { isHighVolume, SHARD_COUNT, SHARDED_FROM_PER_MINUTE, shardShare } from './counters.ts';

/** The limits one shard enforces (its shares of the organization's minute and day limits). */
export function shardLimits(limits: Limits, shard: number): AppliedLimits {
  return { org: { perMinute: shardShare(limits.perMinute, shard), perDay: shardShare(limits.perDay, shard) }, key: {} };
}

/** `windows` with those of `period` at their limit (known full without a count to show). */
function exhausted(windows: WindowCount[], period: 'minute' | 'day'): WindowCount[] {
  return windows.map((w) => (w.window.period === period ? { ...w, used: w.limit } : w));
}

/**
 * How long a shard read frozen is taken to be still frozen: a change takes a fraction of this, a
 * stalled one is taken over after about 1.6 s (TAKEOVER_MS in limit-change.ts).
 */
const FROZEN_MEMORY_MS = 2_000;

interface ShardState {
  day: string;
  mw?: string;
  mc: number;
  requests: number;
  /** The minute (id) in which this shard was seen full; it stays full for that minute and any earlier one. */
  minuteFull?: string;
  /** The day on which this shard was seen full for the day. */
  dayFull?: string;
}

/**
 * What one environment has seen of one organization's shards. It decides nothing on its own: a
 * shard is skipped only after its own failed write said it is full in a window that has not ended
 * by this environment's clock, and a full shard cannot get room back in that window.
 */
export class ShardView {
  /** The organization's limits this view was learnt under (a shard full under them may have room under others). */
  readonly limits: Limits;
  readonly version: number;

  constructor(limits: Limits, version = 0) {
    this.limits = limits;
    this.version = version;
  }

  private readonly shards = new Map<number, ShardState>();
  /** Sums of the shards' last seen counts, per minute id and per day (kept as they are observed). */
  private readonly minuteSums = new Map<string, number>();
  private readonly daySums = new Map<string, number>();
  /** Until when (epoch ms, this environment's clock) some shard is known full: before it, pick must look. */
  private fullUntil = 0;
  /** The latest minute this environment saw on any of the organization's items (shards and keys). */
  private latestMinute: string | undefined;

  /** A write counted in, or found its item in, `minuteId`. */
  noteMinute(minuteId: string | undefined): void {
    if (minuteId !== undefined && (this.latestMinute === undefined || minuteId > this.latestMinute)) this.latestMinute = minuteId;
  }

  /**
   * The first write to try on one of the organization's items: as for any busy item, from the
   * later of that item's last minute and the latest seen on any of them. A clock behind the others
   * then learns the new minute once per organization, not once per item.
   */
  readonly guess = (lastSeen: string | undefined, now: Date) =>
    firstGuessOnBusyItem(this.latestMinute !== undefined && (lastSeen === undefined || this.latestMinute > lastSeen) ? this.latestMinute : lastSeen, now);

  /** Record what a write returned (new counts, or the item as it was) for the day `day`. */
  observe(shard: number, day: string, state: OrgDayCounters | undefined): void {
    const known = this.shards.get(shard);
    const next: ShardState = known?.day === day ? { ...known } : { day, mc: 0, requests: 0 };
    if (state?.mw !== undefined && dayOfMinute(state.mw) === day && (next.mw === undefined || state.mw >= next.mw)) {
      next.mw = state.mw;
      next.mc = Number(state.mc ?? 0);
    }
    next.requests = Math.max(next.requests, Number(state?.requests ?? 0));
    this.count(known, -1);
    this.count(next, 1);
    this.shards.set(shard, next);
  }

  private count(state: ShardState | undefined, sign: 1 | -1): void {
    if (!state) return;
    if (state.mw !== undefined) this.minuteSums.set(state.mw, (this.minuteSums.get(state.mw) ?? 0) + sign * state.mc);
    this.daySums.set(state.day, (this.daySums.get(state.day) ?? 0) + sign * state.requests);
    if (this.minuteSums.size > 4 || this.daySums.size > 4) this.forgetOldSums();
  }

  /** Keep the sums of the latest windows only. */
  private forgetOldSums(): void {
    for (const sums of [this.minuteSums, this.daySums]) {
      const ids = [...sums.keys()].sort();
      for (const id of ids.slice(0, -2)) sums.delete(id);
    }
  }

  /** A shard's failed write said these windows are exhausted. */
  markFull(shard: number, day: string, windows: readonly WindowCount[]): void {
    const state = this.shards.get(shard) ?? { day, mc: 0, requests: 0 };
    for (const w of windows.filter(isExhausted)) {
      this.fullUntil = Math.max(this.fullUntil, w.window.resetAt * 1000);
      if (w.window.period === 'day') state.dayFull = w.window.id;
      else if (!state.minuteFull || w.window.id > state.minuteFull) state.minuteFull = w.window.id;
    }
    this.shards.set(shard, state);
  }

  /** When (this environment's clock) a read found each shard frozen by a limit change. */
  private readonly frozenAt = new Map<number, number>();

  /** What a read showed of a shard: frozen at `now`, or not (no longer). */
  noteFrozen(shard: number, now: Date, frozen: boolean): void {
    if (frozen) this.frozenAt.set(shard, now.getTime());
    else this.frozenAt.delete(shard);
  }

  /** Whether the last read of `shard` showed it frozen (however long ago): read again before writing it. */
  seenFrozen(shard: number): boolean {
    return this.frozenAt.has(shard);
  }

  /**
   * While every shard not known full was read frozen (by a limit change) within the last second:
   * what the others are full for. With every shard frozen, undefined: requests spread over them
   * and wait for the change as on any item.
   */
  onlyFrozen(now: Date): 'minute' | 'day' | undefined {
    if (this.frozenAt.size === 0) return undefined;
    const frozen = new Set<number>();
    for (const [shard, at] of this.frozenAt) if (now.getTime() - at < FROZEN_MEMORY_MS && now.getTime() >= at) frozen.add(shard);
    if (frozen.size === 0 || frozen.size >= SHARD_COUNT) return undefined;
    return this.allFull(now, SHARD_COUNT, frozen);
  }

  /** Another environment found every shard full (`windows` at their limit): so does this one now. */
  markAllFull(day: string, windows: readonly WindowCount[]): void {
    for (let shard = 0; shard < SHARD_COUNT; shard++) this.markFull(shard, day, windows);
  }

  private isFull(shard: number, minute: Window, day: Window): 'minute' | 'day' | undefined {
    const state = this.shards.get(shard);
    if (!state) return undefined;
    if (state.dayFull !== undefined && state.dayFull >= day.id) return 'day';
    if (state.minuteFull !== undefined && dayOfMinute(state.minuteFull) === day.id && state.minuteFull >= minute.id) return 'minute';
    return undefined;
  }

  /** What every shard (but those in `except`) is known full for at `now`: the day, this minute (some for the day), or neither. */
  allFull(now: Date, shards: number = SHARD_COUNT, except: ReadonlySet<number> = new Set()): 'minute' | 'day' | undefined {
    const minute = minuteWindow(now);
    const day = dayWindow(now);
    let dayFull = 0;
    for (let i = 0; i < shards; i++) {
      if (except.has(i)) continue;
      const why = this.isFull(i, minute, day);
      if (!why) return undefined;
      if (why === 'day') dayFull += 1;
    }
    return dayFull === shards - except.size ? 'day' : 'minute';
  }

  /** Shards not known to be full at `now` (by this environment's clock). */
  open(now: Date, shards: number = SHARD_COUNT): number[] {
    const minute = minuteWindow(now);
    const day = dayWindow(now);
    const open: number[] = [];
    for (let i = 0; i < shards; i++) if (!this.isFull(i, minute, day)) open.push(i);
    return open;
  }

  /**
   * A shard to try, among those not known to be full (undefined when all are): the less used, as
   * this environment last saw them, of two chosen at random. Two choices keep the shards' counts
   * close, so they fill at about the same moment instead of the last few taking every request.
   */
  pick(now: Date, random: Random, shards: number = SHARD_COUNT): number | undefined {
    const minute = minuteWindow(now).id;
    const used = (shard: number) => {
      const state = this.shards.get(shard);
      return state?.mw === minute ? state.mc : 0;
    };
    const better = (a: number, b: number) => (used(b) < used(a) ? b : a);
    if (now.getTime() >= this.fullUntil) {
      // The common case: none known full.
      return better(Math.floor(random() * shards), Math.floor(random() * shards));
    }
    const open = this.open(now, shards);
    if (open.length === 0) return undefined;
    return better(open[Math.floor(random() * open.length)] as number, open[Math.floor(random() * open.length)] as number);
  }

  /**
   * The organization's minute and day windows as this environment knows them: the counts its
   * writes last returned from each shard for `minute` and the day (a shard not seen in them counts
   * as empty, so Remaining errs high by what other environments counted since). With every shard
   * full, the exhausted window(s) at their limit.
   */
  windows(limits: Limits, minute: Window, now: Date, shards: number = SHARD_COUNT): WindowCount[] {
    const day = dayWindow(now);
    let dayFull = 0;
    let full = 0;
    if (now.getTime() < this.fullUntil) {
      const clockMinute = minuteWindow(now);
      for (let i = 0; i < shards; i++) {
        const why = this.isFull(i, clockMinute, day);
        if (why) full += 1;
        if (why === 'day') dayFull += 1;
      }
    }
    const minuteUsed = this.minuteSums.get(minute.id) ?? 0;
    const dayUsed = this.daySums.get(day.id) ?? 0;
    return [
      { scope: 'org', window: minute, limit: limits.perMinute, used: full === shards && dayFull < shards ? limits.perMinute : Math.min(minuteUsed, limits.perMinute) },
      { scope: 'org', window: day, limit: limits.perDay, used: dayFull === shards ? limits.perDay : Math.min(dayUsed, limits.perDay) },
    ];
  }
}

/** Refusals not yet written: per organization and day, and per key and day. */
export class RefusalTally {
  readonly orgs = new Map<string, number>();
  readonly keys = new Map<string, number>();
  lastFlush = 0;

  add(organizationId: string, keyId: string, day: string, n = 1): void {
    this.orgs.set(`${organizationId} ${day}`, (this.orgs.get(`${organizationId} ${day}`) ?? 0) + n);
    this.keys.set(`${keyId} ${day}`, (this.keys.get(`${keyId} ${day}`) ?? 0) + n);
  }

  get size(): number {
    return this.orgs.size + this.keys.size;
  }
}

/**
 * One environment's memory for the limiter, both paths (module scope in a Lambda; one per
 * environment in the simulation). It saves reads and failed writes; what it remembers as full is
 * only what a write proved under the same limits.
 */
export class LimiterMemory {
  readonly views = new Map<string, ShardView>();
  /** The minute last seen on each counter item (shards and key items): picks the first write to try. */
  readonly lastSeen = new Map<string, string>();
  readonly refusals = new RefusalTally();
  /**
   * Keys whose own minute limit this environment saw used up, under which organization limits. A key's
   * minute count only goes down by a take-back, which comes from an organization that refused in
   * that window, so the rest of the minute is refused without the failed write.
   */
  readonly keyMinuteFull = new Map<string, string>();
  /** One-item path: keys seen to overflow their organization's day item, with the day (they skip the write that would fail). */
  readonly overflowDay = new Map<string, string>();
  /**
   * One-item path: per organization, the keys its day item counts on a day it has no room for
   * more (it takes no other key that day): any other key is counted on its own item without the
   * write that would fail.
   */
  readonly keysOfFullDayItem = new Map<string, { day: string; keys: ReadonlySet<string> }>();
  /**
   * One-item path: per organization, the window its day item refused for the organization's own
   * limit (`minute|<id>|…` or `day|<id>|…`, see dayItemFullHint). Its counts only rise within a
   * window under one version of the limits, so the rest of that window is refused without a write.
   */
  readonly dayItemFull = new Map<string, string>();
  /** The newest version of each organization's limits this environment has seen (a request with an older copy is decided under it). */
  readonly orgVersions = new Map<string, LimitsVersion>();
  /** When (epoch ms, decision clock) this environment last read an organization's limits version before refusing from memory, and what it read. */
  readonly versionCheckedAt = new Map<string, { at: number; version: Promise<LimitsVersion | undefined> }>();
  /**
   * Per key and day (`<keyId>|<day>`): its requests counted today in its organization's day item
   * (`kr`), read once, where the key is counted on its own item instead (the high-volume path, or
   * the one-item path after the organization was on it that day): its own day limit covers both.
   */
  readonly carried = new Map<string, number>();
  /** What this environment saw of organizations' token shards (shared/limits/tokens.ts). */
  readonly tokens = new TokenMemory();

  /** What this environment knows of the organization's shards, learnt under `limits` of `version`: a limit change starts it afresh. */
  view(organizationId: string, limits: Limits, version = 0): ShardView {
    let view = this.views.get(organizationId);
    if (view && (view.limits.perMinute !== limits.perMinute || view.limits.perDay !== limits.perDay || view.version !== version)) view = undefined;
    if (!view) {
      if (this.views.size >= 10_000) this.views.clear();
      view = new ShardView(limits, version);
      this.views.set(organizationId, view);
    }
    if (this.lastSeen.size >= 100_000) this.lastSeen.clear();
    return view;
  }

  /** Note a version of an organization's limits (kept if newer than the one known). */
  noteVersion(organizationId: string, version: LimitsVersion): void {
    const known = this.orgVersions.get(organizationId);
    if (known && known.v >= version.v) return;
    if (this.orgVersions.size >= 10_000) this.orgVersions.clear();
    this.orgVersions.set(organizationId, version);
  }
}

/** How long (decision clock) what an environment remembers as full is trusted before the organization's version is read again. */
export const FULL_MEMORY_MS = 1_000;

/**
 * Before a refusal from memory (every shard known full, the key's item saying the organization
 * is full, or the key's minute known used up): at most once a second per organization, read the
 * organization's day item (it carries the newest limits version applied to its counters), and if
 * the limits changed since the request's copy, decide it again under them (StaleLimits). Bounds
 * how long a process keeps refusing from memory after a raised limit: one second.
 */
export async function confirmLimits(store: CounterStore, memory: LimiterMemory, subject: RateSubject, now: Date): Promise<void> {
  const { organizationId } = subject;
  let check = memory.versionCheckedAt.get(organizationId);
  if (check === undefined || now.getTime() - check.at >= FULL_MEMORY_MS || now.getTime() < check.at) {
    if (memory.versionCheckedAt.size >= 10_000) memory.versionCheckedAt.clear();
    // Requests refused meanwhile share this read (and its answer).
    const read = store.peek({ organizationId }, dayWindow(now).id).then((dayItem): LimitsVersion | undefined => {
      const v = Number(dayItem?.lv ?? dayItem?.sv ?? 0);
      return dayItem?.lm !== undefined && dayItem.ld !== undefined ? { v, limits: { perMinute: Number(dayItem.lm), perDay: Number(dayItem.ld) } } : undefined;
    });
    check = { at: now.getTime(), version: read };
    memory.versionCheckedAt.set(organizationId, check);
    read.catch(() => memory.versionCheckedAt.delete(organizationId));
  }
  const version = await check.version;
  if (version !== undefined && version.v > (subject.orgLimitsVersion ?? 0)) {
    memory.noteVersion(organizationId, version);
    throw new StaleLimits(version);
  }
}

/**
 * A key's requests counted today in its organization's day item (its `kr` entry), for a key
 * counted on its own item: read once per environment, key and day (only for keys with a day limit).
 */
export async function carriedRequests(store: CounterStore, memory: LimiterMemory, organizationId: string, keyId: string, day: string): Promise<number> {
  const name = `${keyId}|${day}`;
  const known = memory.carried.get(name);
  if (known !== undefined) return known;
  const dayItem = await store.peek({ organizationId }, day);
  const carried = Number(dayItem?.kr?.[keyId] ?? 0);
  if (memory.carried.size >= 10_000) memory.carried.clear();
  memory.carried.set(name, carried);
  return carried;
}

/** A key's own limits on its own item, its day limit less what its organization's day item counted for it. */
export function ownItemLimits(key: Partial<Limits>, carried: number): AppliedLimits {
  return keyItemLimits(key.perDay === undefined ? key : { ...key, perDay: Math.max(0, key.perDay - carried) });
}

/** The key's windows as the client is told them: its own item's, with the day counted elsewhere added back. */
export function ownItemWindows(windows: WindowCount[], key: Partial<Limits>, carried: number): WindowCount[] {
  return asKeyWindows(windows, key).map((w) => (w.window.period === 'day' && key.perDay !== undefined ? { ...w, limit: key.perDay, used: w.used + carried } : w));
}

/** `random()` in [0, 1): which open shard to try (Math.random in production; seeded in the simulation). */
export type Random = () => number;

/**
 * Count one request of a high-volume organization: the key's own item first (its limits, its
 * usage), then a shard with room, trying others until one admits or every shard is known full.
 * If the organization refuses after the key counted, the key's count is taken back.
 */
export async function admitSharded(
  store: CounterStore,
  memory: LimiterMemory,
  subject: RateSubject,
  now: Date,
  random: Random,
): Promise<Admission> {
  const { organizationId, keyId } = subject;
  const limits = appliedLimits(subject.orgLimits, subject.keyLimits);
  const minute = minuteWindow(now);
  const day = dayWindow(now);
  const view = memory.view(organizationId, limits.org, subject.orgLimitsVersion ?? 0);
  const refuse = (windows: WindowCount[]): Admission => {
    memory.refusals.add(organizationId, keyId, day.id);
    return { admitted: false, windows, day: day.id };
  };

  // A limit of zero admits nothing; no write can tell us more.
  const empty = windowCounts(undefined, minute, day, limits, keyId);
  if (empty.some(isExhausted)) return refuse(empty);
  // Every shard said it is full in this window: refused without a write (it cannot get room back),
  // unless the limits changed since this request's copy (read at most once a second).
  if (view.pick(now, random) === undefined) {
    await confirmLimits(store, memory, subject, now);
    return refuse([...view.windows(limits.org, minute, now), ...asKeyWindows(empty, limits.key)]);
  }

  // Every shard not full is frozen by a limit change, as read within the last second: refused
  // without a write (see "onlyFrozen" below).
  const waiting = view.onlyFrozen(now);
  if (waiting) return refuse([...exhausted(view.windows(limits.org, minute, now), waiting), ...asKeyWindows(empty, limits.key)]);

  // A key's own day limit covers what its organization's day item counted for it today.
  const carried = limits.key.perDay === undefined ? 0 : await carriedRequests(store, memory, organizationId, keyId, day.id);
  const ownLimits = ownItemLimits(limits.key, carried);
  const keyTarget: CounterTarget = { keyId };
  // Under the organization's limits too: a key's minute can look full because of counts that an
  // organization refusing then took back, which a raised organization limit no longer refuses.
  const keyFullHint = limits.key.perMinute === undefined ? undefined : `${minute.id}|${limits.key.perMinute}|${orgFullHint('', limits.org)}|${subject.orgLimitsVersion ?? 0}`;
  if (keyFullHint !== undefined && memory.keyMinuteFull.get(keyId) === keyFullHint) {
    await confirmLimits(store, memory, subject, now);
    const windows = exhausted(windowCounts(undefined, minute, day, ownLimits, keyId), 'minute');
    return refuse([...view.windows(limits.org, minute, now), ...ownItemWindows(windows, limits.key, carried)]);
  }
  // The key's item also carries what an environment found full (every shard): its write fails
  // then, and the request is refused without trying the shards (see orgFullOf).
  const key = await countIn(store, keyTarget, ownLimits, now, memory.lastSeen, { unlessOrgFull: limits.org, guess: view.guess });
  if (key.outcome === 'overflow') throw new Error('a key counter cannot overflow');
  view.noteMinute(key.outcome === 'rejected' ? key.old?.mw : key.minute.id);
  if (key.outcome === 'rejected') {
    if (keyFullHint !== undefined && key.windows.some((w) => w.window.period === 'minute' && w.window.id === minute.id && isExhausted(w))) {
      if (memory.keyMinuteFull.size >= 10_000) memory.keyMinuteFull.clear();
      memory.keyMinuteFull.set(keyId, keyFullHint);
    }
    return refuse([...view.windows(limits.org, minute, now), ...ownItemWindows(key.windows, limits.key, carried)]);
  }
  if (key.outcome === 'orgFull') {
    await confirmLimits(store, memory, subject, now);
    const windows = exhausted(view.windows(limits.org, key.minute, now), key.period);
    // The hint is what another environment proved: this one now knows it too, and refuses the
    // rest of the window without a write, whatever the key.
    view.markAllFull(day.id, windows);
    return refuse([...windows, ...ownItemWindows(windowCounts(key.old, key.minute, day, ownLimits, keyId), limits.key, carried)]);
  }
  const keyWindows = ownItemWindows(windowCounts(key.state, key.minute, day, ownLimits, keyId), limits.key, carried);

  // Whether this request read every shard (at its first failed shard write), and what it found marked.
  let read: (OrgDayCounters | undefined)[] | undefined;
  let marked = false;
  let onlyFrozen: 'minute' | 'day' | undefined;
  for (let shard = view.pick(now, random); shard !== undefined; shard = view.pick(now, random)) {
    onlyFrozen = view.onlyFrozen(now);
    if (onlyFrozen) break;
    // A shard last read frozen: read the shards again rather than write it (every environment
    // whose other shards are full would write it, and wait on it, at once).
    if (read === undefined && view.seenFrozen(shard)) {
      read = await readShards(store, view, subject, now);
      continue;
    }
    let counted: Awaited<ReturnType<typeof countIn>>;
    try {
      counted = await countIn(store, { organizationId, shard }, shardLimits(limits.org, shard), now, memory.lastSeen, { guess: view.guess, version: versionOf(subject) });
    } catch (error) {
      // Whatever failed after the key's count (DynamoDB, contention), the key's count is given back.
      await store.takeBack(keyTarget, key.minute, day.id).catch(() => undefined);
      throw error;
    }
    if (counted.outcome === 'overflow') throw new Error('a shard counter cannot overflow');
    view.noteMinute(counted.outcome === 'rejected' ? counted.old?.mw : counted.minute.id);
    if (counted.outcome === 'admitted') {
      view.observe(shard, day.id, counted.state);
      if (counted.state.requests === 1) await markSharded(store, organizationId, day.id, versionOf(subject));
      // What the admitting shard has left is what the window is known to have left: never more;
      // and never more than this key was told before in the same window (toldToKey).
      const orgWindows = await toldToKey(store, keyId, day.id, subject.orgLimitsVersion ?? 0, orgWindowsOf(counted.state, counted.minute, day, limits.org), key.state);
      return {
        admitted: true,
        windows: [...orgWindows, ...keyWindows],
        day: day.id,
        keyRequests: key.state.requests,
        firstInMinute: key.state.mc === 1,
        shard,
      };
    }
    if (counted.outcome !== 'rejected') throw new Error('a shard neither overflows nor carries what was found full');
    view.observe(shard, day.id, counted.old);
    view.markFull(shard, day.id, counted.windows);
    // Its item says an environment found every shard full in this window at these limits: refused
    // with this one failed write.
    const period = markedFull(counted.old, counted.windows, limits.org);
    if (period) {
      view.markAllFull(day.id, exhausted(view.windows(limits.org, minute, now), period));
      marked = true;
      break;
    }
    // Otherwise read every shard at once, and try only those the read found with room.
    if (read === undefined) read = await readShards(store, view, subject, now);
  }

  // Every shard but those a limit change is being applied to is full: refused, the key's count
  // given back; nothing is left on the items (a frozen shard may get a share of what is left). A
  // stalled change is taken over within a couple of seconds (TAKEOVER_MS), meanwhile every
  // environment would otherwise write the frozen shards, each request once.
  if (onlyFrozen) {
    await store.takeBack(keyTarget, key.minute, day.id).catch(() => undefined);
    return refuse([...exhausted(view.windows(limits.org, minute, now), onlyFrozen), ...keyWindows.map((w) => ({ ...w, used: w.used - 1 }))]);
  }
  // Every shard is full: the organization refuses. Give the key its count back, and leave on its
  // item what was found full, so that the key's next request anywhere is refused by one write;
  // and on every shard, so that any environment's next request is refused by one failed write.
  const orgFull = orgFullOf(view, limits.org, now);
  try {
    await store.takeBack(keyTarget, key.minute, day.id, orgFull);
  } catch {
    // The key's count stays one high for a refused request (docs/limits.md states this bound).
  }
  if (read !== undefined && !marked) await markShards(store, organizationId, day.id, orgFull, read);
  return refuse([...view.windows(limits.org, minute, now), ...keyWindows.map((w) => ({ ...w, used: w.used - 1 }))]);
}

/** `<window id>#<version, 10 digits>`: sorts by window, then by version within it. */
export function toldWindowId(windowId: string, version: number): string {
  return `${windowId}#${String(version).padStart(10, '0')}`;
}

/**
 * The lowest Remaining told for the organization's windows so far, as the key's item holds it
 * (`hmw`/`hm` for the minute, `hdw`/`hd` for the day: window id with the limits version, and the
 * value), for a window of `windowId` at `version`; undefined when none was told in it.
 */
export function toldBefore(state: OrgDayCounters | undefined, period: 'minute' | 'day', told: string): number | undefined {
  const [w, r] = period === 'minute' ? [state?.hmw, state?.hm] : [state?.hdw, state?.hd];
  return w === told && r !== undefined ? Number(r) : undefined;
}

/**
 * Remaining never rises for one key within a window: successive requests of a key are admitted by
 * different shards, whose rests differ. The key's own item (written by every request of the key,
 * first) keeps the lowest Remaining told for each of the organization's windows; a request tells
 * the lower of its shard's rest and that, and when its own is lower it stores it with one more
 * conditional write (which, failing, returns a lower one stored meanwhile: that is told instead).
 * Without the store's `lowerTold` (the simulation), the shard's rest is told.
 */
async function toldToKey(store: CounterStore, keyId: string, day: string, version: number, windows: WindowCount[], keyState: OrgDayCounters): Promise<WindowCount[]> {
  if (!store.lowerTold) return windows;
  const ids = { minute: toldWindowId((windows[0] as WindowCount).window.id, version), day: toldWindowId(day, version) };
  let known = keyState;
  for (let attempt = 0; attempt < 3; attempt++) {
    const told = windows.map((w) => {
      const before = toldBefore(known, w.window.period, ids[w.window.period]);
      const rest = w.limit - w.used;
      return before !== undefined && before < rest ? { ...w, used: w.limit - before } : w;
    });
    const lower = told.some((w) => toldBefore(known, w.window.period, ids[w.window.period]) !== w.limit - w.used);
    if (!lower) return told;
    // A later window (a clock ahead) or a later version already told: nothing to keep for this one.
    if ((known.hmw !== undefined && known.hmw > ids.minute) || (known.hdw !== undefined && known.hdw > ids.day)) return told;
    const [m, d] = told as [WindowCount, WindowCount];
    let result: Awaited<ReturnType<NonNullable<CounterStore['lowerTold']>>>;
    try {
      result = await store.lowerTold({ keyId }, day, { hmw: ids.minute, hm: m.limit - m.used, hdw: ids.day, hd: d.limit - d.used });
    } catch {
      // Bookkeeping of headers only: the request was admitted and counted; tell what is known.
      return told;
    }
    if (result.ok || result.old === undefined) return told;
    known = result.old;
  }
  // Still racing: tell the lowest seen (never more than told before), without storing it.
  return windows.map((w) => {
    const before = toldBefore(known, w.window.period, ids[w.window.period]);
    return before !== undefined && before < w.limit - w.used ? { ...w, used: w.limit - before } : w;
  });
}

/**
 * Which window a shard's failed write says every shard was found full in, by its mark (`ofm`,
 * `ofd`; see markShards): the window the write counted in, at the limits the request counts under.
 */
function markedFull(old: OrgDayCounters | undefined, windows: readonly WindowCount[], limits: Limits): 'minute' | 'day' | undefined {
  const minute = windows.find((w) => w.window.period === 'minute')?.window.id;
  const day = windows.find((w) => w.window.period === 'day')?.window.id;
  if (old?.ofd !== undefined && day !== undefined && old.ofd === orgFullHint(day, limits)) return 'day';
  if (old?.ofm !== undefined && minute !== undefined && old.ofm === orgFullHint(minute, limits)) return 'minute';
  return undefined;
}

/**
 * Read every shard of the organization (one BatchGetItem) into the view: each one the read shows
 * full at the request's limits is marked so; the rest (room, no item, a limit change being
 * applied, another version) is left for a write to tell. A failed read tells nothing: the shards
 * are then tried one by one.
 */
async function readShards(store: CounterStore, view: ShardView, subject: RateSubject, now: Date): Promise<(OrgDayCounters | undefined)[]> {
  const day = dayWindow(now).id;
  let states: (OrgDayCounters | undefined)[];
  try {
    states = await store.readShards(subject.organizationId, day);
  } catch {
    return [];
  }
  const version = versionOf(subject);
  for (const [shard, state] of states.entries()) {
    view.noteFrozen(shard, now, state?.fz !== undefined);
    if (state === undefined || state.fz !== undefined || Number(state.lv ?? state.sv ?? -1) !== version.v) continue;
    view.observe(shard, day, state);
    const step = nextStep(state, now, withAllowances(state, now, shardLimits(version.limits, shard)), '');
    if (step.action === 'reject') view.markFull(shard, day, step.windows);
  }
  return states;
}

/**
 * Leave what this environment found full on every shard (one write each, at once; not where the
 * read found it already): for the rest of the window, any environment's request that meets a
 * shard is refused by that one failed write, instead of trying every shard itself.
 */
async function markShards(store: CounterStore, organizationId: string, day: string, orgFull: OrgFull, read: (OrgDayCounters | undefined)[]): Promise<void> {
  const mark = fullMark(orgFull);
  if (!mark) return;
  const [name, hint] = mark;
  const shards = Array.from({ length: SHARD_COUNT }, (_, shard) => shard).filter((shard) => read[shard]?.[name] !== hint);
  await Promise.all(shards.map((shard) => store.markFull({ organizationId, shard }, day, orgFull).catch(() => undefined)));
}

/**
 * What this environment found full, for the key's item: every shard full this minute (by its
 * clock), or for the day. Shards never get room back within a window, so another environment
 * refusing on it refuses only what the shards would refuse; a limit changed since gives a
 * different hint, so it refuses nothing under the new limit.
 */
export function orgFullOf(view: ShardView, limits: Limits, now: Date): OrgFull {
  const full = view.allFull(now);
  if (full === 'day') return { ofd: orgFullHint(dayWindow(now).id, limits) };
  if (full === 'minute') return { ofm: orgFullHint(minuteWindow(now).id, limits) };
  return {};
}

/**
 * Record on the organization's day item that the day's counts are on shards (dailyUsage reads
 * them). Written by the write that starts a shard's day, so at most twice per shard and day
 * whatever the number of environments (one per environment would be a burst of writes on one item
 * whenever many start at once). A failure is left: any other shard's first write marks the day too.
 */
async function markSharded(store: CounterStore, organizationId: string, day: string, version?: LimitsVersion): Promise<void> {
  try {
    await store.markSharded(organizationId, day, SHARD_COUNT, version);
  } catch {
    // another shard's first write of the day marks it
  }
}

/**
 * Write the tallied refusals if the last flush is REFUSAL_FLUSH_MS old: the organization's total
 * on one shard item (dailyUsage sums them), each key's on its own item. What fails is kept for the
 * next flush. Returns the number of writes made.
 */
export async function flushRefusals(store: CounterStore, tally: RefusalTally, now: Date, random: Random, force = false): Promise<number> {
  if (tally.size === 0 || (!force && now.getTime() - tally.lastFlush < REFUSAL_FLUSH_MS)) return 0;
  tally.lastFlush = now.getTime();
  const orgs = [...tally.orgs];
  const keys = [...tally.keys];
  tally.orgs.clear();
  tally.keys.clear();
  let writes = 0;
  const write = async (target: CounterTarget, entry: string, n: number, keep: Map<string, number>) => {
    const day = entry.slice(entry.lastIndexOf(' ') + 1);
    writes += 1;
    let started: boolean;
    try {
      started = await store.addRefusals(target, day, n);
    } catch {
      keep.set(entry, (keep.get(entry) ?? 0) + n);
      return;
    }
    if (started && 'shard' in target) await markSharded(store, target.organizationId, day);
  };
  for (const [entry, n] of orgs) {
    await write({ organizationId: entry.slice(0, entry.indexOf(' ')), shard: Math.floor(random() * SHARD_COUNT) }, entry, n, tally.orgs);
  }
  // A key's refusals go on its credits item (`<keyId>#credits`), not on the counter item every
  // request of the key writes: a key refused at a high rate would otherwise double that item's load.
  for (const [entry, n] of keys) await write({ keyId: `${entry.slice(0, entry.indexOf(' '))}#credits` }, entry, n, tally.keys);
  return writes;
}
