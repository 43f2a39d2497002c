// Applying a change of an organization's limits to what its counter items have counted today, the
// steps that request counters (rebase in store.ts) and token windows (rebaseTokens in tokens.ts)
// share: freeze every item of either path, sum the counts they kept, and give each item of the new
// path its share. What an item is then told (its allowances, or its room) is the caller's.
import { SHARD_COUNT, shardShare } from './counters.ts';
import { dayOfMinute, dayWindow, minuteWindow } from './windows.ts';

/** One of an organization's counter items: its own (no shard), or shard `shard`. */
export interface OrgItem {
  organizationId: string;
  shard?: number;
}

/** The organization's items: its own item, then its SHARD_COUNT shards. */
export function orgItems(organizationId: string): OrgItem[] {
  return [{ organizationId }, ...Array.from({ length: SHARD_COUNT }, (_, shard) => ({ organizationId, shard }))];
}

/**
 * The organization's counter items count under a newer version of its limits than the caller
 * carries: decide again under `version` (the one the items show).
 */
export class StaleVersion<V> extends Error {
  readonly version: V;
  constructor(version: V, name: string, message: string) {
    super(message);
    this.name = name;
    this.version = version;
  }
}

/** A freeze: the item as it is now, or as it was when the condition failed. */
export type Frozen<S> = { ok: true; state: S } | { ok: false; old: S | undefined };

/** An item's counts when it was frozen: its minute, that minute's count, the day's count. */
export interface FrozenCounts {
  minute: string | undefined;
  minuteCount: number | undefined;
  dayCount: number | undefined;
}

/** What a change found counted, over every item of the organization. */
export interface Totals {
  /** The minute being counted: the latest any item was in that day, else the clock's. */
  minute: string;
  minuteTotal: number;
  dayTotal: number;
  /** Whether the day's counts are (or will be) on the shards too: the new path is theirs, or a shard counted that day. */
  shardsCounted: boolean;
}

/** One item as the change finds it. */
export interface ItemShare {
  /** Its place in orgItems (0: the organization's own item). */
  position: number;
  /** Whether it was in the minute being counted; its count in that minute (0 when it was not), and that day. */
  inMinute: boolean;
  minuteCount: number;
  dayCount: number;
  /** Its share of `total` over the new path's items (nothing on the other path's). */
  share(total: number): number;
}

export interface LimitChange<S> {
  /** Which items (request counters, token windows): changes of different kinds run apart. */
  kind: string;
  /**
   * The store the change is written through: appliers through one store share a run. One per
   * process in production; one per environment in the simulation, which runs many in one process.
   */
  store: object;
  organizationId: string;
  version: number;
  /** The new path: the shards (high volume), or the organization's own item. */
  highVolume: boolean;
  /** An item's counts as its freeze kept them. */
  counts(state: S): FrozenCounts;
}

/** The writes of a limit change on one item: stop it counting, then tell it what it may count and release it. */
export interface ChangeWrites<S> {
  /** `claimedAt`: a takeover's claim time, stamped on the item (`fzc`) for the requests waiting on it. */
  freeze(item: OrgItem, day: string, token: string, claimedAt?: number): Promise<Frozen<S>>;
  assign(item: OrgItem, day: string, token: string, share: ItemShare, totals: Totals): Promise<boolean>;
  /**
   * Claim the takeover of the change of `token` on `item` (`fzc`, epoch ms): unless another
   * request claimed it less than TAKEOVER_MS before `at`, or the item is frozen by another change
   * (a shard: or not frozen by `token` at all). False: someone else has.
   */
  claim(item: OrgItem, day: string, token: string, at: number): Promise<boolean>;
  /** The organization's own item's claim (`fzc`), read (not written); absent: the claim is written without reading first. */
  claimedAt?(day: string): Promise<number | undefined>;
}

/**
 * How long a takeover of a change is left to its applier before another may take it over. Items
 * frozen longer than their waiters wait (a stalled applier: a lost answer waits out a 5 s request
 * timeout) are released by one waiting request at a time, not by every environment at once.
 */
export const TAKEOVER_MS = 1_500;

/** Waits for a limit change being applied by someone else, before taking it over (about 1.6 s in all). */
export const FROZEN_WAITS_MS = [25, 50, 100, 200, 400, 800] as const;

export type Sleep = (ms: number) => Promise<void>;

/**
 * One request's patience with an organization's items while limit changes are applied: pauses
 * on an item frozen by a change (FROZEN_WAITS_MS), then a takeover of that change; and changes it
 * applies itself (an item under older limits). At most three of those: then `giveUp`.
 */
export class ChangeWait {
  private waits = 0;
  private waited = 0;
  private applied = 0;
  private readonly wait: Sleep;
  private readonly giveUp: () => Error;

  constructor(wait: Sleep, giveUp: () => Error) {
    this.wait = wait;
    this.giveUp = giveUp;
  }

  /**
   * The item is frozen: the next pause, or, after all of them, `takeOver` at the request's clock
   * plus the time waited; unless the item says (`claimedAt`, its `fzc`) that a request took the
   * change over less than TAKEOVER_MS ago: then pauses again, as after a takeover another request
   * claimed. Without that, every waiting request of every environment tried the claim (a failed
   * write on one item each), at the rate requests arrive.
   */
  async frozen(now: Date, takeOver: (at: Date) => Promise<unknown>, claimedAt?: number): Promise<void> {
    const ms = FROZEN_WAITS_MS[this.waits++];
    if (ms !== undefined) {
      await this.wait(ms);
      this.waited += ms;
      return;
    }
    const at = new Date(now.getTime() + this.waited);
    const claimed = claimedAt !== undefined && Number(claimedAt) > at.getTime() - TAKEOVER_MS;
    await this.apply(() => (claimed ? Promise.resolve() : takeOver(at)));
  }

  /** Apply a change (one more of the three), and wait afresh for the next one. */
  async apply(change: () => Promise<unknown>): Promise<void> {
    if (this.applied++ >= 2) throw this.giveUp();
    this.waits = 0;
    await change();
  }
}

/** Calls in flight at once while a limit change is applied (as when copying limits onto keys). */
const CONCURRENCY = 16;

async function forEachLimited<T, R>(items: readonly T[], run: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return results;
}

/** Limit changes being applied through each store: one at a time per kind, organization, day and version. */
const runningBy = new WeakMap<object, Map<string, Promise<ChangeResult>>>();

/** 'newer': an item counts under a newer version; 'busy': another applier took the change over (takeover). */
export type ChangeResult = 'applied' | 'newer' | 'busy';

/**
 * Apply a limit change to every item of the organization (see rebase in store.ts). Everyone
 * applying the same version computes the same thing from the same kept counts (the token is the
 * version), so concurrent appliers agree; within this process they share one run.
 * 'newer': an item already counts under a newer version (that change applies instead). With
 * `takeover` (the item a request found frozen for longer than it waits), it first claims the
 * change, on that item and on the organization's own ('busy': another request did less than
 * TAKEOVER_MS ago).
 */
export function applyLimitChange<S extends { lv?: number }>(change: LimitChange<S>, now: Date, writes: ChangeWrites<S>, { takeover }: { takeover?: OrgItem } = {}): Promise<ChangeResult> {
  const key = `${change.kind}|${change.organizationId}|${dayWindow(now).id}|${change.version}`;
  let running = runningBy.get(change.store);
  if (!running) runningBy.set(change.store, (running = new Map()));
  let run = running.get(key);
  if (!run) {
    run = apply(change, now, writes, takeover).finally(() => running.delete(key));
    running.set(key, run);
  }
  return run;
}

async function apply<S extends { lv?: number }>(change: LimitChange<S>, now: Date, writes: ChangeWrites<S>, takeover: OrgItem | undefined): Promise<ChangeResult> {
  const day = dayWindow(now).id;
  const token = `v${change.version}`;
  if (takeover) {
    // First on the item the request waited on (a shard), then on the organization's own item: the
    // requests waiting on one item see the first claim there and wait, so the organization's own
    // item is claimed at most once per item frozen, however many requests wait on each; and the
    // requests that claimed other shards at about the same time read it first (a read, not a
    // failed write, when one of them took the change over already).
    const at = now.getTime();
    if (takeover.shard !== undefined) {
      if (!(await writes.claim(takeover, day, token, at))) return 'busy';
      const claimedAt = await writes.claimedAt?.(day);
      if (claimedAt !== undefined && Number(claimedAt) > at - TAKEOVER_MS) return 'busy';
    }
    if (!(await writes.claim({ organizationId: change.organizationId }, day, token, at))) return 'busy';
  }
  const items = orgItems(change.organizationId);
  const frozen = await forEachLimited(items, (item) => writes.freeze(item, day, token, takeover ? now.getTime() : undefined));
  const counts: FrozenCounts[] = [];
  const stillFrozen: boolean[] = [];
  for (const f of frozen) {
    if (f.ok) {
      counts.push(change.counts(f.state));
      stillFrozen.push(true);
      continue;
    }
    if (f.old?.lv !== undefined && Number(f.old.lv) > change.version) return 'newer';
    // Released already under this version by someone applying the same change: its kept counts.
    counts.push(f.old ? change.counts(f.old) : { minute: undefined, minuteCount: undefined, dayCount: undefined });
    stillFrozen.push(false);
  }
  // The minute being counted: the latest any item was in (all compute the same, whatever their clocks).
  let minute = '';
  for (const c of counts) if (c.minute && dayOfMinute(c.minute) === day && c.minute > minute) minute = c.minute;
  if (!minute) minute = minuteWindow(now).id;
  const minuteCount = (c: FrozenCounts) => (c.minute === minute ? Number(c.minuteCount ?? 0) : 0);
  const dayCount = (c: FrozenCounts) => Number(c.dayCount ?? 0);
  const totals: Totals = {
    minute,
    minuteTotal: counts.reduce((sum, c) => sum + minuteCount(c), 0),
    dayTotal: counts.reduce((sum, c) => sum + dayCount(c), 0),
    shardsCounted: change.highVolume || counts.slice(1).some((c) => dayCount(c) > 0),
  };
  const activeCount = change.highVolume ? SHARD_COUNT : 1;
  await forEachLimited(items, async (item, i) => {
    if (!stillFrozen[i]) return false;
    const c = counts[i] as FrozenCounts;
    // Index among the items of the new path (the organization's own item is index 0 of one; shard i of 64).
    const index = change.highVolume ? i - 1 : i;
    const active = change.highVolume ? i > 0 : i === 0;
    const share: ItemShare = {
      position: i,
      inMinute: c.minute === minute,
      minuteCount: minuteCount(c),
      dayCount: dayCount(c),
      share: (total) => (active ? shardShare(total, index, activeCount) : 0),
    };
    return writes.assign(item, day, token, share, totals);
  });
  return 'applied';
}
