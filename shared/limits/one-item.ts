// The one-item admission path (docs/limits.md, "How admission works"): an organization below the
// high-volume threshold is counted on its day item, whose one conditional write decides the
// organization's windows and the key's own (the key is counted in the item's per-key maps), and
// records the key's requests. A key beyond the item's bound of keys a day is counted on its own day
// item too. Written against the store interface, so the simulation runs this same code.
import type { RateSubject } from '../domain/plans.ts';
import { firstGuess, orgFullHint, orgWindowsOf, windowCounts, type OrgDayCounters } from './counters.ts';
import { appliedLimits, isExhausted, type AppliedLimits, type WindowCount } from './headers.ts';
import { carriedRequests, confirmLimits, ownItemLimits, ownItemWindows, type LimiterMemory } from './sharded.ts';
import { countIn, versionOf, type Admission, type Counted, type CounterStore } from './store.ts';
import { dayWindow, minuteWindow, type Window } from './windows.ts';

/** Called when bookkeeping after a decision fails (logged by the caller; the decision stands). */
export type OnBookkeepingError = (what: string, error: unknown) => void;

function remember(map: Map<string, string>, key: string, value: string, cap = 10_000): void {
  if (map.size >= cap) map.clear();
  map.set(key, value);
}

/**
 * A key beyond the organization's item's bound: counted on its own day item. A key with its own
 * limits is decided there first (conditional, exact), then by the organization's item; if the
 * organization refuses, the key's count is taken back. A key without limits is counted on its own
 * item after the organization admitted it. Either way the organization's item is not grown.
 */
async function countOverflow(
  store: CounterStore,
  memory: LimiterMemory,
  subject: RateSubject,
  limits: AppliedLimits,
  now: Date,
  onError: OnBookkeepingError,
): Promise<Admission> {
  const { organizationId, keyId } = subject;
  const day = dayWindow(now);
  const orgOnly: AppliedLimits = { org: limits.org, key: {} };
  // A key's own day limit covers what the organization's day item counted for it today.
  const carried = limits.key.perDay === undefined ? 0 : await carriedRequests(store, memory, organizationId, keyId, day.id);
  const own = ownItemLimits(limits.key, carried);
  const hasOwnLimits = limits.key.perMinute !== undefined || limits.key.perDay !== undefined;
  const orgWindows = (c: Counted & { outcome: 'admitted' }) => orgWindowsOf(c.state, c.minute, day, limits.org);
  const countOrg = async () => {
    const org = await countIn(store, { organizationId }, orgOnly, now, memory.lastSeen, { version: versionOf(subject) });
    if (org.outcome === 'overflow' || org.outcome === 'orgFull') throw new Error('the organization counter without a key cannot overflow');
    return org;
  };

  if (hasOwnLimits) {
    const key = await countIn(store, { keyId }, own, now, memory.lastSeen);
    if (key.outcome === 'rejected') return { admitted: false, windows: ownItemWindows(key.windows, limits.key, carried), day: day.id, keyItem: 'own' };
    if (key.outcome !== 'admitted') throw new Error('a key counter cannot overflow');
    const keyWindows = ownItemWindows(windowCounts(key.state, key.minute, day, own, keyId), limits.key, carried);
    let org: Awaited<ReturnType<typeof countOrg>>;
    try {
      org = await countOrg();
    } catch (error) {
      // Whatever failed after the key's count (DynamoDB, contention), the key's count is given back.
      await takeBackQuietly(store, keyId, key.minute, day.id, onError);
      throw error;
    }
    if (org.outcome === 'rejected') {
      rememberFull(memory, subject, org.windows);
      await takeBackQuietly(store, keyId, key.minute, day.id, onError);
      return { admitted: false, windows: [...org.windows, ...keyWindows.map((w) => ({ ...w, used: w.used - 1 }))], day: day.id, keyItem: 'own' };
    }
    return {
      admitted: true,
      windows: [...orgWindows(org), ...keyWindows],
      day: day.id,
      keyItem: 'own',
      keyRequests: key.state.requests,
      firstInMinute: key.state.mc === 1,
    };
  }

  const org = await countOrg();
  if (org.outcome === 'rejected') {
    rememberFull(memory, subject, org.windows);
    return { admitted: false, windows: org.windows, day: day.id, keyItem: 'own' };
  }
  const admission: Admission = { admitted: true, windows: orgWindows(org), day: day.id, keyItem: 'own' };
  try {
    // Usage only (no limit to check): a failure is reported, the request has been admitted.
    const key = await countIn(store, { keyId }, own, now, memory.lastSeen);
    if (key.outcome === 'admitted') Object.assign(admission, { keyRequests: key.state.requests, firstInMinute: key.state.mc === 1 });
  } catch (error) {
    onError('key usage not recorded', error);
  }
  return admission;
}

async function takeBackQuietly(store: CounterStore, keyId: string, minute: Window, day: string, onError: OnBookkeepingError): Promise<void> {
  try {
    await store.takeBack({ keyId }, minute, day);
  } catch (error) {
    onError('key count not taken back', error);
  }
}

/** Count a request on the one-item path: one conditional write on the organization's day item (more only at a window boundary or beyond the bound). */
export async function admitOneItem(
  store: CounterStore,
  memory: LimiterMemory,
  subject: RateSubject,
  now: Date,
  maxKeys: number,
  onError: OnBookkeepingError = () => {},
): Promise<Admission> {
  const limits = appliedLimits(subject.orgLimits, subject.keyLimits);
  const { organizationId, keyId } = subject;
  const day = dayWindow(now);
  if (memory.lastSeen.size >= 100_000) memory.lastSeen.clear();
  // A limit of zero (or a missing one) admits nothing; no write can tell us more.
  const empty = windowCounts(undefined, firstGuess(undefined, now).minute, day, limits, keyId);
  if (empty.some(isExhausted)) return { admitted: false, windows: empty, day: day.id };
  // The organization's day item refused this minute (or day) at these limits: so it would again.
  const full = memory.dayItemFull.get(organizationId);
  for (const window of full === undefined ? [] : [day, minuteWindow(now)]) {
    if (full !== dayItemFullHint(window, subject)) continue;
    await confirmLimits(store, memory, subject, now);
    const windows = windowCounts(undefined, minuteWindow(now), day, limits, keyId).map((w) => (w.scope === 'org' && w.window.period === window.period ? { ...w, used: w.limit } : w));
    return { admitted: false, windows, day: day.id };
  }
  const fullOfKeys = memory.keysOfFullDayItem.get(organizationId);
  if (memory.overflowDay.get(keyId) === day.id || (fullOfKeys?.day === day.id && !fullOfKeys.keys.has(keyId))) {
    return countOverflow(store, memory, subject, limits, now, onError);
  }

  const counted = await countIn(store, { organizationId }, limits, now, memory.lastSeen, {
    perKey: { keyId, maxKeys: Math.max(1, maxKeys) },
    version: versionOf(subject),
    // A key with its own day limit, on a day the organization was also counted on shards: its day
    // count is on its own item too, so it is counted there (with what the day item holds for it).
    unlessSharded: limits.key.perDay !== undefined,
  });
  switch (counted.outcome) {
    case 'admitted':
      return {
        admitted: true,
        windows: withKeyWindows(orgWindowsOf(counted.state, counted.minute, day, limits.org), counted.state, counted.minute, day, limits, keyId),
        day: day.id,
        keyItem: 'org',
        keyRequests: counted.state.kr?.[keyId],
        firstInMinute: counted.state.km?.[keyId] === 1,
      };
    case 'rejected':
      rememberFull(memory, subject, counted.windows);
      return { admitted: false, windows: counted.windows, day: day.id, keyItem: 'org' };
    case 'overflow': {
      remember(memory.overflowDay, keyId, day.id);
      // The item is full of keys: its keys are all it will count today (its maps only grow within a day).
      const keys = Object.keys(counted.old?.kr ?? {});
      if (keys.length >= Math.max(1, maxKeys)) {
        if (memory.keysOfFullDayItem.size >= 10_000) memory.keysOfFullDayItem.clear();
        memory.keysOfFullDayItem.set(organizationId, { day: day.id, keys: new Set(keys) });
      }
      return countOverflow(store, memory, subject, limits, now, onError);
    }
    case 'orgFull':
      throw new Error('only a key item carries what was found full');
  }
}

/** The organization's windows, and the key's as the organization's day item counts it. */
function withKeyWindows(org: WindowCount[], state: OrgDayCounters, minute: Window, day: Window, limits: AppliedLimits, keyId: string): WindowCount[] {
  return [...org, ...windowCounts(state, minute, day, limits, keyId).filter((w) => w.scope === 'key')];
}

/** The organization's day item refused for the organization's own minute or day: so it will for the rest of that window (under these limits). */
function rememberFull(memory: LimiterMemory, subject: RateSubject, windows: WindowCount[]): void {
  const orgFull = windows.find((w) => w.scope === 'org' && isExhausted(w) && w.window.period === 'day') ?? windows.find((w) => w.scope === 'org' && isExhausted(w));
  if (orgFull) remember(memory.dayItemFull, subject.organizationId, dayItemFullHint(orgFull.window, subject));
}

/** What an organization's day item was seen full in: the window, and the limits (with their version) it was full under. */
function dayItemFullHint(window: Window, subject: RateSubject): string {
  return orgFullHint(`${window.period}|${window.id}|${subject.orgLimitsVersion ?? 0}`, subject.orgLimits);
}
