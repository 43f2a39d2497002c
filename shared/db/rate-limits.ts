// Admission: count a request against its organization's windows (UTC minute and day, from the plan
// or the enterprise org's limits) and its key's own stricter ones, exactly, under any concurrency,
// and record the key's usage, in one DynamoDB write.
//
// One conditional UpdateItem on the organization's day usage item decides everything: the
// condition says "this window and under every limit", the update counts the request for the
// organization and for the key (`kr.<keyId>` day, `km.<keyId>` minute), and UPDATED_NEW gives the
// counts for the X-RateLimit-* headers, the key's day count (for usageCount) and whether this is
// the key's first request of the minute (for lastUsedAt). A request that fails the condition wrote
// nothing, so a rejected request consumes nothing and no limit is ever exceeded. At a window boundary
// the failed write's ALL_OLD tells which write to try instead (roll the minute, or create the day).
//
// The organization's item holds at most `maxKeys` keys a day, so it stays far below DynamoDB's
// 400 KB item limit. A key beyond that is counted on its own day item (a second write) and, if it
// has its own limits, decided there before the organization's item is asked. The design, and what
// each request costs, are in docs/limits.md.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ApiError } from '../domain/errors.ts';
import type { Limits, RateSubject } from '../domain/plans.ts';
import { firstGuess, hasRoomFor, nextStep, orgFullHint, windowCounts, type OrgDayCounters, type WriteKind } from '../limits/counters.ts';
import {
  appliedLimits,
  isExhausted,
  rateLimitExceeded,
  rateLimitHeaders,
  type AppliedLimits,
  type WindowCount,
} from '../limits/headers.ts';
import { isHighVolume } from '../limits/sharded.ts';
import { dayWindow, usageItemTtl, type Window } from '../limits/windows.ts';
import { describeError, logger } from '../log.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { recordKeyUse } from './api-keys.ts';
import { db, isConditionFailed } from './client.ts';
import { admitHighVolume, forgetHighVolume } from './sharded-store.ts';
import { addKeyUsage, keyUsageBase, MAX_KEYS_PER_ORG_DAY, usageKey, usagePartition, type UsageScope } from './usage.ts';

/** Enough for a guess, a roll and a retry after losing the roll to a concurrent request. */
const MAX_ATTEMPTS = 5;

/** A key's own limit that is not set: its own counter still counts, and never refuses. */
const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Per-process memory, bounded: cleared when full. It only saves failed writes, it never decides. */
function boundedMap<V>(cap: number) {
  const map = new Map<string, V>();
  return {
    get: (key: string) => map.get(key),
    set(key: string, value: V) {
      if (map.size >= cap) map.clear();
      map.set(key, value);
    },
  };
}

/** The minute this process last counted in, per counter item (partition): picks the first write to try. */
const lastSeenMinute = boundedMap<string>(10_000);
/** Keys this process saw overflow the organization's item, with the day: they skip the write that would fail. */
const overflowDay = boundedMap<string>(10_000);

export interface CounterOptions {
  /**
   * Set for the organization's item when the request's key is to be counted in it: the key's
   * minute and day counts, and its limits, live there, and the item takes at most this many keys a
   * day. Unset: the item is counted without a key (a key's own item, or the organization's item for
   * a key beyond the bound).
   */
  maxKeys?: number;
  /**
   * A key's own item on the high-volume path: the write also fails when the item says the
   * organization was found full at these limits in this minute or on this day (`ofm`, `ofd`).
   */
  unlessOrgFull?: Limits | undefined;
}

/** The UpdateItem for one step. Exported for tests; the expressions are the design. */
export function counterUpdate(
  kind: WriteKind,
  minute: Window,
  day: string,
  target: UsageScope,
  keyId: string,
  limits: AppliedLimits,
  options: CounterOptions = {},
) {
  const isOrg = 'organizationId' in target;
  const perKey = isOrg && options.maxKeys !== undefined;
  const keyMinute = perKey && limits.key.perMinute !== undefined;
  const keyDay = perKey && limits.key.perDay !== undefined;
  const names: Record<string, string> = { '#k': keyId, '#ttl': TTL_ATTRIBUTE };
  const values: Record<string, unknown> = {
    ':w': minute.id,
    ':one': 1,
    ':zero': 0,
    ':od': limits.org.perDay,
    ':om': limits.org.perMinute,
    ':keyMinute': limits.key.perMinute,
    ':keyDay': limits.key.perDay,
    ':maxKeys': options.maxKeys,
    ':km': perKey ? { [keyId]: 1 } : {},
    ':kr': perKey ? { [keyId]: 1 } : {},
    ':empty': {},
    ':ttl': usageItemTtl(day),
  };
  const conditions: string[] = [];
  const sets: string[] = [];
  if (options.unlessOrgFull) {
    values[':ofm'] = orgFullHint(minute.id, options.unlessOrgFull);
    values[':ofd'] = orgFullHint(day, options.unlessOrgFull);
    conditions.push('(attribute_not_exists(ofm) OR ofm <> :ofm)', '(attribute_not_exists(ofd) OR ofd <> :ofd)');
  }
  // The key's counts: its day count is also its usage figure, its minute count tells its first
  // request of the minute. A key not yet counted today needs room in the item.
  const room = '(attribute_exists(kr.#k) OR size(kr) < :maxKeys)';
  const countKeyDay = 'kr.#k = if_not_exists(kr.#k, :zero) + :one';
  const keyDayCondition = '(attribute_not_exists(kr.#k) OR kr.#k < :keyDay)';

  switch (kind) {
    case 'same':
      conditions.push('mw = :w', 'mc < :om', 'requests < :od');
      if (perKey) {
        conditions.push(room);
        if (keyMinute) conditions.push('(attribute_not_exists(km.#k) OR km.#k < :keyMinute)');
        if (keyDay) conditions.push(keyDayCondition);
        sets.push(countKeyDay, 'km.#k = if_not_exists(km.#k, :zero) + :one');
      }
      break;
    case 'roll':
      // A new minute starts at one; per-key minute counts restart with it.
      conditions.push('mw < :w', 'requests < :od');
      sets.push('mw = :w', 'mc = :one');
      if (isOrg) sets.push('km = :km');
      if (perKey) {
        conditions.push(room);
        if (keyDay) conditions.push(keyDayCondition);
        sets.push(countKeyDay);
      }
      break;
    case 'fresh':
      // The first admitted request of the day. The item may already exist (credits or a refusal
      // counted first), but without counters: nothing is counted per key before the day's first
      // admission (see addKeyUsage).
      conditions.push('attribute_not_exists(mw)', '(attribute_not_exists(requests) OR requests < :od)');
      sets.push('mw = :w', 'mc = :one');
      if (isOrg) sets.push('km = :km', 'kr = :kr', 'kl = if_not_exists(kl, :empty)', 'kc = if_not_exists(kc, :empty)');
      sets.push('#ttl = :ttl');
      break;
  }
  const add = kind === 'same' ? 'ADD requests :one, mc :one' : 'ADD requests :one';
  const update = sets.length ? `SET ${sets.join(', ')} ${add}` : add;
  const condition = conditions.join(' AND ');
  // DynamoDB refuses names and values an expression does not use.
  const used = new Set(`${update} ${condition}`.match(/[#:][A-Za-z0-9_]+/g));
  const pick = (all: Record<string, unknown>) => Object.fromEntries(Object.entries(all).filter(([name]) => used.has(name)));
  const usedNames = pick(names) as Record<string, string>;
  return {
    TableName: tableName('usage'),
    Key: usageKey(target, day),
    UpdateExpression: update,
    ConditionExpression: condition,
    ...(Object.keys(usedNames).length ? { ExpressionAttributeNames: usedNames } : {}),
    ExpressionAttributeValues: pick(values),
    ReturnValues: 'UPDATED_NEW' as const,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

/** A raw DynamoDB item (a failed condition's ALL_OLD is not unmarshalled by the document client). */
function fromAttributeValue(value: AttributeValue): unknown {
  if (value.N !== undefined) return Number(value.N);
  if (value.S !== undefined) return value.S;
  if (value.M !== undefined) return fromItem(value.M);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.L !== undefined) return value.L.map(fromAttributeValue);
  return undefined;
}

function fromItem(item: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, fromAttributeValue(value)]));
}

type Counted =
  | { outcome: 'admitted'; minute: Window; state: OrgDayCounters }
  | { outcome: 'rejected'; windows: WindowCount[]; old: OrgDayCounters | undefined }
  | { outcome: 'overflow' };

/** The conditional write (two or three at a window boundary) on one counter item. */
async function countIn(target: UsageScope, keyId: string, limits: AppliedLimits, now: Date, options: CounterOptions = {}): Promise<Counted> {
  const partition = usagePartition(target);
  const day = dayWindow(now).id;
  let step = firstGuess(lastSeenMinute.get(partition), now);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    try {
      const input = counterUpdate(step.action, step.minute, day, target, keyId, limits, options);
      const { Attributes = {} } = await db.send(new UpdateCommand(input));
      lastSeenMinute.set(partition, step.minute.id);
      return { outcome: 'admitted', minute: step.minute, state: { ...(Attributes as OrgDayCounters), mw: step.minute.id } };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      const old = item ? (fromItem(item) as OrgDayCounters) : undefined;
      if (old?.mw) lastSeenMinute.set(partition, old.mw);
      const next = nextStep(old, now, limits, keyId, options.maxKeys);
      if (next.action === 'reject') return { outcome: 'rejected', windows: next.windows, old };
      if (next.action === 'overflow') return { outcome: 'overflow' };
      step = next;
    }
  }
  logger.warn('rate limit counter contention', { partition, attempts: MAX_ATTEMPTS });
  throw new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' });
}

export interface Admission {
  admitted: boolean;
  /** Every applicable window with its count (after this request when admitted). */
  windows: WindowCount[];
  /** The UTC day the request was counted in. */
  day: string;
  /** Where the key's usage is counted today, when known: the organization's item or its own. */
  keyItem?: 'org' | 'own';
  /** Admitted only: the key's admitted requests today, this one included. */
  keyRequests?: number;
  /** Admitted only: this is the key's first admitted request of its minute window (refresh lastUsedAt). */
  firstInMinute?: boolean;
}

/** The key's own limits as the limits of its own counter item (a limit it does not set never refuses). */
function ownItemLimits(key: Partial<Limits>): AppliedLimits {
  return { org: { perMinute: key.perMinute ?? UNLIMITED, perDay: key.perDay ?? UNLIMITED }, key: {} };
}

/** The windows of a key's own counter item, as the key's windows (only the limits the key sets). */
function asKeyWindows(windows: WindowCount[], key: Partial<Limits>): WindowCount[] {
  return windows
    .filter((w) => (w.window.period === 'minute' ? key.perMinute : key.perDay) !== undefined)
    .map((w) => ({ ...w, scope: 'key' as const }));
}

/** Undo a count on a key's own item whose request the organization then refused. */
async function takeBack(keyId: string, minute: Window, day: string): Promise<void> {
  const input = {
    TableName: tableName('usage'),
    Key: usageKey({ keyId }, day),
    ExpressionAttributeValues: { ':minus': -1, ':w': minute.id },
  };
  try {
    try {
      await db.send(new UpdateCommand({ ...input, UpdateExpression: 'ADD requests :minus, mc :minus', ConditionExpression: 'mw = :w' }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // The minute has moved on (its count restarted): only the day still holds this request.
      await db.send(new UpdateCommand({ ...input, UpdateExpression: 'ADD requests :minus', ExpressionAttributeValues: { ':minus': -1 } }));
    }
  } catch (error) {
    logger.warn('key count not taken back', { keyId, error: describeError(error) });
  }
}

/**
 * A key beyond the organization's item's bound: counted on its own day item. A key with its own
 * limits is decided there first (conditional, exact), then by the organization's item; if the
 * organization refuses, the key's count is taken back. A key without limits is counted on its own
 * item after the organization admitted it. Either way the organization's item is not grown.
 */
async function countOverflow(subject: RateSubject, limits: AppliedLimits, now: Date): Promise<Admission> {
  const { organizationId, keyId } = subject;
  const day = dayWindow(now);
  const orgOnly: AppliedLimits = { org: limits.org, key: {} };
  const own = ownItemLimits(limits.key);
  const hasOwnLimits = limits.key.perMinute !== undefined || limits.key.perDay !== undefined;
  const orgWindows = (c: Counted & { outcome: 'admitted' }) => windowCounts(c.state, c.minute, day, orgOnly, keyId);

  if (hasOwnLimits) {
    const key = await countIn({ keyId }, keyId, own, now);
    if (key.outcome === 'rejected') return { admitted: false, windows: asKeyWindows(key.windows, limits.key), day: day.id, keyItem: 'own' };
    if (key.outcome !== 'admitted') throw new Error('a key counter cannot overflow');
    const keyWindows = asKeyWindows(windowCounts(key.state, key.minute, day, own, keyId), limits.key);
    const org = await countIn({ organizationId }, keyId, orgOnly, now);
    if (org.outcome === 'overflow') throw new Error('the organization counter overflowed without a key');
    if (org.outcome === 'rejected') {
      await takeBack(keyId, key.minute, day.id);
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

  const org = await countIn({ organizationId }, keyId, orgOnly, now);
  if (org.outcome === 'rejected') return { admitted: false, windows: org.windows, day: day.id, keyItem: 'own' };
  if (org.outcome !== 'admitted') throw new Error('the organization counter overflowed without a key');
  const admission: Admission = { admitted: true, windows: orgWindows(org), day: day.id, keyItem: 'own' };
  try {
    // Usage only (no limit to check): a failure is logged, the request has been admitted.
    const key = await countIn({ keyId }, keyId, own, now);
    if (key.outcome === 'admitted') Object.assign(admission, { keyRequests: key.state.requests, firstInMinute: key.state.mc === 1 });
  } catch (error) {
    logger.warn('key usage not recorded', { keyId, error: describeError(error) });
  }
  return admission;
}

/** Count a request: one conditional write on the organization's day item (more only at a window boundary or beyond the bound). */
export async function countRequest(subject: RateSubject, now: Date, maxKeys: number = MAX_KEYS_PER_ORG_DAY): Promise<Admission> {
  const limits = appliedLimits(subject.orgLimits, subject.keyLimits);
  const { organizationId, keyId } = subject;
  const day = dayWindow(now);
  // A limit of zero (or a missing one) admits nothing; no write can tell us more.
  const empty = windowCounts(undefined, firstGuess(undefined, now).minute, day, limits, keyId);
  if (empty.some(isExhausted)) return { admitted: false, windows: empty, day: day.id };
  if (overflowDay.get(keyId) === day.id) return countOverflow(subject, limits, now);

  const counted = await countIn({ organizationId }, keyId, limits, now, { maxKeys: Math.max(1, maxKeys) });
  switch (counted.outcome) {
    case 'admitted':
      return {
        admitted: true,
        windows: windowCounts(counted.state, counted.minute, day, limits, keyId),
        day: day.id,
        keyItem: 'org',
        keyRequests: counted.state.kr?.[keyId],
        firstInMinute: counted.state.km?.[keyId] === 1,
      };
    case 'rejected': {
      // The refusal is counted for the key in the organization's item if the item has (or has
      // room for) the key in its `kl` map; otherwise on the key's own item.
      const kl = counted.old?.kl;
      const keyItem = kl !== undefined && hasRoomFor({ kr: kl }, keyId, maxKeys) ? 'org' : 'own';
      return { admitted: false, windows: counted.windows, day: day.id, keyItem };
    }
    case 'overflow':
      overflowDay.set(keyId, day.id);
      logger.info('key counted on its own usage item', { organizationId, keyId, maxKeys });
      return countOverflow(subject, limits, now);
  }
}

/**
 * On the key's first admitted request of a minute, the key item gets lastUsedAt and usageCount
 * (the key's lifetime count before today, plus today's). Bookkeeping failures are logged, not
 * surfaced: the request has been admitted and counted against the limits already.
 */
export async function recordUse(
  subject: RateSubject,
  admission: Pick<Admission, 'firstInMinute' | 'keyRequests' | 'day'>,
  now: Date,
): Promise<void> {
  if (!admission.firstInMinute || admission.keyRequests === undefined) return;
  try {
    const base = await keyUsageBase(subject.organizationId, subject.keyId, admission.day);
    await recordKeyUse(subject.keyId, base + admission.keyRequests, now);
  } catch (error) {
    logger.warn('key use not recorded', { keyId: subject.keyId, error: describeError(error) });
  }
}

async function recordRejection(subject: RateSubject, admission: Admission, maxKeys: number): Promise<void> {
  try {
    await addKeyUsage(subject.organizationId, subject.keyId, admission.day, 'rateLimited', 1, { item: admission.keyItem, maxKeys });
  } catch (error) {
    logger.warn('rate-limited request not counted', { organizationId: subject.organizationId, error: describeError(error) });
  }
}

/**
 * The pipeline's `admit` hook: count the request and return the X-RateLimit-* headers, or throw
 * 429 RATE_LIMIT_EXCEEDED (with those headers and Retry-After) when any window is full.
 * `maxKeys` (keys counted in the organization's day item) is a parameter for tests only.
 */
export async function admit(subject: RateSubject, now: Date = new Date(), maxKeys: number = MAX_KEYS_PER_ORG_DAY): Promise<Record<string, string>> {
  // Organizations whose limits one item cannot carry are counted on shards (docs/limits.md, "Past one hot item").
  if (isHighVolume(subject.orgLimits)) return admitHighVolume(subject, now);
  forgetHighVolume(subject.organizationId);
  const admission = await countRequest(subject, now, maxKeys);
  if (!admission.admitted) {
    await recordRejection(subject, admission, maxKeys);
    throw rateLimitExceeded(admission.windows, now);
  }
  await recordUse(subject, admission, now);
  return rateLimitHeaders(admission.windows);
}
