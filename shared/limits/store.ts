// The storage the limiter (both admission paths) and the credit batches need, as an interface (a
// "store"), so the same decision code runs against DynamoDB (shared/db/rate-limits.ts and
// credits.ts: production, the local runtime and the integration tests) and against a model of
// DynamoDB's per-item rules (the simulation in bench/limits-sim.ts). Every method is one DynamoDB
// call (a transaction counts as one). docs/limits.md has the design.
import type { Limits } from '../domain/plans.ts';
import type { AppliedLimits, WindowCount } from './headers.ts';
import { firstGuess, isHighVolume, itemLimits, nextStep, orgFullHint, orgWindowsOf, SHARD_COUNT, type OrgDayCounters, type WriteKind } from './counters.ts';
import { applyLimitChange, ChangeWait, StaleVersion, type ChangeResult, type Sleep, type FrozenCounts, type ItemShare, type OrgItem, type Totals } from './limit-change.ts';
import { dayOfMinute, dayWindow, minuteWindow, minuteWindowFromId, type Window } from './windows.ts';

/**
 * A counter item with the shape of `OrgDayCounters` (mw, mc, requests): the organization's day item
 * (`usage#org#<orgId>`, no shard: the one-item path, which may also count keys in its maps), shard
 * `shard` of it (`usage#org#<orgId>#<shard>`), or a key's own day item (`usage#key#<keyId>`), which
 * holds the key's counts, usage and limits on the high-volume path and for keys beyond the bound.
 */
export type CounterTarget = { organizationId: string; shard?: number } | { keyId: string };

/** How one counter write is made, besides its window and limits. */
export interface CountOptions {
  /**
   * The organization's day item only: count `keyId` in its per-key maps too (its minute and day
   * counts, checked against the key's own limits), when the item has or has room for it among at
   * most `maxKeys` keys that day. Unset: the item is counted without a key.
   */
  perKey?: { keyId: string; maxKeys: number };
  /**
   * A key's own item on the high-volume path: the write also fails when the item says the
   * organization was found full at these limits in this minute or on this day (`ofm`, `ofd`).
   */
  unlessOrgFull?: Limits | undefined;
  /**
   * The organization's counter items (its day item and shards): the version of the limits the
   * request carries. The write then counts only if the item counts under that version, is not
   * being changed (`fz`), and is under its allowances (`am`, `ad`) rather than `limits.org`, which
   * only start an item's day (`fresh`).
   */
  version?: LimitsVersion | undefined;
  /**
   * The organization's day item, counting a key with its own day limit: the write also fails when
   * the item says the organization was counted on shards that day (`shards`): the key's day count
   * is then on its own item too, and the key is counted there ('overflow').
   */
  unlessSharded?: boolean | undefined;
}

/** An organization's limits and their version (its `limitsVersion`). */
export interface LimitsVersion {
  v: number;
  limits: Limits;
}

/** What a limit change sets on one organization counter item (see rebase). */
export interface Assignment {
  mw: string;
  mc: number;
  am: number;
  sm: number;
  ad: number;
  /** The organization's day item: its per-minute key counts restart (the item moved to a new minute). */
  resetKeyMinutes?: boolean;
  /** The organization's day item: the day's counts are also on this many shards. */
  shards?: number;
}

export type FreezeResult = { ok: true; state: OrgDayCounters } | { ok: false; old: OrgDayCounters | undefined };

/** The organization's windows found full (every shard), as `orgFullHint` values. */
export type OrgFull = Pick<OrgDayCounters, 'ofm' | 'ofd'>;

/** The one mark an `OrgFull` carries (the attribute and its hint), if any. */
export function fullMark(orgFull: OrgFull): ['ofm' | 'ofd', string] | undefined {
  if (orgFull.ofd !== undefined) return ['ofd', orgFull.ofd];
  if (orgFull.ofm !== undefined) return ['ofm', orgFull.ofm];
  return undefined;
}

export type CounterWrite = { ok: true; state: OrgDayCounters } | { ok: false; old: OrgDayCounters | undefined };

export interface CounterStore {
  /**
   * One conditional counter write, the `same` / `roll` / `fresh` UpdateItem (counterUpdate in
   * shared/db/rate-limits.ts): adds one if the item is in `minute` (or rolls it forward) and under
   * `limits.org` (with `perKey`, also the key's entries under `limits.key`, with room for the key),
   * and, with `unlessOrgFull`, unless the item says the organization was found full at those limits
   * in `minute` or on `day`. The new counts, or the item as it was when the condition failed (ALL_OLD).
   */
  count(target: CounterTarget, kind: WriteKind, minute: Window, day: string, limits: AppliedLimits, options?: CountOptions): Promise<CounterWrite>;
  /**
   * Undo one count of a request another window then refused (`ADD requests -1`, and `mc -1` if
   * still in `minute`), and record on the item what `orgFull` says was found full (`ofm`, `ofd`).
   */
  takeBack(target: CounterTarget, minute: Window, day: string, orgFull?: OrgFull): Promise<void>;
  /**
   * Add `amount` refused requests (`rateLimited`, usage only) to a counter item, creating it with
   * its TTL. True when this write started the item's day (it holds nothing else).
   */
  addRefusals(target: CounterTarget, day: string, amount: number): Promise<boolean>;
  /**
   * Record on the organization's day item that its counts that day are also on `shards` shard
   * items (read by dailyUsage), and under which limits (`sv`, `lm`, `ld`), when known.
   */
  markSharded(organizationId: string, day: string, shards: number, version?: LimitsVersion): Promise<void>;
  /**
   * The organization's shard items of `day` (one BatchGetItem, eventually consistent: counts only
   * rise within a window, so an older copy errs towards room). Undefined where there is none.
   */
  readShards(organizationId: string, day: string): Promise<(OrgDayCounters | undefined)[]>;
  /**
   * Leave on a started shard item what was found full (`ofm` or `ofd`, see orgFullOf), never over a
   * later mark: a failed write on it then tells any environment the organization is full.
   */
  markFull(target: CounterTarget, day: string, orgFull: OrgFull): Promise<void>;
  /** Consistent read of one counter item (the organization's day item, before a shard's day starts). */
  peek(target: CounterTarget, day: string): Promise<OrgDayCounters | undefined>;
  /**
   * Stop an organization counter item from counting while a limit change is applied: set `fz` to
   * `token` and `lv`/`lm`/`ld` to `version`, unless it counts under a newer version (creating the
   * item if need be); a takeover's freeze stamps `fzc` with `claimedAt`. The item as it is now
   * (ALL_NEW), or as it was when the condition failed.
   */
  freeze(target: CounterTarget, day: string, version: LimitsVersion, token: string, claimedAt?: number): Promise<FreezeResult>;
  /** Set what the item may count and let it count again, if it is still frozen by `token`. */
  assign(target: CounterTarget, day: string, token: string, assignment: Assignment): Promise<boolean>;
  /**
   * Claim the takeover of the change `token` on an organization counter item (its day item, or
   * the shard a request waited on): set `fzc` to `at` unless it is frozen by another change (a
   * shard: unless frozen by `token`) or `fzc` is less than TAKEOVER_MS older than `at`.
   */
  claimChange(target: CounterTarget, day: string, token: string, at: number): Promise<boolean>;
  /**
   * A key's own item (high-volume path): store the Remaining told for the organization's windows
   * (`hmw`/`hm`, `hdw`/`hd`: window ids with the limits version, and values), unless it holds a
   * later window or a lower value for the same one. The item as it was when that condition failed.
   * Optional: without it the shard's rest is told (the simulation).
   */
  lowerTold?(target: CounterTarget, day: string, told: Told): Promise<{ ok: true } | { ok: false; old: OrgDayCounters | undefined }>;
}

/** What a key was told of its organization's windows: `toldWindowId`s and Remaining values. */
export interface Told {
  hmw: string;
  hm: number;
  hdw: string;
  hd: number;
}

/**
 * One of an organization's shared credit batches (shared/limits/credit-batches.ts): credits moved
 * from the balance that any environment's reply may hold, and what replies settled from it charged
 * since it was last filled (taken off the organization's `creditsHeld` at its next fill or drain).
 */
export interface SharedBatch {
  remaining: number;
  charged: number;
  /** When it was last filled (epoch ms, 0: never), and with how many credits: its rate of use. */
  filledAt: number;
  filled: number;
  /** Epoch ms until which an environment's claim to fill it stands (0: none). */
  filling: number;
  /** The newest billing revision the batch was told of: a hold priced with an older one may not take from it. */
  billingRev: number;
}

export type TakeResult = 'taken' | 'alreadyCharged' | 'short';

/** A reply's hold out of a batch: `credits` of them (default one), the rest as the store records it. */
export interface SpendRequest {
  requestKey: string;
  keyId: string;
  day: string;
  credits?: number;
  /** What the store keeps on the reservation (the hold's billing, output cap, due time). */
  details?: unknown;
  /** The organization's billing revision the hold was priced with (absent: 0). */
  billingRev?: number;
}

export interface CreditStore {
  /** Consistent read of the organization's balance (credits not in any batch or hold). */
  balance(organizationId: string): Promise<number>;
  /** Consistent read of batch `n` (all zeros when it was never filled). */
  readBatch(organizationId: string, n: number): Promise<SharedBatch>;
  /**
   * Every batch of the organization that holds something or charged something ([n, batch] pairs):
   * strongly consistent unless `consistent: false` (half the read units, for a 402's decision).
   */
  readBatches(organizationId: string, options?: { consistent?: boolean }): Promise<[number, SharedBatch][]>;
  /**
   * Claim the drain of the organization's batches until `until` (epoch ms), on an item of its own
   * (condition: no claim stands): one environment at a time drains them at the end of the credits.
   */
  claimDrain(organizationId: string, until: number, now: Date): Promise<boolean>;
  /** Until when a drain claim stands (0: none), read eventually consistent. */
  drainClaimedUntil(organizationId: string): Promise<number>;
  /**
   * Claim batch `n` for filling until `until` (epoch ms), on the batch item alone (conditions: no
   * claim stands; nobody filled it since `seen` was read): of the environments that find a batch
   * short at once, one fills it and the others wait for it, without a write on the balance.
   */
  claimBatch(organizationId: string, n: number, seen: SharedBatch, until: number, now: Date): Promise<boolean>;
  /**
   * Move `size` credits from the balance into batch `n` (claimed until `until`), and what it charged
   * since `seen` into the organization's usage of `now`'s day, and end the claim, in one transaction
   * (conditions: the balance holds `size`; the claim is still this one; the organization's billing
   * revision is `billingRev`, which the batch takes). False when a condition fails.
   */
  fillBatch(organizationId: string, n: number, seen: SharedBatch, size: number, until: number, now: Date, billingRev?: number): Promise<boolean>;
  /**
   * One reply's hold, in one transaction: the reservation (its own item per request key, unless a
   * live one exists: alreadyCharged) and `credits` out of batch `n` (unless it holds fewer, or was
   * told of a newer billing revision than the hold's: short).
   * The key's usage is counted when the hold settles (countKeyCredits).
   */
  take(organizationId: string, n: number, reservation: SpendRequest, now: Date): Promise<TakeResult>;
  /**
   * Move everything batch `n` holds back to the balance, and what it charged into usage, in one
   * transaction (condition: it still holds `seen.remaining`). False when it changed meanwhile.
   */
  drainBatch(organizationId: string, n: number, seen: SharedBatch, now: Date): Promise<boolean>;
  /** Return what batches of an older version left to the balance (with the drain); the credits moved. */
  drainOlder?(organizationId: string): Promise<number>;
  /**
   * Add to the key's credits that day (usage only), on the key's credits item
   * (`usage#key#<keyId>#credits`): not on its counter item, which each admission already writes.
   */
  countKeyCredits(keyId: string, day: string, amount: number): Promise<void>;
  /** Whether a live reservation exists for the request key (a retry is told so, not refused with 402). */
  isCharged(organizationId: string, requestKey: string, now: Date): Promise<boolean>;
}

/** Enough for a guess, a roll and a retry after losing the roll to a concurrent request. */
const MAX_ATTEMPTS = 5;

export type Counted =
  | { outcome: 'admitted'; minute: Window; state: OrgDayCounters }
  | { outcome: 'rejected'; old: OrgDayCounters | undefined; windows: WindowCount[] }
  /** The organization's day item has no room for the key (options.perKey): count it on its own item. The item as it was. */
  | { outcome: 'overflow'; old?: OrgDayCounters | undefined }
  /** The item says the organization was found full in `minute` (period 'minute') or that day. */
  | { outcome: 'orgFull'; period: 'minute' | 'day'; minute: Window; old: OrgDayCounters };

export class CounterContention extends Error {
  constructor() {
    super('counter contention');
    this.name = 'CounterContention';
  }
}

/**
 * The request carries older limits than the organization's counter items count under: decide it
 * again under `version` (the limits the organization shows), whatever its key's copy says.
 */
export class StaleLimits extends StaleVersion<LimitsVersion> {
  constructor(version: LimitsVersion) {
    super(version, 'StaleLimits', 'limits changed');
  }
}

const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Count one request in one counter item, on either path: the first write guessed from the minute
 * this environment last saw there, then whatever the failed write's ALL_OLD says (the item is
 * over a limit, has no room for the key, or needs another of the three writes). `lastSeen` is the
 * environment's memory of each item's minute; it only saves failed writes. With `unlessOrgFull`
 * (a key's own item), an item that says the organization is full at those limits in the minute or
 * day the write is for ends it: 'orgFull'. `guess` picks the first write (the one-item path's
 * `firstGuess` by default; the high-volume path passes its guess for busy items).
 *
 * With `version` (an organization counter item), the item's version decides first: an item being
 * changed is waited for (then the change is applied again, in case whoever applied it stopped), an
 * item under an older version gets the request's limits applied (rebase), and an item under a
 * newer one throws StaleLimits.
 */
export async function countIn(
  store: CounterStore,
  target: CounterTarget,
  limits: AppliedLimits,
  now: Date,
  lastSeen: Pick<Map<string, string>, 'get' | 'set'>,
  { perKey, unlessOrgFull, version, unlessSharded, guess = firstGuess, wait = sleep }: CountOptions & { guess?: typeof firstGuess; wait?: Sleep } = {},
): Promise<Counted> {
  const name = targetName(target);
  const day = dayWindow(now).id;
  const keyId = perKey?.keyId ?? ('keyId' in target ? target.keyId : '');
  const versioned = version !== undefined && !('keyId' in target);
  const orgTarget = 'organizationId' in target ? target : undefined;
  let step = guess(lastSeen.get(name), now);
  const changes = new ChangeWait(wait, () => new CounterContention());
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    // An item's day starts at the request's limits: nothing to start with a limit below one.
    if (step.action === 'fresh' && (limits.org.perMinute < 1 || limits.org.perDay < 1)) {
      const next = nextStep(undefined, now, limits, keyId, perKey?.maxKeys);
      if (next.action === 'reject') return { outcome: 'rejected', old: undefined, windows: next.windows };
    }
    const result = await store.count(target, step.action, step.minute, day, limits, { perKey, unlessOrgFull, unlessSharded, version: versioned ? version : undefined });
    if (result.ok) {
      lastSeen.set(name, step.minute.id);
      return { outcome: 'admitted', minute: step.minute, state: { ...result.state, mw: step.minute.id } };
    }
    let old = result.old;
    if (old?.mw) lastSeen.set(name, old.mw);
    let decideWith = limits;
    // The item `old` was read from: a request waiting on a frozen item claims its takeover there first.
    let readFrom: OrgItem | undefined = orgTarget;
    if (versioned && old === undefined && 'organizationId' in target && target.shard !== undefined) {
      // A shard's day starts only under the version the organization's day item shows (it
      // records what else counted today); anything else is applied first, or adopted.
      const dayItem = await store.peek({ organizationId: target.organizationId }, day);
      const counted = versionCounted(dayItem);
      if (dayItem?.fz !== undefined || (counted !== undefined && counted !== version.v)) {
        old = { ...dayItem, mw: undefined };
        readFrom = { organizationId: target.organizationId };
      }
    }
    if (versioned && old !== undefined && orgTarget && readFrom) {
      // Until the change is applied, read rather than write: a failed write on the frozen item
      // costs its size in WCU (the one-item path's day item, several), a consistent read 1 RCU.
      while (old?.fz !== undefined) {
        // Frozen longer than its applier should take: take the change over, unless another request did.
        const frozenBy: LimitsVersion = { v: Number(old.lv), limits: { perMinute: Number(old.lm), perDay: Number(old.ld) } };
        const frozenItem: OrgItem = readFrom;
        await changes.frozen(now, (at) => rebase(store, frozenItem.organizationId, frozenBy, at, { takeover: frozenItem }), old.fzc);
        old = await store.peek(target, day);
        readFrom = orgTarget;
      }
      if (old === undefined) {
        attempt -= 1;
        continue;
      }
      const counted = versionCounted(old);
      if (counted !== undefined && counted !== 'unversioned' && counted > version.v) {
        throw new StaleLimits({ v: Number(old.lv ?? old.sv), limits: { perMinute: Number(old.lm), perDay: Number(old.ld) } });
      }
      if (counted === 'unversioned' || (counted !== undefined && counted < version.v)) {
        // Applied, or found newer, or taken over by another request applying it: the next write says which.
        await changes.apply(() => rebase(store, target.organizationId, version, now));
        attempt -= 1;
        continue;
      }
      decideWith = withAllowances(old, now, limits);
    }
    if (unlessSharded && old?.shards !== undefined) return { outcome: 'overflow' };
    const next = nextStep(old, now, decideWith, keyId, perKey?.maxKeys);
    if (next.action === 'reject') {
      if (decideWith === limits || !version) return { outcome: 'rejected', old, windows: next.windows };
      // The organization's windows as what the item has left of the limits (not its allowances).
      const minute = laterMinute(old, now);
      const windows = [...orgWindowsOf(old, minute, dayWindow(now), version.limits), ...next.windows.filter((w) => w.scope === 'key')];
      return { outcome: 'rejected', old, windows };
    }
    if (next.action === 'overflow') return { outcome: 'overflow', old };
    if (unlessOrgFull && old) {
      if (old.ofd === orgFullHint(day, unlessOrgFull)) return { outcome: 'orgFull', period: 'day', minute: next.minute, old };
      if (old.ofm === orgFullHint(next.minute.id, unlessOrgFull)) return { outcome: 'orgFull', period: 'minute', minute: next.minute, old };
    }
    step = next;
  }
  throw new CounterContention();
}

/**
 * The version an organization counter item counts under: its `lv`, or for the day item its `sv`
 * (the version its shards were started under); 'unversioned' for an item that counted without one;
 * undefined when it counted nothing.
 */
function versionCounted(item: OrgDayCounters | undefined): number | 'unversioned' | undefined {
  if (item === undefined) return undefined;
  if (item.lv !== undefined) return Number(item.lv);
  if (item.sv !== undefined) return Number(item.sv);
  if (item.mw !== undefined || item.shards !== undefined) return 'unversioned';
  return undefined;
}

/** The minute a write at `now` counts in on this item: the clock's, or a later one of the day another writer moved it to. */
function laterMinute(old: OrgDayCounters | undefined, now: Date): Window {
  const minute = minuteWindow(now);
  if (old?.mw && old.mw > minute.id && dayOfMinute(old.mw) === dayWindow(now).id) return minuteWindowFromId(old.mw);
  return minute;
}

/**
 * The limits an organization counter item decides a write at `now` under: its allowances after a
 * limit change (or its share on a shard), as the organization's windows; `limits` otherwise.
 */
export function withAllowances(item: OrgDayCounters, now: Date, limits: AppliedLimits): AppliedLimits {
  const allowed = itemLimits(item, laterMinute(item, now).id);
  return allowed ? { org: allowed, key: limits.key } : limits;
}

/**
 * Apply the organization's limits of `version` to what its windows have already counted today,
 * whichever path counted it: every counter item of the organization (its day item and its 64
 * shards) stops counting (freeze, which keeps the item's counts as they were then: `fmw`, `fmc`,
 * `frq`), the counts are summed (the minute's and the day's), and what the new limits leave is
 * shared out over the items of the path the new limits call for (the day item alone, or the
 * shards), each item allowed its count plus its share; the other path's items are allowed nothing
 * more. Exact: no item counts while frozen, so the sums are the windows' counts.
 *
 * Everyone applying the same version computes the same thing from the same kept counts (the token
 * is the version), so it can be run by the limit change itself, by a request that finds an item
 * under an older version, and by one that finds an item frozen for over a second (whoever froze
 * it may have stopped): an item already released is read, not frozen again. 65 + 65 writes.
 * 'newer': an item already counts under a newer version (that change applies instead).
 */
export function rebase(store: CounterStore, organizationId: string, version: LimitsVersion, now: Date, options: { takeover?: OrgItem } = {}): Promise<ChangeResult> {
  const counts = (s: OrgDayCounters): FrozenCounts => ({ minute: s.fmw, minuteCount: s.fmc, dayCount: s.frq });
  return applyLimitChange({ store, kind: 'requests', organizationId, version: version.v, highVolume: isHighVolume(version.limits), counts }, now, {
    freeze: (target, day, token, claimedAt) => store.freeze(target, day, version, token, claimedAt),
    assign: (target, day, token, item, totals) => store.assign(target, day, token, counterAssignment(version.limits, item, totals)),
    claim: (item, day, token, at) => store.claimChange(item, day, token, at),
    claimedAt: async (day) => (await store.peek({ organizationId }, day))?.fzc,
  }, options);
}

/** What a limit change allows one counter item: its counts plus its share of what `limits` leave. */
export function counterAssignment(limits: Limits, item: ItemShare, totals: Totals): Assignment {
  const assignment: Assignment = {
    mw: totals.minute,
    mc: item.minuteCount,
    am: item.minuteCount + item.share(Math.max(0, limits.perMinute - totals.minuteTotal)),
    sm: item.share(limits.perMinute),
    ad: item.dayCount + item.share(Math.max(0, limits.perDay - totals.dayTotal)),
  };
  if (item.position === 0) {
    // The day item: its per-key minute counts restart when the change moves it to a new minute.
    assignment.resetKeyMinutes = !item.inMinute;
    if (totals.shardsCounted) assignment.shards = SHARD_COUNT;
  }
  return assignment;
}

/** What the limiter decided for one request, on either path. */
export interface Admission {
  admitted: boolean;
  /** Every applicable window with its count (after this request when admitted). */
  windows: WindowCount[];
  /** The UTC day the request was counted in. */
  day: string;
  /** Where the key's usage is counted today, when known: the organization's item or its own. */
  keyItem?: 'org' | 'own';
  /** Admitted only: the key's admitted requests today on the item that counts it, this one included. */
  keyRequests?: number;
  /** Admitted only: this is the key's first admitted request of its minute window (refresh lastUsedAt). */
  firstInMinute?: boolean;
  /** High-volume path: the shard that admitted the request. */
  shard?: number;
}

/** The version of the limits a request carries. */
export function versionOf(subject: { orgLimits: Limits; orgLimitsVersion?: number | undefined }): LimitsVersion {
  return { v: subject.orgLimitsVersion ?? 0, limits: { perMinute: subject.orgLimits.perMinute, perDay: subject.orgLimits.perDay } };
}

export function targetName(target: CounterTarget): string {
  if ('keyId' in target) return `key#${target.keyId}`;
  return target.shard === undefined ? `org#${target.organizationId}` : `org#${target.organizationId}#${target.shard}`;
}
