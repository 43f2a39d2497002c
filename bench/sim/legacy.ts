// The limiter as it stood before the one-limiter rework (commit 1a731ba), for the simulation to
// show what it finds there: `node bench/limits-sim.ts --old <checkout of 1a731ba>`.
//
// The high-volume path and the credit batches of that checkout run as they are (loaded from it),
// against the same model store (its count() took `unlessOrgFull` as a sixth argument). Its
// one-item path was written against DynamoDB directly (shared/db/rate-limits.ts countRequest),
// so it is restated here, call for call, with that checkout's own pure decisions (firstGuess,
// nextStep, windowCounts). Its PATCH copied the limits onto each key with an unconditional SET and
// touched no counter.
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import type { AppliedLimits, WindowCount } from '../../shared/limits/headers.ts';
import type { OrgDayCounters, WriteKind } from '../../shared/limits/counters.ts';
import type { Window } from '../../shared/limits/windows.ts';
import { oneItemReserve, type CodeUnderTest, type Decided, type Reserved, type SimStore } from './code.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- the old modules are loaded at run time, untyped */
type Any = any;

const MAX_ATTEMPTS = 5;
const MAX_KEYS = 32;
const UNLIMITED = Number.MAX_SAFE_INTEGER;

export async function legacyCode(root: string): Promise<CodeUnderTest> {
  const load = (path: string): Promise<Any> => import(`${root}/${path}`);
  const sharded = await load('shared/limits/sharded.ts');
  const counters = await load('shared/limits/counters.ts');
  const headers = await load('shared/limits/headers.ts');
  const windows = await load('shared/limits/windows.ts');
  const credits = await load('shared/limits/credit-batches.ts');

  /** The old store interface over the model: count's sixth argument was `unlessOrgFull`. */
  const oldStore = (store: SimStore) =>
    new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'count') {
          return (t: Any, kind: WriteKind, minute: Window, day: string, limits: AppliedLimits, unlessOrgFull?: Limits) => target.count(t, kind, minute, day, limits, { unlessOrgFull });
        }
        return Reflect.get(target, prop, receiver);
      },
    });

  interface Memory {
    sharded: Any;
    lastSeenMinute: Map<string, string>;
    overflowDay: Map<string, string>;
  }

  /** countIn of the old shared/db/rate-limits.ts: the conditional write (two or three at a window boundary) on one counter item. */
  async function countIn(store: SimStore, memory: Memory, target: { organizationId: string } | { keyId: string }, keyId: string, limits: AppliedLimits, now: Date, maxKeys?: number) {
    const partition = 'keyId' in target ? `key#${target.keyId}` : `org#${target.organizationId}`;
    const day = windows.dayWindow(now).id as string;
    let step = counters.firstGuess(memory.lastSeenMinute.get(partition), now);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const perKey = 'organizationId' in target && maxKeys !== undefined ? { keyId, maxKeys } : undefined;
      const result = await store.count(target, step.action, step.minute, day, limits, { perKey });
      if (result.ok) {
        memory.lastSeenMinute.set(partition, step.minute.id);
        return { outcome: 'admitted' as const, minute: step.minute as Window, state: { ...result.state, mw: step.minute.id } as OrgDayCounters };
      }
      const old = result.old;
      if (old?.mw) memory.lastSeenMinute.set(partition, old.mw);
      const next = counters.nextStep(old, now, limits, keyId, maxKeys);
      if (next.action === 'reject') return { outcome: 'rejected' as const, windows: next.windows as WindowCount[], old };
      if (next.action === 'overflow') return { outcome: 'overflow' as const };
      step = next;
    }
    throw Object.assign(new Error('counter contention'), { name: 'CounterContention' });
  }

  const ownItemLimits = (key: Partial<Limits>): AppliedLimits => ({ org: { perMinute: key.perMinute ?? UNLIMITED, perDay: key.perDay ?? UNLIMITED }, key: {} });
  const asKeyWindows = (ws: WindowCount[], key: Partial<Limits>) =>
    ws.filter((w) => (w.window.period === 'minute' ? key.perMinute : key.perDay) !== undefined).map((w) => ({ ...w, scope: 'key' as const }));

  async function takeBack(store: SimStore, keyId: string, minute: Window, day: string) {
    try {
      await store.takeBack({ keyId }, minute, day);
    } catch {
      // logged there
    }
  }

  async function countOverflow(store: SimStore, memory: Memory, subject: RateSubject, limits: AppliedLimits, now: Date): Promise<Decided> {
    const { organizationId, keyId } = subject;
    const day = windows.dayWindow(now);
    const orgOnly: AppliedLimits = { org: limits.org, key: {} };
    const own = ownItemLimits(limits.key);
    const hasOwnLimits = limits.key.perMinute !== undefined || limits.key.perDay !== undefined;
    const orgWindows = (c: Any): WindowCount[] => counters.windowCounts(c.state, c.minute, day, orgOnly, keyId);
    if (hasOwnLimits) {
      const key = await countIn(store, memory, { keyId }, keyId, own, now);
      if (key.outcome === 'rejected') return { admitted: false, windows: asKeyWindows(key.windows, limits.key), path: 'one-item' };
      if (key.outcome !== 'admitted') throw new Error('a key counter cannot overflow');
      const keyWindows = asKeyWindows(counters.windowCounts(key.state, key.minute, day, own, keyId), limits.key);
      const org = await countIn(store, memory, { organizationId }, keyId, orgOnly, now);
      if (org.outcome === 'rejected') {
        await takeBack(store, keyId, key.minute, day.id);
        return { admitted: false, windows: [...org.windows, ...keyWindows.map((w) => ({ ...w, used: w.used - 1 }))], path: 'one-item' };
      }
      if (org.outcome !== 'admitted') throw new Error('the organization counter overflowed without a key');
      return { admitted: true, windows: [...orgWindows(org), ...keyWindows], path: 'one-item' };
    }
    const org = await countIn(store, memory, { organizationId }, keyId, orgOnly, now);
    if (org.outcome === 'rejected') return { admitted: false, windows: org.windows, path: 'one-item' };
    if (org.outcome !== 'admitted') throw new Error('the organization counter overflowed without a key');
    try {
      await countIn(store, memory, { keyId }, keyId, own, now);
    } catch {
      // usage only
    }
    return { admitted: true, windows: orgWindows(org), path: 'one-item' };
  }

  /** countRequest of the old shared/db/rate-limits.ts. */
  async function countRequest(store: SimStore, memory: Memory, subject: RateSubject, now: Date): Promise<Decided> {
    const limits: AppliedLimits = headers.appliedLimits(subject.orgLimits, subject.keyLimits);
    const { organizationId, keyId } = subject;
    const day = windows.dayWindow(now);
    const empty: WindowCount[] = counters.windowCounts(undefined, counters.firstGuess(undefined, now).minute, day, limits, keyId);
    if (empty.some(headers.isExhausted)) return { admitted: false, windows: empty, path: 'one-item' };
    if (memory.overflowDay.get(keyId) === day.id) return countOverflow(store, memory, subject, limits, now);
    const counted = await countIn(store, memory, { organizationId }, keyId, limits, now, MAX_KEYS);
    if (counted.outcome === 'admitted') return { admitted: true, windows: counters.windowCounts(counted.state, counted.minute, day, limits, keyId), path: 'one-item' };
    if (counted.outcome === 'rejected') return { admitted: false, windows: counted.windows, path: 'one-item' };
    memory.overflowDay.set(keyId, day.id);
    return countOverflow(store, memory, subject, limits, now);
  }

  return {
    name: 'commit 1a731ba',
    newMemory: () => ({ limiter: { sharded: new sharded.ShardedMemory(), lastSeenMinute: new Map(), overflowDay: new Map() } satisfies Memory, credits: new credits.CreditMemory() }),
    async decide(store, memory, subject, now, random) {
      const m = memory.limiter as Memory;
      if (sharded.isHighVolume(subject.orgLimits)) {
        const admission = await sharded.admitSharded(oldStore(store), m.sharded, subject, now, random);
        return { admitted: admission.admitted, windows: admission.windows, path: 'sharded' };
      }
      return countRequest(store, m, subject, now);
    },
    async after(store, memory, subject, decided, now, random) {
      if (decided.path === 'sharded') await sharded.flushRefusals(oldStore(store), (memory.limiter as Memory).sharded.refusals, now, random).catch(() => 0);
      else if (!decided.admitted) {
        try {
          await store.addKeyUsageInMaps(subject.organizationId, subject.keyId, now.toISOString().slice(0, 10), 'rateLimited', 1, MAX_KEYS);
        } catch {
          // logged there
        }
      }
    },
    // One credit per reply, refunded when the reply fails (no holds then).
    async hold(store, memory, path, organizationId, requestKey, keyId, _want, _least, now, newBatchId) {
      const reserved = path === 'sharded'
        ? await highVolumeReserve(credits.reserveFromBatch, store, memory.credits, organizationId, requestKey, keyId, now, newBatchId)
        : await oneItemReserve(store, organizationId, requestKey, keyId, now);
      return reserved === 'spent' ? { outcome: 'held', held: 1 } : { outcome: reserved };
    },
    async settle(store, memory, path, organizationId, requestKey, keyId, charged, now) {
      if (charged > 0) return 1;
      const refunded = await store.refund(organizationId, requestKey, now);
      if (!refunded) return 1;
      const day = now.toISOString().slice(0, 10);
      if (refunded === 'balance' && path === 'sharded') {
        await store.countKeyCredits(keyId, day, -1);
        await store.addOrgDayCredits(organizationId, day, -1);
      } else if (refunded === 'balance') await store.addKeyUsageInMaps(organizationId, keyId, day, 'credits', -1, MAX_KEYS);
      else {
        await store.countKeyCredits(keyId, day, -1);
        const held = (memory.credits as Any).held?.get(organizationId);
        if (held && held.batch.id === refunded.batchId) held.remaining += 1;
      }
      return 0;
    },
    legacyReservations: true,
    async applyLimits() {
      // The old PATCH touched no counter.
    },
    conditionalCopies: false,
    versions: false,
    // Every call on the one client, with the SDK's retries (maxAttempts 2).
    policies: {},
  };
}

/** That checkout's batch reservation (one credit out of the environment's own batch), as an outcome. */
async function highVolumeReserve(
  reserve: Any,
  store: SimStore,
  memory: unknown,
  organizationId: string,
  requestKey: string,
  keyId: string,
  now: Date,
  newBatchId: () => string,
): Promise<Reserved> {
  try {
    const reserved = await reserve(store, memory, organizationId, requestKey, keyId, now, newBatchId);
    return reserved.alreadyCharged ? 'alreadyCharged' : 'spent';
  } catch (error) {
    if (error instanceof Error && (error as Any).code === 'INSUFFICIENT_CREDITS') return 'empty';
    throw error;
  }
}
