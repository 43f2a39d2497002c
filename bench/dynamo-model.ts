// A model of the DynamoDB calls the limits and credits code makes, with DynamoDB's per-item rules:
//  - writes to one item are applied one at a time (the simulation is single-threaded: each call
//    runs to completion), and a conditional write sees the exact item;
//  - one item takes at most 1,000 WCU per second; a write is billed by the larger of the item's
//    size before and after, 1 WCU per KB started; a failed conditional write by the item's size
//    (at least 1); an item in a transaction costs twice; a strongly consistent read 1 RCU per 4 KB;
//  - beyond 1,000 WCU/s a write is throttled (not applied, not billed); the SDK retries a
//    throttled call with backoff (50 ms, then 100 ms), then the call fails (a 503 to the client).
// It implements the limiter's store (shared/limits/store.ts, both paths) with the semantics of the
// UpdateItems in shared/db/rate-limits.ts and credits.ts, and the one-item path's credit calls (the
// per-reply credit transaction) for comparison.
// The integration tests run the same decision code against DynamoDB Local (test/integration/
// high-volume.test.ts), which is what keeps this model honest.
import type { AppliedLimits } from '../shared/limits/headers.ts';
import type { Limits } from '../shared/domain/plans.ts';
import { orgFullHint, SHARD_COUNT, type OrgDayCounters, type WriteKind } from '../shared/limits/counters.ts';
import { fullMark, type Assignment, type CounterTarget, type CountOptions, type LimitsVersion, type OrgFull, type SharedBatch, type SpendRequest, type TakeResult } from '../shared/limits/store.ts';
import { BATCHES, type HighVolumeStore } from '../shared/limits/credit-batches.ts';
import { HOLD_SHARDS } from '../shared/limits/credit-holds.ts';
import { TAKEOVER_MS } from '../shared/limits/limit-change.ts';
import type { ShortMark, TokenAssignment, TokenCounters, TokenLimits, TokenStore, TokenTarget, TokenVersion } from '../shared/limits/tokens.ts';
import type { Window } from '../shared/limits/windows.ts';

export const ITEM_WCU_PER_SECOND = 1_000;
const RETRY_DELAYS_MS = [50, 100];

type Item = Record<string, unknown>;

/** Batches owned by one environment, as older code (bench/sim/legacy.ts) opens and closes them. */
interface CreditBatch {
  id: string;
  size: number;
  day: string;
  expiresAt: number;
}
type SpendResult = 'spent' | 'alreadyCharged' | 'batchEmpty';
function batchIdsExpiredBefore(epochMs: number): string {
  return Number.isFinite(epochMs) ? String(Math.max(0, epochMs)).padStart(15, '0') : '~';
}

export class Throttled extends Error {
  readonly item: string;
  constructor(item: string) {
    super(`throttled on ${item}`);
    this.item = item;
    this.name = 'ThrottlingException';
  }
}

/** DynamoDB's item size: attribute names plus values (numbers about 1 byte per 2 digits + 1, maps 3 bytes + 1 per entry). */
export function sizeOf(value: unknown): number {
  if (typeof value === 'string') return value.length; // every string here is ASCII
  if (typeof value === 'number') {
    // Integers here: about one byte per two significant digits, plus one.
    const digits = value === 0 ? 1 : Math.floor(Math.log10(Math.abs(value))) + 1;
    return Math.ceil(digits / 2) + 1;
  }
  if (typeof value === 'boolean' || value === null || value === undefined) return 1;
  if (typeof value === 'object') {
    let size = 3;
    for (const name in value as Item) size += name.length + sizeOf((value as Item)[name]) + 1;
    return size;
  }
  return 0;
}

/** The key attributes (pk, sk or id) every item also carries: names and values, about this many bytes. */
const KEY_BYTES = 60;

function itemSize(item: Item | undefined): number {
  if (!item) return 0;
  let size = KEY_BYTES;
  for (const name in item) size += name.length + sizeOf(item[name]);
  return size;
}

/** A counter write's token `lt` (`<writer>.<sequence>`, shared/db/rate-limits.ts): its size is what matters here. */
const COUNTER_TOKEN = 'k3v9x0qa.12345678';

/** A TTL attribute's value (its size is what matters here). */
const TTL = 1_999_999_999;

const wcuOf = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

interface ItemLoad {
  second: number;
  accepted: number;
  offered: number;
}

export interface ItemPeak {
  item: string;
  /** Highest WCU in one second that callers sent to the item (throttled ones included). */
  offered: number;
  /** Highest WCU in one second the item took. */
  accepted: number;
}

/** A write on one or more items: their keys, and for each the new item (undefined: delete), or a failed condition. */
interface WritePlan {
  apply: () => void;
  /** Bytes per item before and after, for the bill. */
  sizes: { before: number; after: number }[];
  failed?: boolean;
}

/**
 * Throughput decided outside the model (the simulation's partitions and the SDK's retries): `write`
 * and `read` are told each call's items and capacity units before it is applied, and throw (a
 * ThrottlingException) to refuse it; the model then neither applies nor retries it.
 */
export interface ThroughputMeter {
  /** Before the write is built: may it go ahead at the items' current sizes (`least`)? Throws if not. */
  admitWrite(keys: string[], least: number[]): void;
  /** The write was applied (or its condition failed): what it cost, per item. */
  wrote(keys: string[], cost: number[]): void;
  read(keys: string[], rcu: number): void;
}

export class DynamoModel implements HighVolumeStore, TokenStore {
  readonly items = new Map<string, Item>();
  /** When set, throughput is the meter's business (bench/limits-sim.ts); otherwise per item, here. */
  meter: ThroughputMeter | undefined;
  /** Reservations keyed as before holds (one partition per organization), for older code. */
  legacyReservations = false;
  /** Holds not settled yet (by reservation key): what each holds, and from which batch. */
  readonly holds = new Map<string, { organizationId: string; keyId: string; day: string; held: number; batchId?: string; batch?: number }>();
  /** Credits charged by settled holds, and held by holds not settled. */
  chargedCredits = 0;
  heldCredits = 0;

  /** The index partition of a hold (`byHoldDue`, HOLD_SHARDS of them): by its request key here. */
  private holdIndexKey(requestKey: string): string[] {
    if (this.legacyReservations) return [];
    // The code picks the shard at random; here a mixed hash of the key, so that runs repeat.
    let h = 2_166_136_261;
    for (let i = 0; i < requestKey.length; i++) h = Math.imul(h ^ requestKey.charCodeAt(i), 16_777_619);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    return [`hold#${((h ^ (h >>> 16)) >>> 0) % HOLD_SHARDS}|index`];
  }
  /** Simulated time (ms since the epoch) of the call being made; the simulation sets it. */
  now = 0;
  /** Tests that make calls one after another without a clock: each call moves `now` on by this much. */
  msPerCall = 0;
  wcu = 0;
  rcu = 0;
  calls = 0;
  throttledCalls = 0;
  failedCalls = 0;
  /** Credits sitting in open batches (for the simulation's early-402 figure). */
  creditsInBatches = 0;
  private readonly load = new Map<string, Map<number, ItemLoad>>();
  private readonly peaks = new Map<string, { offered: number; accepted: number }>();

  // ---- throughput ----

  private bucket(key: string, at: number): ItemLoad {
    const second = Math.floor(at / 1000);
    let loads = this.load.get(key);
    if (!loads) {
      loads = new Map();
      this.load.set(key, loads);
    }
    let load = loads.get(second);
    if (!load) {
      // A call's retries can land in a later second than the next caller's first attempt: each
      // second keeps its own count (the latest few seconds; older ones go to the peaks).
      for (const [s2, old] of loads) {
        if (s2 < second - 2) {
          this.closeBucket(key, old);
          loads.delete(s2);
        }
      }
      load = { second, accepted: 0, offered: 0 };
      loads.set(second, load);
    }
    return load;
  }

  private closeBucket(key: string, load: ItemLoad): void {
    const peak = this.peaks.get(key) ?? { offered: 0, accepted: 0 };
    peak.offered = Math.max(peak.offered, load.offered);
    peak.accepted = Math.max(peak.accepted, load.accepted);
    this.peaks.set(key, peak);
  }

  /** The items with the highest offered WCU in any one second, busiest first. */
  hottest(n = 3): ItemPeak[] {
    for (const [key, loads] of this.load) for (const load of loads.values()) this.closeBucket(key, load);
    return [...this.peaks].map(([item, p]) => ({ item, ...p })).sort((a, b) => b.offered - a.offered).slice(0, n);
  }

  /**
   * Bill and admit a write on `keys` (all of them, or none when one is over its second's capacity),
   * retrying as the SDK does. `build` makes the new items; it runs only once there is room for the
   * write at the items' current sizes (a throttled call costs no work, as in DynamoDB).
   */
  private write(keys: string[], build: () => WritePlan, transaction = false, indexKeys: string[] = []): void {
    this.calls += 1;
    this.now += this.msPerCall;
    const factor = transaction ? 2 : 1;
    const least = keys.map((key) => wcuOf(this.sizeAt(key)) * factor);
    if (this.meter) {
      // A write that changes a global secondary index's keys also writes the index's partition (1 WCU).
      this.meter.admitWrite([...keys, ...indexKeys], [...least, ...indexKeys.map(() => 1)]);
      const built = build();
      const billed = built.sizes.map((sz) => (built.failed ? wcuOf(sz.before) : wcuOf(Math.max(sz.before, sz.after))) * factor);
      this.meter.wrote([...keys, ...(built.failed ? [] : indexKeys)], [...billed, ...(built.failed ? [] : indexKeys.map(() => 1))]);
      this.wcu += billed.reduce((a, b) => a + b, 0);
      if (built.failed) this.failedCalls += 1;
      else built.apply();
      return;
    }
    let plan: WritePlan | undefined;
    let cost = least;
    let at = this.now;
    for (let attempt = 0; ; attempt++) {
      const buckets = keys.map((key) => this.bucket(key, at));
      const fits = (c: number[]) => buckets.every((b, i) => b.accepted + (c[i] as number) <= ITEM_WCU_PER_SECOND);
      if (fits(least) && !plan) {
        plan = build();
        cost = plan.sizes.map((sz) => (plan!.failed ? wcuOf(sz.before) : wcuOf(Math.max(sz.before, sz.after))) * factor);
      }
      // Offered load: what callers send, a request once (the SDK's retries of it are not new demand).
      if (attempt === 0) buckets.forEach((b, i) => (b.offered += cost[i] as number));
      if (plan && fits(cost)) {
        buckets.forEach((b, i) => (b.accepted += cost[i] as number));
        this.wcu += cost.reduce((a, b) => a + b, 0);
        if (plan.failed) this.failedCalls += 1;
        else plan.apply();
        return;
      }
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        this.throttledCalls += 1;
        throw new Throttled(keys.join('+'));
      }
      at += delay;
    }
  }

  /** An item's size now (0 when it does not exist), kept per item. */
  private sizeAt(key: string): number {
    return this.sizes.get(key) ?? 0;
  }

  private read(key: string | string[]): void {
    this.calls += 1;
    const keys = Array.isArray(key) ? key : [key];
    const bytes = keys.reduce((sum, k) => sum + this.sizeAt(k), 0);
    const rcu = Math.max(1, Math.ceil(bytes / 4096));
    this.meter?.read(keys, rcu);
    this.rcu += rcu;
  }

  /**
   * A BatchGetItem: each item costs its own RCU, in its own partition (not all in the first key's);
   * half as much eventually consistent.
   */
  private readItems(keys: string[], consistent = true): void {
    this.calls += 1;
    for (const k of keys) {
      const rcu = Math.max(1, Math.ceil(this.sizeAt(k) / 4096)) * (consistent ? 1 : 0.5);
      this.meter?.read([k], rcu);
      this.rcu += rcu;
    }
  }

  /** Reservations by the million: kept as their state only (their size is kept with the others). */
  private readonly reservations = new Map<string, string>();

  private get(key: string): Item | undefined {
    return this.items.get(key);
  }

  /** A reservation as `state` and `batchId` (stored as `state` or `state|batchId`). */
  private reservation(key: string): Item | undefined {
    const stored = this.reservations.get(key);
    if (stored === undefined) return undefined;
    const [state, batchId] = stored.split('|');
    return { state, ttl: TTL, ...(batchId ? { batchId } : {}) };
  }

  /** Reservations still reserved (not refunded). */
  reservedCount(): number {
    let n = 0;
    for (const stored of this.reservations.values()) if (stored.startsWith('reserved')) n += 1;
    return n;
  }

  /** Batch item keys per organization partition (a Query reads that partition only). */
  private readonly batchKeys = new Map<string, Set<string>>();
  private readonly sizes = new Map<string, number>();

  private put(key: string, item: Item | undefined): void {
    if (key.startsWith('credit#') && item) {
      this.reservations.set(key, item.batchId ? `${item.state}|${item.batchId}` : String(item.state));
      this.sizes.set(key, itemSize(item));
      return;
    }
    if (item === undefined) {
      this.items.delete(key);
      this.sizes.delete(key);
    } else {
      this.items.set(key, item);
      this.sizes.set(key, itemSize(item));
    }
    if (key.startsWith('credit-batch#')) {
      const partition = key.slice(0, key.indexOf('|'));
      const keys = this.batchKeys.get(partition) ?? new Set<string>();
      if (item === undefined) keys.delete(key);
      else keys.add(key);
      this.batchKeys.set(partition, keys);
    }
  }

  /** One conditional update of one item: `next` returns the new item, or undefined when the condition fails. */
  private update(key: string, next: (old: Item | undefined) => Item | undefined): { ok: true; item: Item } | { ok: false; old: Item | undefined } {
    const old = this.get(key);
    let updated: Item | undefined;
    // `next` never changes `old` (it builds a new item), so the item as it was is still at hand.
    this.write([key], () => {
      updated = next(old);
      return { apply: () => this.put(key, updated), sizes: [{ before: this.sizeAt(key), after: itemSize(updated) }], failed: updated === undefined };
    });
    return updated ? { ok: true, item: updated } : { ok: false, old };
  }

  // ---- item keys (as shared/db/usage.ts and rate-limits.ts name them) ----

  static counterKey(target: CounterTarget, day: string): string {
    if ('keyId' in target) return `usage#key#${target.keyId}|${day}`;
    return target.shard === undefined ? DynamoModel.orgDayKey(target.organizationId, day) : `usage#org#${target.organizationId}#${target.shard}|${day}`;
  }
  static orgDayKey(organizationId: string, day: string): string {
    return `usage#org#${organizationId}|${day}`;
  }
  static keyDayKey(keyId: string, day: string): string {
    return `usage#key#${keyId}|${day}`;
  }
  static keyCreditsKey(keyId: string, day: string): string {
    return `usage#key#${keyId}#credits|${day}`;
  }
  static balanceKey(organizationId: string): string {
    return `organizations|${organizationId}`;
  }
  /**
   * A reservation's key: its own partition per request key (shared/db/credit-reservations.ts), or,
   * with `legacyReservations`, every reservation of an organization in one partition (as before).
   */
  reservationKey(organizationId: string, requestKey: string): string {
    return this.legacyReservations ? `credit#org#${organizationId}|${requestKey}` : `credit#${organizationId}#${requestKey}|hold`;
  }
  static batchKey(organizationId: string, batchId: string): string {
    return `credit-batch#org#${organizationId}|${batchId}`;
  }
  /** The organization's drain claim: a partition of its own (shared/db/credit-batches.ts). */
  static drainKey(organizationId: string): string {
    return `credit-drain#${organizationId}|drain`;
  }
  /** Shared batch n: a partition of its own (shared/db/credit-batches.ts). */
  static sharedBatchKey(organizationId: string, n: number): string {
    return `credit-batch#${organizationId}#${n}|batch`;
  }

  /** An organization item with its balance (as createOrganization leaves it, roughly: name, plan, limits, credits). */
  createOrganization(organizationId: string, credits: number, limits: { perMinute: number; perDay: number }): void {
    this.put(DynamoModel.balanceKey(organizationId), {
      id: organizationId,
      name: 'Simulated Enterprise Inc',
      plan: 'enterprise',
      limits: { perMinute: limits.perMinute, perDay: limits.perDay },
      credits,
      createdAt: '2031-03-04T00:00:00.000Z',
    });
  }

  // ---- the high-volume store (shared/limits/store.ts) ----

  async count(target: CounterTarget, kind: WriteKind, minute: Window, day: string, limits: AppliedLimits, { perKey, unlessOrgFull, version }: CountOptions = {}) {
    const isOrgItem = !('keyId' in target);
    const isDayItem = isOrgItem && target.shard === undefined;
    const v = isOrgItem ? version : undefined;
    const applied = isDayItem && !perKey ? { org: limits.org, key: {} } : limits;
    const result = this.update(DynamoModel.counterKey(target, day), (item) => {
      if (unlessOrgFull && (item?.ofm === orgFullHint(minute.id, unlessOrgFull) || item?.ofd === orgFullHint(day, unlessOrgFull))) return undefined;
      const next = counterStep(item, kind, minute.id, applied, isOrgItem, day, isDayItem ? perKey : undefined, v);
      // sendCounterWrite sets its token `lt` on every counter write (it counts in the item's size).
      return next && { ...next, lt: COUNTER_TOKEN };
    });
    if (!result.ok) return { ok: false as const, old: result.old as OrgDayCounters | undefined };
    // Versioned items answer with the whole item (ALL_NEW); the others with what the write changed.
    if (v) return { ok: true as const, state: { ...result.item } as OrgDayCounters };
    const state = { mc: result.item.mc, requests: result.item.requests } as OrgDayCounters;
    if (isDayItem && perKey) {
      state.kr = { [perKey.keyId]: (result.item.kr as Record<string, number>)[perKey.keyId] as number };
      state.km = { [perKey.keyId]: (result.item.km as Record<string, number>)[perKey.keyId] as number };
    }
    return { ok: true as const, state };
  }

  async freeze(target: CounterTarget, day: string, version: LimitsVersion, token: string, claimedAt?: number) {
    const result = this.update(DynamoModel.counterKey(target, day), (item) => {
      if (item?.lv !== undefined && !(Number(item.lv) < version.v || item.fz === token || (Number(item.lv) === version.v && item.frq === undefined))) return undefined;
      const kept = { fmw: item?.mw ?? '', fmc: item?.mc ?? 0, frq: item?.requests ?? 0 };
      return { ttl: TTL, ...item, ...kept, fz: token, lv: version.v, lm: version.limits.perMinute, ld: version.limits.perDay, ...(claimedAt === undefined ? {} : { fzc: claimedAt }) };
    });
    return result.ok ? { ok: true as const, state: { ...result.item } as OrgDayCounters } : { ok: false as const, old: result.old as OrgDayCounters | undefined };
  }

  async assign(target: CounterTarget, day: string, token: string, a: Assignment) {
    const isDayItem = !('keyId' in target) && target.shard === undefined;
    const result = this.update(DynamoModel.counterKey(target, day), (item) => {
      if (item?.fz !== token) return undefined;
      const next: Item = { ...item, mw: a.mw, mc: a.mc, am: a.am, sm: a.sm, ad: a.ad, requests: item.requests ?? 0 };
      delete next.fz;
      if (isDayItem) {
        next.km = a.resetKeyMinutes ? {} : (item.km ?? {});
        next.kr = item.kr ?? {};
        if (a.shards !== undefined) next.shards = a.shards;
      }
      return next;
    });
    return result.ok;
  }

  async takeBack(target: CounterTarget, minute: Window, day: string, orgFull: OrgFull = {}) {
    this.update(DynamoModel.counterKey(target, day), (item) => {
      const next: Item = { ...item, ...orgFull, requests: Number(item?.requests ?? 0) - 1 };
      if (next.mw === minute.id) next.mc = Number(next.mc ?? 0) - 1;
      return next;
    });
  }

  async addRefusals(target: CounterTarget, day: string, amount: number) {
    const result = this.update(DynamoModel.counterKey(target, day), (item) => ({ ttl: TTL, ...item, rateLimited: Number(item?.rateLimited ?? 0) + amount }));
    return result.ok && result.item.requests === undefined && Number(result.item.rateLimited) === amount;
  }

  async countKeyCredits(keyId: string, day: string, amount: number) {
    this.update(DynamoModel.keyCreditsKey(keyId, day), (item) => ({ ttl: TTL, ...item, credits: Number(item?.credits ?? 0) + amount }));
  }

  async markSharded(organizationId: string, day: string, shards: number, version?: LimitsVersion) {
    this.update(DynamoModel.orgDayKey(organizationId, day), (item) => ({
      ttl: TTL,
      ...(version ? { sv: version.v, lm: version.limits.perMinute, ld: version.limits.perDay } : {}),
      ...item,
      shards,
    }));
  }

  /** Claim a limit change's takeover on one of an organization's items (claimChange in shared/db/rate-limits.ts; a shard only while frozen by `token`). */
  private claim(key: string, token: string, at: number, frozenOnly: boolean): boolean {
    return this.update(key, (item) => ((frozenOnly || item?.fz !== undefined) && item?.fz !== token) || (item?.fzc !== undefined && Number(item.fzc) > at - TAKEOVER_MS) ? undefined : { ...item, fzc: at }).ok;
  }

  async claimChange(target: CounterTarget, day: string, token: string, at: number) {
    return this.claim(DynamoModel.counterKey(target, day), token, at, 'shard' in target && target.shard !== undefined);
  }

  async claimTokenChange(target: TokenTarget, day: string, token: string, at: number) {
    return this.claim(DynamoModel.tokenKey(target, day), token, at, 'shard' in target && target.shard !== undefined);
  }

  /** An organization's SHARD_COUNT shard items (`keyOf` each), in shard order: one eventually consistent BatchGetItem. */
  private readShardItems<S>(keyOf: (shard: number) => string): (S | undefined)[] {
    const keys = Array.from({ length: SHARD_COUNT }, (_, shard) => keyOf(shard));
    this.readItems(keys, false);
    return keys.map((key) => {
      const item = this.get(key);
      return item ? ({ ...item } as S) : undefined;
    });
  }

  /** The organization's request shards of `day`. */
  async readShards(organizationId: string, day: string) {
    return this.readShardItems<OrgDayCounters>((shard) => DynamoModel.counterKey({ organizationId, shard }, day));
  }

  /** Leave what was found full on a started shard (never over a later mark). */
  async markFull(target: CounterTarget, day: string, orgFull: OrgFull) {
    const mark = fullMark(orgFull);
    if (!mark) return;
    const [name, hint] = mark;
    this.update(DynamoModel.counterKey(target, day), (item) => (item?.mw === undefined || (item[name] !== undefined && String(item[name]) >= hint) ? undefined : { ...item, [name]: hint }));
  }

  async peek(target: CounterTarget, day: string) {
    const item = this.get(DynamoModel.counterKey(target, day));
    return item ? ({ ...item } as OrgDayCounters) : undefined;
  }

  async balance(organizationId: string) {
    this.read(DynamoModel.balanceKey(organizationId));
    return Number(this.get(DynamoModel.balanceKey(organizationId))?.credits ?? 0);
  }

  // ---- shared batches (shared/db/credit-batches.ts) ----

  private sharedBatch(key: string): SharedBatch {
    const item = this.get(key);
    return { remaining: Number(item?.remaining ?? 0), charged: Number(item?.charged ?? 0), filledAt: Number(item?.filledAt ?? 0), filled: Number(item?.filled ?? 0), filling: Number(item?.filling ?? 0), billingRev: Number(item?.billingRev ?? 0) };
  }

  async readBatch(organizationId: string, n: number) {
    const key = DynamoModel.sharedBatchKey(organizationId, n);
    this.read(key);
    return this.sharedBatch(key);
  }

  async readBatches(organizationId: string, { consistent = true }: { consistent?: boolean } = {}) {
    const keys = Array.from({ length: BATCHES }, (_, n) => DynamoModel.sharedBatchKey(organizationId, n));
    // BatchGetItem: at most 100 keys a call.
    for (let first = 0; first < keys.length; first += 100) this.readItems(keys.slice(first, first + 100), consistent);
    const found: [number, SharedBatch][] = [];
    keys.forEach((key, n) => {
      const batch = this.sharedBatch(key);
      if (batch.remaining !== 0 || batch.charged !== 0) found.push([n, batch]);
    });
    return found;
  }

  async claimDrain(organizationId: string, until: number, now: Date) {
    return this.update(DynamoModel.drainKey(organizationId), (item) => (Number(item?.draining ?? 0) > now.getTime() ? undefined : { ...item, draining: until, ttl: TTL })).ok;
  }

  async drainClaimedUntil(organizationId: string) {
    const key = DynamoModel.drainKey(organizationId);
    this.readItems([key], false);
    return Number(this.get(key)?.draining ?? 0);
  }

  async claimBatch(organizationId: string, n: number, seen: SharedBatch, until: number, now: Date) {
    const result = this.update(DynamoModel.sharedBatchKey(organizationId, n), (item) => {
      if (Number(item?.filling ?? 0) > now.getTime() || Number(item?.filledAt ?? 0) !== seen.filledAt) return undefined;
      return { ...item, filling: until };
    });
    return result.ok;
  }

  async fillBatch(organizationId: string, n: number, seen: SharedBatch, size: number, until: number, now: Date) {
    return this.moveCredits(organizationId, n, seen, size, now, (org, batch) => Number(org?.credits) >= size && batch?.filling === until, (batch) => {
      const { filling: _claim, ...unclaimed } = batch ?? {};
      return { ...unclaimed, filled: size, filledAt: now.getTime(), holdShard: `hold#${n % HOLD_SHARDS}`, holdDue: '000000000000000#x', ttl: TTL };
    });
  }

  /**
   * fillBatch's and drainBatch's transaction: `toBatch` credits from the balance into batch n (a
   * drain's is negative), what the batch charged (`seen.charged`) off `creditsHeld` and into the
   * day's usage, if `ok` holds of the organization and batch items; `stamp` sets the rest of the batch.
   */
  private moveCredits(
    organizationId: string,
    n: number,
    seen: SharedBatch,
    toBatch: number,
    now: Date,
    ok: (org: Item | undefined, batch: Item | undefined) => boolean,
    stamp: (batch: Item | undefined) => Item,
  ): boolean {
    const balanceKey = DynamoModel.balanceKey(organizationId);
    const bKey = DynamoModel.sharedBatchKey(organizationId, n);
    const usageKey = DynamoModel.orgDayKey(organizationId, now.toISOString().slice(0, 10));
    const keys = [balanceKey, bKey, ...(seen.charged !== 0 ? [usageKey] : [])];
    let applied = false;
    this.write(keys, () => {
      const org = this.get(balanceKey);
      const batch = this.get(bKey);
      applied = org !== undefined && ok(org, batch);
      const nextOrg = { ...org, credits: Number(org?.credits) - toBatch, creditsHeld: Number(org?.creditsHeld ?? 0) + toBatch - seen.charged };
      const nextBatch: Item = { ...stamp(batch), remaining: Number(batch?.remaining ?? 0) + toBatch, charged: Number(batch?.charged ?? 0) - seen.charged };
      const usage = this.get(usageKey);
      const nextUsage = { ttl: TTL, ...usage, credits: Number(usage?.credits ?? 0) + seen.charged };
      const next = [nextOrg, nextBatch, nextUsage];
      return {
        apply: () => {
          keys.forEach((key, i) => this.put(key, next[i]));
          this.creditsInBatches += toBatch;
        },
        sizes: keys.map((key, i) => ({ before: this.sizeAt(key), after: itemSize(next[i]) })),
        failed: !applied,
      };
    }, true, [`hold#${n % HOLD_SHARDS}|index`]);
    return applied;
  }

  async take(organizationId: string, n: number, reservation: SpendRequest, now: Date): Promise<TakeResult> {
    const { live, hasCredit } = this.holdOutOf(DynamoModel.sharedBatchKey(organizationId, n), organizationId, reservation, now, { batch: n, held: reservation.credits ?? 1 }, { batch: n });
    if (live) return 'alreadyCharged';
    return hasCredit ? 'taken' : 'short';
  }

  /**
   * take's (and older code's spend's) transaction: the reservation (with `ref` on its item and
   * `holdRef` in the holds) and `reservation.credits` out of the batch item `bKey`.
   */
  private holdOutOf(bKey: string, organizationId: string, reservation: SpendRequest, now: Date, ref: Item, holdRef: { batch: number } | { batchId: string }): { live: boolean; hasCredit: boolean } {
    const credits = reservation.credits ?? 1;
    const rKey = this.reservationKey(organizationId, reservation.requestKey);
    const batch = this.get(bKey);
    const live = this.reservationLive(organizationId, reservation.requestKey, now.getTime());
    const hasCredit = batch !== undefined && Number(batch.remaining) >= credits;
    const item: Item = { state: 'reserved', organizationId, keyId: reservation.keyId, day: reservation.day, ...ref, reservedAt: now.toISOString(), ttl: Math.floor(now.getTime() / 1000) + 7 * 86_400 };
    const nextBatch = hasCredit ? { ...batch, remaining: Number(batch.remaining) - credits } : batch;
    this.write([rKey, bKey], () => ({
      apply: () => {
        this.put(rKey, item);
        this.put(bKey, nextBatch);
        this.creditsInBatches -= credits;
        this.holds.set(rKey, { organizationId, keyId: reservation.keyId, day: reservation.day, held: credits, ...holdRef });
        this.heldCredits += credits;
      },
      sizes: [{ before: this.sizeAt(rKey), after: itemSize(item) }, { before: this.sizeAt(bKey), after: itemSize(nextBatch) }],
      failed: live || !hasCredit,
    }), true, this.holdIndexKey(reservation.requestKey));
    return { live, hasCredit };
  }

  async drainBatch(organizationId: string, n: number, seen: SharedBatch, now: Date) {
    return this.moveCredits(organizationId, n, seen, -seen.remaining, now, (_org, batch) => batch !== undefined && Number(batch.remaining) === seen.remaining, (batch) => {
      const { holdShard: _shard, holdDue: _due, ...out } = batch ?? {};
      return out;
    });
  }

  // ---- batches owned by one environment (older code only: bench/sim/legacy.ts) ----

  async openBatch(organizationId: string, batch: CreditBatch, now: Date, returning?: { batch: CreditBatch; remaining: number }) {
    const balanceKey = DynamoModel.balanceKey(organizationId);
    const batchKey = DynamoModel.batchKey(organizationId, batch.id);
    const back = returning?.remaining ?? 0;
    const oldKey = returning ? DynamoModel.batchKey(organizationId, returning.batch.id) : undefined;
    const usageKey = returning ? DynamoModel.orgDayKey(organizationId, returning.batch.day) : undefined;
    const keys = [balanceKey, batchKey, ...(oldKey && usageKey ? [oldKey, usageKey] : [])];
    let ok = false;
    this.write(keys, () => {
      const org = this.get(balanceKey);
      const old = oldKey ? this.get(oldKey) : undefined;
      ok = org !== undefined && Number(org.credits) + back >= batch.size && !this.items.has(batchKey) && (!oldKey || (old !== undefined && Number(old.remaining) === back));
      const nextOrg = ok ? { ...org, credits: Number(org?.credits) + back - batch.size } : org;
      const item: Item = { ...batch, remaining: batch.size, openedAt: now.toISOString(), ttl: TTL };
      const usage = usageKey ? this.get(usageKey) : undefined;
      const nextUsage = returning ? { ttl: TTL, ...usage, credits: Number(usage?.credits ?? 0) + (returning.batch.size - back) } : undefined;
      return {
        apply: () => {
          this.put(balanceKey, nextOrg);
          this.put(batchKey, item);
          this.creditsInBatches += batch.size;
          if (oldKey && usageKey) {
            this.put(oldKey, undefined);
            this.put(usageKey, nextUsage);
            this.creditsInBatches -= back;
          }
        },
        sizes: [
          { before: this.sizeAt(balanceKey), after: itemSize(nextOrg) },
          { before: 0, after: itemSize(item) },
          ...(oldKey && usageKey ? [{ before: this.sizeAt(oldKey), after: 0 }, { before: this.sizeAt(usageKey), after: itemSize(nextUsage) }] : []),
        ],
        failed: !ok,
      };
    }, true);
    return ok;
  }

  private reservationLive(organizationId: string, requestKey: string, nowMs: number): boolean {
    const r = this.reservation(this.reservationKey(organizationId, requestKey));
    return r !== undefined && r.state !== 'refunded' && Number(r.ttl) > nowMs / 1000;
  }

  async spend(organizationId: string, batchId: string, reservation: SpendRequest, now: Date): Promise<SpendResult> {
    const { live, hasCredit } = this.holdOutOf(DynamoModel.batchKey(organizationId, batchId), organizationId, reservation, now, { batchId }, { batchId });
    if (live) return 'alreadyCharged';
    return hasCredit ? 'spent' : 'batchEmpty';
  }

  async closeBatch(organizationId: string, batch: CreditBatch, remaining: number) {
    const bKey = DynamoModel.batchKey(organizationId, batch.id);
    const balanceKey = DynamoModel.balanceKey(organizationId);
    const usageKey = DynamoModel.orgDayKey(organizationId, batch.day);
    const stored = this.get(bKey);
    const ok = stored !== undefined && Number(stored.remaining) === remaining;
    const org = this.get(balanceKey);
    const usage = this.get(usageKey);
    const nextOrg = { ...org, credits: Number(org?.credits ?? 0) + remaining };
    const nextUsage = { ttl: TTL, ...usage, credits: Number(usage?.credits ?? 0) + (batch.size - remaining) };
    this.write([bKey, balanceKey, usageKey], () => ({
      apply: () => {
        this.put(bKey, undefined);
        this.put(balanceKey, nextOrg);
        this.put(usageKey, nextUsage);
        this.creditsInBatches -= remaining;
      },
      sizes: [
        { before: itemSize(stored), after: 0 },
        { before: itemSize(org), after: itemSize(nextOrg) },
        { before: itemSize(usage), after: itemSize(nextUsage) },
      ],
      failed: !ok,
    }), true);
    return ok;
  }

  async isCharged(organizationId: string, requestKey: string, now: Date) {
    this.read(this.reservationKey(organizationId, requestKey));
    return this.reservationLive(organizationId, requestKey, now.getTime());
  }

  async openBatches(organizationId: string, expiredBefore = Infinity) {
    const before = batchIdsExpiredBefore(expiredBefore);
    const keys = [...(this.batchKeys.get(`credit-batch#org#${organizationId}`) ?? [])].filter((k) => k.slice(k.indexOf('|') + 1) < before);
    this.read(keys);
    return keys.map((k) => {
      const b = this.items.get(k) as Item;
      return { id: String(b.id), size: Number(b.size), day: String(b.day), expiresAt: Number(b.expiresAt), remaining: Number(b.remaining) };
    });
  }

  async remaining(organizationId: string, batchId: string) {
    const key = DynamoModel.batchKey(organizationId, batchId);
    this.read(key);
    const item = this.get(key);
    return item ? Number(item.remaining) : undefined;
  }

  // ---- holds on the balance, and settles (shared/db/credit-balance.ts, credit-batches.ts) ----

  /**
   * holdFromBalance's transaction: the reservation and `want` credits out of the balance (into
   * `creditsHeld`), lowered to what the balance holds down to `least`. The credits held, or why not.
   */
  holdFromBalance(organizationId: string, requestKey: string, keyId: string, day: string, want: number, least: number, now: Date): number | 'alreadyCharged' | 'empty' {
    const rKey = this.reservationKey(organizationId, requestKey);
    const balanceKey = DynamoModel.balanceKey(organizationId);
    const org = this.get(balanceKey);
    const live = this.reservationLive(organizationId, requestKey, now.getTime());
    const balance = Number(org?.credits ?? 0);
    const held = Math.min(want, balance);
    const ok = !live && held >= least && held >= 1;
    const item: Item = { state: 'reserved', organizationId, keyId, day, held, reservedAt: now.toISOString(), ttl: Math.floor(now.getTime() / 1000) + 7 * 86_400 };
    const nextOrg = ok ? { ...org, credits: balance - held, creditsHeld: Number(org?.creditsHeld ?? 0) + held } : org;
    this.write([rKey, balanceKey], () => ({
      apply: () => {
        this.put(rKey, item);
        this.put(balanceKey, nextOrg);
        this.holds.set(rKey, { organizationId, keyId, day, held });
        this.heldCredits += held;
      },
      sizes: [{ before: this.sizeAt(rKey), after: itemSize(item) }, { before: itemSize(org), after: itemSize(nextOrg) }],
      failed: !ok,
    }), true, this.holdIndexKey(requestKey));
    if (live) return 'alreadyCharged';
    return ok ? held : 'empty';
  }

  /**
   * A hold's settle: its reservation flips (out of the index) and what it did not charge goes back
   * into its batch while that is open, else to the balance (the second transaction of
   * settleFromBatch counted as part of this call). Undefined when it was settled already.
   */
  settle(organizationId: string, requestKey: string, charged: number, now: Date): { intoBatch: boolean; held: number; batchId?: string } | undefined {
    const rKey = this.reservationKey(organizationId, requestKey);
    const hold = this.holds.get(rKey);
    const reservation = this.reservation(rKey);
    const ok = hold !== undefined && reservation?.state === 'reserved';
    const held = hold?.held ?? 0;
    const charge = Math.min(held, Math.max(0, charged));
    const rest = held - charge;
    if (hold?.batch !== undefined) {
      // A shared batch's hold: the rest back into it, the charge counted on it (settleFromBatch).
      const sharedKey = DynamoModel.sharedBatchKey(organizationId, hold.batch);
      const batch = this.get(sharedKey);
      const nextBatch = { ...batch, remaining: Number(batch?.remaining ?? 0) + rest, charged: Number(batch?.charged ?? 0) + charge };
      const settled = { ...reservation, state: charge > 0 ? 'settled' : 'refunded', settledAt: now.toISOString() };
      this.write([rKey, sharedKey], () => ({
        apply: () => {
          this.put(rKey, settled);
          this.put(sharedKey, nextBatch);
          this.creditsInBatches += rest;
          this.holds.delete(rKey);
          this.heldCredits -= held;
          this.chargedCredits += charge;
        },
        sizes: [{ before: this.sizeAt(rKey), after: itemSize(settled) }, { before: this.sizeAt(sharedKey), after: itemSize(nextBatch) }],
        failed: !ok,
      }), true, ok ? this.holdIndexKey(requestKey) : []);
      return ok ? { intoBatch: true, held } : undefined;
    }
    const bKey = hold?.batchId ? DynamoModel.batchKey(organizationId, hold.batchId) : undefined;
    const batch = bKey ? this.get(bKey) : undefined;
    const intoBatch = rest > 0 && batch !== undefined;
    const balanceKey = DynamoModel.balanceKey(organizationId);
    const org = this.get(balanceKey);
    const next = { ...reservation, state: charge > 0 ? 'settled' : 'refunded', settledAt: now.toISOString() };
    const keys = [rKey, ...(intoBatch && bKey ? [bKey] : rest > 0 || !hold?.batchId ? [balanceKey] : [])];
    const nextBatch = intoBatch ? { ...batch, remaining: Number(batch?.remaining) + rest } : undefined;
    const nextOrg = { ...org, credits: Number(org?.credits ?? 0) + (intoBatch ? 0 : rest), creditsHeld: Number(org?.creditsHeld ?? 0) - (hold?.batchId ? 0 : held) };
    this.write(keys, () => ({
      apply: () => {
        this.put(rKey, next);
        if (intoBatch && bKey) this.put(bKey, nextBatch);
        else if (keys.includes(balanceKey)) this.put(balanceKey, nextOrg);
        if (intoBatch) this.creditsInBatches += rest;
        this.holds.delete(rKey);
        this.heldCredits -= held;
        this.chargedCredits += charge;
      },
      sizes: keys.map((k) => ({ before: this.sizeAt(k), after: k === rKey ? itemSize(next) : k === bKey ? itemSize(nextBatch) : itemSize(nextOrg) })),
      failed: !ok,
    }), true, ok ? this.holdIndexKey(requestKey) : []);
    return ok ? { intoBatch, held, ...(hold?.batchId ? { batchId: hold.batchId } : {}) } : undefined;
  }

  // ---- token windows (shared/db/token-windows.ts) ----

  /** A token item's key: pk as tokenPartition names it, sk the day. */
  static tokenKey(target: TokenTarget, day: string): string {
    if ('keyId' in target) return `usage#key#${target.keyId}#tw|${day}`;
    return target.shard === undefined ? `usage#org#${target.organizationId}#tw|${day}` : `usage#org#${target.organizationId}#tw#${target.shard}|${day}`;
  }

  /**
   * tokenUpdate's three forms: add `amount` if the item is in `minute` (or rolls it forward) and
   * stays within `limits`; with `version` (an organization's item), versionedTokenUpdate's: under
   * that version, not frozen, within its room.
   */
  async takeTokens(target: TokenTarget, kind: WriteKind, minute: Window, day: string, limits: TokenLimits, amount: number, version?: TokenVersion) {
    const versioned = version !== undefined && !('keyId' in target);
    const result = this.update(DynamoModel.tokenKey(target, day), (item) => {
      const tw = item?.tw as string | undefined;
      const tm = Number(item?.tm ?? 0);
      const td = Number(item?.td ?? 0);
      if (versioned) {
        const perMinute = version.limits.perMinute !== undefined;
        const perDay = version.limits.perDay !== undefined;
        if (kind === 'fresh') {
          if (item?.lv !== undefined || tw !== undefined || item?.fz !== undefined) return undefined;
          return {
            ...item, lv: version.v, hv: version.highVolume, tw: minute.id, tm: amount, td: amount, ttl: TTL,
            ...(perMinute ? { xm: version.limits.perMinute, sm: limits.perMinute ?? 0, rm: (limits.perMinute ?? 0) - amount } : {}),
            ...(perDay ? { xd: version.limits.perDay, rd: (limits.perDay ?? 0) - amount } : {}),
          };
        }
        if (item?.lv !== version.v || item.fz !== undefined || (perDay && Number(item.rd) < amount)) return undefined;
        const next: Item = { ...item, td: td + amount, ...(perDay ? { rd: Number(item.rd) - amount } : {}) };
        if (kind === 'same') {
          if (tw !== minute.id || (perMinute && Number(item.rm) < amount)) return undefined;
          return { ...next, tm: tm + amount, ...(perMinute ? { rm: Number(item.rm) - amount } : {}) };
        }
        if (tw === undefined || tw >= minute.id || (perMinute && Number(item.sm) < amount)) return undefined;
        return { ...next, tw: minute.id, tm: amount, ...(perMinute ? { rm: Number(item.sm) - amount } : {}) };
      }
      const dayOk = limits.perDay === undefined || td <= limits.perDay - amount;
      switch (kind) {
        case 'same':
          if (tw !== minute.id || (limits.perMinute !== undefined && tm > limits.perMinute - amount) || !dayOk) return undefined;
          return { ...item, tm: tm + amount, td: td + amount };
        case 'roll':
          if (tw === undefined || tw >= minute.id || !dayOk) return undefined;
          return { ...item, tw: minute.id, tm: amount, td: td + amount };
        case 'fresh':
          if (tw !== undefined) return undefined;
          return { ...item, tw: minute.id, tm: amount, td: amount, ttl: TTL };
      }
    });
    return result.ok ? { ok: true as const, state: { ...result.item } as TokenCounters } : { ok: false as const, old: result.old as TokenCounters | undefined };
  }

  /** Give back `amount` tokens taken in `minute` (the minute's count too while the item is still in it; an organization's room as well). */
  async returnTokens(target: TokenTarget, minute: string, day: string, amount: number) {
    const room = !('keyId' in target);
    this.update(DynamoModel.tokenKey(target, day), (item) => {
      if (item?.td === undefined) return undefined;
      const next: Item = { ...item, td: Number(item.td) - amount };
      if (room) next.rd = Number(item.rd ?? 0) + amount;
      if (item.tw === minute) {
        next.tm = Number(item.tm ?? 0) - amount;
        if (room) next.rm = Number(item.rm ?? 0) + amount;
      }
      return next;
    });
  }

  /** returnToShard (shared/db/token-windows.ts): give back to a token shard that counted at least `amount`. */
  async returnToShard(target: TokenTarget, minute: string | undefined, day: string, amount: number): Promise<{ ok: true } | { ok: false; tw?: string | undefined }> {
    const result = this.update(DynamoModel.tokenKey(target, day), (item) => {
      if (item === undefined || item.fz !== undefined || !(Number(item.td) >= amount)) return undefined;
      if (minute === undefined) return { ...item, td: Number(item.td) - amount, rd: Number(item.rd ?? 0) + amount };
      if (item.tw !== minute || !(Number(item.tm) >= amount)) return undefined;
      return { ...item, tm: Number(item.tm) - amount, td: Number(item.td) - amount, rm: Number(item.rm ?? 0) + amount, rd: Number(item.rd ?? 0) + amount };
    });
    return result.ok ? { ok: true } : { ok: false, tw: result.old?.tw as string | undefined };
  }

  /** freezeTokens (shared/db/token-windows.ts): stop an organization token item for a limit change, keeping its counts. */
  async freezeTokens(target: TokenTarget, day: string, version: TokenVersion, token: string, claimedAt?: number) {
    const result = this.update(DynamoModel.tokenKey(target, day), (item) => {
      const lv = item?.lv as number | undefined;
      if (!(lv === undefined || lv < version.v || item?.fz === token || (lv === version.v && item?.ftd === undefined))) return undefined;
      const next: Item = {
        ...item, fz: token, lv: version.v, hv: version.highVolume,
        ftw: item?.tw ?? '', ftm: Number(item?.tm ?? 0), ftd: Number(item?.td ?? 0), ttl: item?.ttl ?? TTL,
        ...(claimedAt === undefined ? {} : { fzc: claimedAt }),
      };
      delete next.xm;
      delete next.xd;
      if (version.limits.perMinute !== undefined) next.xm = version.limits.perMinute;
      if (version.limits.perDay !== undefined) next.xd = version.limits.perDay;
      return next;
    });
    return result.ok ? { ok: true as const, state: { ...result.item } as TokenCounters } : { ok: false as const, old: result.old as TokenCounters | undefined };
  }

  /** assignTokens: what the item may count, and let it count again, if still frozen by `token`. */
  async assignTokens(target: TokenTarget, day: string, token: string, a: TokenAssignment) {
    return this.update(DynamoModel.tokenKey(target, day), (item) => {
      if (item?.fz !== token) return undefined;
      const next: Item = { ...item, tw: a.tw, tm: a.tm, td: Number(item.td ?? 0) };
      delete next.fz;
      for (const [name, value] of [['rm', a.rm], ['sm', a.sm], ['rd', a.rd]] as const) {
        if (value === undefined) delete next[name];
        else next[name] = value;
      }
      return next;
    }).ok;
  }

  /** The organization's token shards of `day`. */
  async readTokenShards(organizationId: string, day: string) {
    return this.readShardItems<TokenCounters>((shard) => DynamoModel.tokenKey({ organizationId, shard }, day));
  }

  /** Leave a mark that every token shard was short (only on a started item, never over one as new or newer): whether it was left. */
  async markShort(target: TokenTarget, day: string, mark: ShortMark) {
    return this.update(DynamoModel.tokenKey(target, day), (item) => (item?.tw === undefined || Number(item.tfa ?? 0) >= mark.tfa ? undefined : { ...item, ...mark })).ok;
  }

  // ---- the one-item path's other calls ----

  /**
   * The older code's addKeyUsage (bench/sim/legacy.ts): the organization's item and the key's entry
   * in its `kl` or `kc` map (which that code's first admission of the day created), or two writes
   * when it has no room.
   */
  addKeyUsageInMaps(organizationId: string, keyId: string, day: string, counter: 'rateLimited' | 'credits', amount: number, maxKeys: number): void {
    const map = counter === 'rateLimited' ? 'kl' : 'kc';
    const result = this.update(DynamoModel.orgDayKey(organizationId, day), (item) => {
      const keys = (item?.[map] ?? (item?.mw !== undefined ? {} : undefined)) as Record<string, number> | undefined;
      if (!item || !keys || (!(keyId in keys) && Object.keys(keys).length >= maxKeys)) return undefined;
      return { ...item, [counter]: Number(item[counter] ?? 0) + amount, [map]: { ...keys, [keyId]: (keys[keyId] ?? 0) + amount } };
    });
    if (!result.ok) this.addKeyUsageToday(organizationId, keyId, day, counter, amount);
  }

  /** addKeyUsage (shared/db/usage.ts): the organization's total on its day item, the key's on its own day item. */
  addKeyUsageToday(organizationId: string, keyId: string, day: string, counter: 'rateLimited' | 'credits', amount: number): void {
    for (const key of [DynamoModel.orgDayKey(organizationId, day), DynamoModel.keyDayKey(keyId, day)]) {
      this.update(key, (item) => ({ ttl: TTL, ...item, [counter]: Number(item?.[counter] ?? 0) + amount }));
    }
  }

  /** addUsage on the organization's day item (a refund of a credit whose batch was returned). */
  addOrgDayCredits(organizationId: string, day: string, amount: number): void {
    this.update(DynamoModel.orgDayKey(organizationId, day), (item) => ({ ttl: TTL, ...item, credits: Number(item?.credits ?? 0) + amount }));
  }

  /** reserveCredit's transaction (shared/db/credits.ts): the reservation and the balance's debit. */
  reserveToday(organizationId: string, requestKey: string, keyId: string, day: string, now: Date): 'spent' | 'alreadyCharged' | 'empty' {
    const rKey = this.reservationKey(organizationId, requestKey);
    const balanceKey = DynamoModel.balanceKey(organizationId);
    const org = this.get(balanceKey);
    const live = this.reservationLive(organizationId, requestKey, now.getTime());
    const hasCredit = org !== undefined && Number(org.credits) >= 1;
    const item: Item = { state: 'reserved', organizationId, keyId, day, reservedAt: now.toISOString(), ttl: Math.floor(now.getTime() / 1000) + 7 * 86_400 };
    const nextOrg = hasCredit ? { ...org, credits: Number(org.credits) - 1 } : org;
    this.write([rKey, balanceKey], () => ({
      apply: () => {
        this.put(rKey, item);
        this.put(balanceKey, nextOrg);
      },
      sizes: [{ before: this.sizeAt(rKey), after: itemSize(item) }, { before: itemSize(org), after: itemSize(nextOrg) }],
      failed: live || !hasCredit,
    }), true);
    if (live) return 'alreadyCharged';
    return hasCredit ? 'spent' : 'empty';
  }

  /**
   * refundCredit (shared/db/credits.ts), on both paths: the reservation flips to refunded and the
   * credit goes back into its open batch, or to the balance. Where it went, or false (nothing to refund).
   */
  refund(organizationId: string, requestKey: string, now: Date): false | { batchId: string } | 'balance' {
    const rKey = this.reservationKey(organizationId, requestKey);
    this.read(rKey);
    const reservation = this.reservation(rKey);
    if (!reservation || reservation.state !== 'reserved') return false;
    const batchKey = reservation.batchId ? DynamoModel.batchKey(organizationId, String(reservation.batchId)) : undefined;
    const batch = batchKey ? this.get(batchKey) : undefined;
    if (batchKey && batch) {
      // Into its open batch (refundToBatch in shared/db/credits.ts).
      const next = { ...reservation, state: 'refunded', refundedAt: now.toISOString() };
      const nextBatch = { ...batch, remaining: Number(batch.remaining) + 1 };
      this.write([rKey, batchKey], () => ({
        apply: () => {
          this.put(rKey, next);
          this.put(batchKey, nextBatch);
          this.creditsInBatches += 1;
        },
        sizes: [{ before: this.sizeAt(rKey), after: itemSize(next) }, { before: this.sizeAt(batchKey), after: itemSize(nextBatch) }],
      }), true);
      return { batchId: String(reservation.batchId) };
    }
    const balanceKey = DynamoModel.balanceKey(organizationId);
    const org = this.get(balanceKey);
    const next = { ...reservation, state: 'refunded', refundedAt: now.toISOString() };
    const nextOrg = { ...org, credits: Number(org?.credits ?? 0) + 1 };
    this.write([rKey, balanceKey], () => ({
      apply: () => {
        this.put(rKey, next);
        this.put(balanceKey, nextOrg);
      },
      sizes: [{ before: itemSize(reservation), after: itemSize(next) }, { before: itemSize(org), after: itemSize(nextOrg) }],
    }), true);
    return 'balance';
  }

  /** The balance read right after a debit (reserveCredit returns it). */
  readBalance(organizationId: string): number {
    this.read(DynamoModel.balanceKey(organizationId));
    return Number(this.get(DynamoModel.balanceKey(organizationId))?.credits ?? 0);
  }
}

/**
 * counterUpdate's three forms (shared/db/rate-limits.ts) on an item: the new item, or undefined when
 * the condition fails. With `perKey`, the organization's item counting the key in its maps.
 */
function counterStep(
  item: Item | undefined,
  kind: WriteKind,
  w: string,
  limits: AppliedLimits,
  isOrg: boolean,
  day: string,
  perKey: { keyId: string; maxKeys: number } | undefined,
  version?: LimitsVersion,
): Item | undefined {
  // Versioned (the organization's counter items): the item's version and allowances decide.
  const current = !version || (item?.lv === version.v && item.fz === undefined);
  const minuteLimit = version ? Number(item?.am ?? 0) : limits.org.perMinute;
  const dayLimit = version ? Number(item?.ad ?? 0) : limits.org.perDay;
  const mw = item?.mw as string | undefined;
  const mc = Number(item?.mc ?? 0);
  const requests = item?.requests as number | undefined;
  const kr = (item?.kr ?? {}) as Record<string, number>;
  const km = (item?.km ?? {}) as Record<string, number>;
  const k = perKey?.keyId ?? '';
  const room = !perKey || k in kr || Object.keys(kr).length < perKey.maxKeys;
  const keyDayOk = !perKey || limits.key.perDay === undefined || !(k in kr) || (kr[k] as number) < limits.key.perDay;
  switch (kind) {
    case 'same': {
      const keyMinuteOk = !perKey || limits.key.perMinute === undefined || !(k in km) || (km[k] as number) < limits.key.perMinute;
      if (!current || mw !== w || mc >= minuteLimit || requests === undefined || requests >= dayLimit || !room || !keyMinuteOk || !keyDayOk) return undefined;
      const next: Item = { ...item, mc: mc + 1, requests: requests + 1 };
      if (perKey) {
        next.kr = { ...kr, [k]: (kr[k] ?? 0) + 1 };
        next.km = { ...km, [k]: (km[k] ?? 0) + 1 };
      }
      return next;
    }
    case 'roll': {
      if (!current || mw === undefined || mw >= w || requests === undefined || requests >= dayLimit || !room || !keyDayOk) return undefined;
      if (version && !(Number(item?.sm ?? 0) > 0)) return undefined;
      const next: Item = { ...item, mw: w, mc: 1, requests: requests + 1 };
      if (version) next.am = item?.sm;
      if (isOrg) next.km = perKey ? { [k]: 1 } : {};
      if (perKey) next.kr = { ...kr, [k]: (kr[k] ?? 0) + 1 };
      return next;
    }
    case 'fresh': {
      if (mw !== undefined || (requests !== undefined && requests >= limits.org.perDay)) return undefined;
      if (version && (item?.fz !== undefined || item?.lv !== undefined)) return undefined;
      const next: Item = { ...item, mw: w, mc: 1, requests: (requests ?? 0) + 1, ttl: TTL };
      if (version) Object.assign(next, { lv: version.v, lm: version.limits.perMinute, ld: version.limits.perDay, am: limits.org.perMinute, sm: limits.org.perMinute, ad: limits.org.perDay });
      if (isOrg) {
        next.km = perKey ? { [k]: 1 } : {};
        next.kr = perKey ? { [k]: 1 } : {};
      }
      return next;
    }
  }
}
