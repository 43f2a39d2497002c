// Admission: count a request against its organization's windows (UTC minute and day, from the plan
// or the enterprise org's limits) and its key's own stricter ones, exactly, under any concurrency.
//
// One conditional UpdateItem on the organization's day usage item decides everything: the
// condition says "this window and under every limit", the update counts, UPDATED_NEW gives the
// counts for the X-RateLimit-* headers. A request that fails the condition wrote nothing, so a
// rejected request consumes nothing and the limit is never exceeded. At a window boundary the
// failed write's ALL_OLD tells which write to try instead (roll the minute, or create the day).
// Then one more write counts the request on the key's day item (usage, lastUsedAt, usageCount).
// The design, and what each request costs, are in docs/limits.md.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ApiError } from '../domain/errors.ts';
import type { RateSubject } from '../http/pipeline.ts';
import { firstGuess, nextStep, windowCounts, type OrgDayCounters, type WriteKind } from '../limits/counters.ts';
import {
  appliedLimits,
  isExhausted,
  rateLimitExceeded,
  rateLimitHeaders,
  type AppliedLimits,
  type WindowCount,
} from '../limits/headers.ts';
import { dayWindow, usageItemTtl, type Window } from '../limits/windows.ts';
import { describeError, logger } from '../log.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { recordKeyUse } from './api-keys.ts';
import { db, isConditionFailed } from './client.ts';
import { addOrgAndKeyUsage, countKeyRequest, keyUsageBase, usageKey } from './usage.ts';

/** Enough for a guess, a roll and a retry after losing the roll to a concurrent request. */
const MAX_ATTEMPTS = 5;

/** The minute this process last counted in, per organization: picks the first write to try. */
const lastSeenMinute = new Map<string, string>();
const LAST_SEEN_CAP = 10_000;

function remember(organizationId: string, minuteId: string): void {
  if (lastSeenMinute.size >= LAST_SEEN_CAP) lastSeenMinute.clear();
  lastSeenMinute.set(organizationId, minuteId);
}

/** The UpdateItem for one step. Exported for tests; the expressions are the design. */
export function counterUpdate(kind: WriteKind, minute: Window, day: string, organizationId: string, keyId: string, limits: AppliedLimits) {
  const keyMinute = limits.key.perMinute !== undefined;
  const keyDay = limits.key.perDay !== undefined;
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':w': minute.id, ':one': 1, ':od': limits.org.perDay };
  const conditions: string[] = [];
  const sets: string[] = [];
  if (keyMinute || keyDay) {
    names['#k'] = keyId;
    values[':zero'] = 0;
  }
  if (keyMinute) values[':km'] = limits.key.perMinute;
  if (keyDay) values[':kd'] = limits.key.perDay;
  const keyDayCondition = '(attribute_not_exists(kdc.#k) OR kdc.#k < :kd)';
  const keyDayCount = 'kdc.#k = if_not_exists(kdc.#k, :zero) + :one';
  const firstMinute = keyMinute ? { [keyId]: 1 } : {};

  switch (kind) {
    case 'same':
      values[':om'] = limits.org.perMinute;
      conditions.push('mw = :w', 'mc < :om', 'requests < :od');
      if (keyMinute) {
        conditions.push('(attribute_not_exists(kmc.#k) OR kmc.#k < :km)');
        sets.push('kmc.#k = if_not_exists(kmc.#k, :zero) + :one');
      }
      if (keyDay) {
        conditions.push(keyDayCondition);
        sets.push(keyDayCount);
      }
      break;
    case 'roll':
      // A new minute starts at one; per-key minute counts restart with it.
      conditions.push('mw < :w', 'requests < :od');
      values[':kmc'] = firstMinute;
      sets.push('mw = :w', 'mc = :one', 'kmc = :kmc');
      if (keyDay) {
        conditions.push(keyDayCondition);
        sets.push(keyDayCount);
      }
      break;
    case 'fresh':
      // The first admitted request of the day. The item may already exist (credits counted first).
      conditions.push('attribute_not_exists(mw)', '(attribute_not_exists(requests) OR requests < :od)');
      values[':kmc'] = firstMinute;
      values[':kdc'] = keyDay ? { [keyId]: 1 } : {};
      values[':ttl'] = usageItemTtl(day);
      names['#ttl'] = TTL_ATTRIBUTE;
      sets.push('mw = :w', 'mc = :one', 'kmc = :kmc', 'kdc = :kdc', '#ttl = :ttl');
      break;
  }
  const add = kind === 'same' ? 'ADD requests :one, mc :one' : 'ADD requests :one';
  const update = sets.length ? `SET ${sets.join(', ')} ${add}` : add;
  const condition = conditions.join(' AND ');
  // DynamoDB refuses names and values an expression does not use.
  const used = new Set(`${update} ${condition}`.match(/[#:][A-Za-z0-9_]+/g));
  const usedNames = Object.fromEntries(Object.entries(names).filter(([name]) => used.has(name)));
  return {
    TableName: tableName('usage'),
    Key: usageKey({ organizationId }, day),
    UpdateExpression: update,
    ConditionExpression: condition,
    ...(Object.keys(usedNames).length ? { ExpressionAttributeNames: usedNames } : {}),
    ExpressionAttributeValues: Object.fromEntries(Object.entries(values).filter(([name]) => used.has(name))),
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

export interface Admission {
  admitted: boolean;
  /** Every applicable window with its count (after this request when admitted). */
  windows: WindowCount[];
  /** The UTC day the request was counted in, and the minute window. */
  day: string;
  minute: Window;
}

/** The one conditional write (two or three at a window boundary) that decides a request. */
export async function countRequest(subject: RateSubject, now: Date): Promise<Admission> {
  const limits = appliedLimits(subject.orgLimits, subject.keyLimits);
  const { organizationId, keyId } = subject;
  const day = dayWindow(now);
  let step = firstGuess(lastSeenMinute.get(organizationId), now);
  // A limit of zero (or a missing one) admits nothing; no write can tell us more.
  const empty = windowCounts(undefined, step.minute, day, limits, keyId);
  if (empty.some(isExhausted)) return { admitted: false, windows: empty, day: day.id, minute: step.minute };

  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    try {
      const { Attributes = {} } = await db.send(new UpdateCommand(counterUpdate(step.action, step.minute, day.id, organizationId, keyId, limits)));
      const state = { ...(Attributes as OrgDayCounters), mw: step.minute.id };
      remember(organizationId, step.minute.id);
      return { admitted: true, windows: windowCounts(state, step.minute, day, limits, keyId), day: day.id, minute: step.minute };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      const old = item ? (fromItem(item) as OrgDayCounters) : undefined;
      if (old?.mw) remember(organizationId, old.mw);
      const next = nextStep(old, now, limits, keyId);
      if (next.action === 'reject') return { admitted: false, windows: next.windows, day: day.id, minute: step.minute };
      step = next;
    }
  }
  logger.warn('rate limit counter contention', { organizationId, attempts: MAX_ATTEMPTS });
  throw new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' });
}

/**
 * After admission: the key's day item counts the request, and on the key's first request of a
 * minute the key item gets lastUsedAt and usageCount. Bookkeeping failures are logged, not
 * surfaced: the request has been admitted and counted against the limits already.
 */
async function recordUse(keyId: string, day: string, minuteId: string, now: Date): Promise<void> {
  try {
    const count = await countKeyRequest(keyId, day, minuteId);
    if (!count.firstInMinute) return;
    const base = count.base ?? (await keyUsageBase(keyId, day));
    await recordKeyUse(keyId, base + count.requests, now);
  } catch (error) {
    logger.warn('key usage not recorded', { keyId, error: describeError(error) });
  }
}

async function recordRejection(subject: RateSubject, day: string): Promise<void> {
  try {
    await addOrgAndKeyUsage(subject.organizationId, subject.keyId, day, 'rateLimited', 1);
  } catch (error) {
    logger.warn('rate-limited request not counted', { organizationId: subject.organizationId, error: describeError(error) });
  }
}

/**
 * The pipeline's `admit` hook: count the request and return the X-RateLimit-* headers, or throw
 * 429 RATE_LIMIT_EXCEEDED (with those headers and Retry-After) when any window is full.
 */
export async function admit(subject: RateSubject, now: Date = new Date()): Promise<Record<string, string>> {
  const admission = await countRequest(subject, now);
  if (!admission.admitted) {
    await recordRejection(subject, admission.day);
    throw rateLimitExceeded(admission.windows, now);
  }
  await recordUse(subject.keyId, admission.day, admission.minute.id, now);
  return rateLimitHeaders(admission.windows);
}
