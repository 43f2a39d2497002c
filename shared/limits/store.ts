// The storage the limiter (both admission paths) and the credit batches need, as an interface (a
// "store"), so the same decision code runs against DynamoDB (shared/db/rate-limits.ts and
// credits.ts: production, the local runtime and the integration tests) and against a model of
// DynamoDB's per-item rules (the simulation in bench/limits-sim.ts). Every method is one DynamoDB
// call (a transaction counts as one). docs/limits.md has the design.
import type { Limits } from '../domain/plans.ts';
import type { AppliedLimits, WindowCount } from './headers.ts';
import { firstGuess, nextStep, orgFullHint, type OrgDayCounters, type WriteKind } from './counters.ts';
import { dayWindow, type Window } from './windows.ts';

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
}

/** The organization's windows found full (every shard), as `orgFullHint` values. */
export type OrgFull = Pick<OrgDayCounters, 'ofm' | 'ofd'>;

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
  /** Record on the organization's day item that its counts that day are also on `shards` shard items (read by dailyUsage). */
  markSharded(organizationId: string, day: string, shards: number): Promise<void>;
}

/** A batch of credits one environment took from the organization's balance (docs/limits.md). */
export interface CreditBatch {
  /** `batchId(expiresAt, unique)`: sorts by expiry. */
  id: string;
  /** Credits taken from the balance when the batch was opened. */
  size: number;
  /** UTC day the batch was opened: its credits are counted in that day's usage when it closes. */
  day: string;
  /** Epoch ms after which the owner stops spending from it and anyone may return what is left. */
  expiresAt: number;
}

/** A batch id that sorts by expiry (zero-padded epoch ms), then `unique`. */
export function batchId(expiresAt: number, unique: string): string {
  return `${String(expiresAt).padStart(15, '0')}_${unique}`;
}

/** The sort key below which every batch expired before `epochMs` (the bound of openBatches). */
export function batchIdsExpiredBefore(epochMs: number): string {
  return Number.isFinite(epochMs) ? String(Math.max(0, epochMs)).padStart(15, '0') : '~';
}

export type SpendResult = 'spent' | 'alreadyCharged' | 'batchEmpty';

export interface CreditStore {
  /** Consistent read of the organization's balance (credits not in any batch). */
  balance(organizationId: string): Promise<number>;
  /**
   * Take `batch.size` credits from the balance and create the batch item, in one transaction
   * (condition: the balance holds them). With `returning`, the same transaction also closes that
   * batch (as closeBatch), so a turnover is one write on the balance. False when a condition fails.
   */
  openBatch(organizationId: string, batch: CreditBatch, now: Date, returning?: { batch: CreditBatch; remaining: number }): Promise<boolean>;
  /**
   * One reply's credit, in one transaction: the reservation (pk `credit#org#<orgId>`, sk the
   * request key, unless a live one exists: alreadyCharged) and one credit out of the batch (unless
   * it is empty or gone: batchEmpty). The key's usage is counted after it (countKeyCredits).
   */
  spend(organizationId: string, batchId: string, reservation: { requestKey: string; keyId: string; day: string }, now: Date): Promise<SpendResult>;
  /**
   * Return a batch's `remaining` credits to the balance, delete it, and count its spent credits
   * (size - remaining) in the organization's usage for its day, in one transaction (condition: the
   * batch still holds exactly `remaining`). False when it does not (changed or gone).
   */
  closeBatch(organizationId: string, batch: CreditBatch, remaining: number): Promise<boolean>;
  /**
   * Add to the key's credits that day (usage only), on the key's credits item
   * (`usage#key#<keyId>#credits`): not on its counter item, which each admission already writes.
   */
  countKeyCredits(keyId: string, day: string, amount: number): Promise<void>;
  /** Whether a live reservation exists for the request key (a retry is told so, not refused with 402). */
  isCharged(organizationId: string, requestKey: string, now: Date): Promise<boolean>;
  /**
   * The organization's open batches that expired before `expiredBefore` (epoch ms; all without
   * it), with what each still holds: read by sort key (batch ids start with their expiry), so a
   * reclaim reads the few abandoned batches, not every environment's.
   */
  openBatches(organizationId: string, expiredBefore?: number): Promise<(CreditBatch & { remaining: number })[]>;
  /** What one batch still holds (undefined when it is gone). */
  remaining(organizationId: string, batchId: string): Promise<number | undefined>;
}

/** Enough for a guess, a roll and a retry after losing the roll to a concurrent request. */
const MAX_ATTEMPTS = 5;

export type Counted =
  | { outcome: 'admitted'; minute: Window; state: OrgDayCounters }
  | { outcome: 'rejected'; old: OrgDayCounters | undefined; windows: WindowCount[] }
  /** The organization's day item has no room for the key (options.perKey): count it on its own item. */
  | { outcome: 'overflow' }
  /** The item says the organization was found full in `minute` (period 'minute') or that day. */
  | { outcome: 'orgFull'; period: 'minute' | 'day'; minute: Window; old: OrgDayCounters };

export class CounterContention extends Error {
  constructor() {
    super('counter contention');
    this.name = 'CounterContention';
  }
}

/**
 * Count one request in one counter item, on either path: the first write guessed from the minute
 * this environment last saw there, then whatever the failed write's ALL_OLD says (the item is
 * over a limit, has no room for the key, or needs another of the three writes). `lastSeen` is the
 * environment's memory of each item's minute; it only saves failed writes. With `unlessOrgFull`
 * (a key's own item), an item that says the organization is full at those limits in the minute or
 * day the write is for ends it: 'orgFull'. `guess` picks the first write (the one-item path's
 * `firstGuess` by default; the high-volume path passes its guess for busy items).
 */
export async function countIn(
  store: CounterStore,
  target: CounterTarget,
  limits: AppliedLimits,
  now: Date,
  lastSeen: Pick<Map<string, string>, 'get' | 'set'>,
  { perKey, unlessOrgFull, guess = firstGuess }: CountOptions & { guess?: typeof firstGuess } = {},
): Promise<Counted> {
  const name = targetName(target);
  const day = dayWindow(now).id;
  const keyId = perKey?.keyId ?? ('keyId' in target ? target.keyId : '');
  let step = guess(lastSeen.get(name), now);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const result = await store.count(target, step.action, step.minute, day, limits, { perKey, unlessOrgFull });
    if (result.ok) {
      lastSeen.set(name, step.minute.id);
      return { outcome: 'admitted', minute: step.minute, state: { ...result.state, mw: step.minute.id } };
    }
    if (result.old?.mw) lastSeen.set(name, result.old.mw);
    const next = nextStep(result.old, now, limits, keyId, perKey?.maxKeys);
    if (next.action === 'reject') return { outcome: 'rejected', old: result.old, windows: next.windows };
    if (next.action === 'overflow') return { outcome: 'overflow' };
    if (unlessOrgFull && result.old) {
      if (result.old.ofd === orgFullHint(day, unlessOrgFull)) return { outcome: 'orgFull', period: 'day', minute: next.minute, old: result.old };
      if (result.old.ofm === orgFullHint(next.minute.id, unlessOrgFull)) return { outcome: 'orgFull', period: 'minute', minute: next.minute, old: result.old };
    }
    step = next;
  }
  throw new CounterContention();
}

export function targetName(target: CounterTarget): string {
  if ('keyId' in target) return `key#${target.keyId}`;
  return target.shard === undefined ? `org#${target.organizationId}` : `org#${target.organizationId}#${target.shard}`;
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
