// Admission on DynamoDB: the limiter's store (shared/limits/store.ts) as UpdateItems on the usage
// table, and the pipeline's `admit` hook. The decisions are shared/limits/ (one-item.ts and
// sharded.ts behind limiter.ts), which the simulation in bench/ runs against a model of the same
// calls.
//
// One-item path: one conditional UpdateItem on the organization's day usage item decides
// everything: the condition says "this window and under every limit", the update counts the
// request for the organization and for the key (`kr.<keyId>` day, `km.<keyId>` minute), and
// UPDATED_NEW gives the counts for the X-RateLimit-* headers, the key's day count (for usageCount)
// and whether this is the key's first request of the minute (for lastUsedAt). A request that fails
// the condition wrote nothing, so a rejected request consumes nothing and no limit is ever
// exceeded. At a window boundary the failed write's ALL_OLD tells which write to try instead.
// High-volume path: the same writes on a key's own item and on shard items. The design, and what
// each request costs, are in docs/limits.md.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ApiError } from '../domain/errors.ts';
import { effectiveLimits, type Limits, type RateSubject } from '../domain/plans.ts';
import { orgFullHint, SHARD_COUNT, type OrgDayCounters, type WriteKind } from '../limits/counters.ts';
import { rateLimitExceeded, rateLimitHeaders, type AppliedLimits } from '../limits/headers.ts';
import { TAKEOVER_MS } from '../limits/limit-change.ts';
import { decide } from '../limits/limiter.ts';
import { flushRefusals, LimiterMemory } from '../limits/sharded.ts';
import type { TokenMemory } from '../limits/tokens.ts';
import { CounterContention, fullMark, rebase, type Admission, type CounterStore, type CounterTarget, type LimitsVersion } from '../limits/store.ts';
import { usageItemTtl, type Window } from '../limits/windows.ts';
import { describeError, logger } from '../log.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { recordKeyUse, setOrgLimits } from './api-keys.ts';
import { getOrganization } from './organizations.ts';
import { batchGet, conditionalUpdate, countingDb, db, isConditionFailed, isNotApplied, isUnavailable } from './client.ts';
import { addKeyUsage, addUsage, keyUsageBase, MAX_KEYS_PER_ORG_DAY, shardScope, usageKey, type UsageScope } from './usage.ts';

export interface CounterOptions {
  /**
   * Set for the organization's item when the request's key is to be counted in it: the key's
   * minute and day counts, and its limits, live there, and the item takes at most this many keys a
   * day. Unset: the item is counted without a key (a key's own item, or the organization's item for
   * a key beyond the bound).
   */
  maxKeys?: number | undefined;
  /** A key's own item on the high-volume path: see CountOptions in shared/limits/store.ts. */
  unlessOrgFull?: Limits | undefined;
  /** An organization counter item: count under its allowances, at this version (CountOptions in shared/limits/store.ts). */
  version?: LimitsVersion | undefined;
  /** The organization's day item: fail when it was counted on shards that day (CountOptions in shared/limits/store.ts). */
  unlessSharded?: boolean | undefined;
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
    ':ttl': usageItemTtl(day),
    ':lv': options.version?.v,
    ':lm': options.version?.limits.perMinute,
    ':ld': options.version?.limits.perDay,
  };
  const versioned = isOrg && options.version !== undefined;
  // Versioned: the item's allowances decide, not the request's limits (those only start its day).
  const underMinute = versioned ? 'mc < am' : 'mc < :om';
  const underDay = versioned ? 'requests < ad' : 'requests < :od';
  const current = versioned ? ['lv = :lv', 'attribute_not_exists(fz)'] : [];
  const conditions: string[] = [];
  const sets: string[] = [];
  if (options.unlessSharded && isOrg) conditions.push('attribute_not_exists(shards)');
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
      conditions.push(...current, 'mw = :w', underMinute, underDay);
      if (perKey) {
        conditions.push(room);
        if (keyMinute) conditions.push('(attribute_not_exists(km.#k) OR km.#k < :keyMinute)');
        if (keyDay) conditions.push(keyDayCondition);
        sets.push(countKeyDay, 'km.#k = if_not_exists(km.#k, :zero) + :one');
      }
      break;
    case 'roll':
      // A new minute starts at one; per-key minute counts restart with it.
      conditions.push(...current, 'mw < :w', underDay);
      sets.push('mw = :w', 'mc = :one');
      if (versioned) {
        conditions.push('sm > :zero');
        sets.push('am = sm');
      }
      if (isOrg) sets.push('km = :km');
      if (perKey) {
        conditions.push(room);
        if (keyDay) conditions.push(keyDayCondition);
        sets.push(countKeyDay);
      }
      break;
    case 'fresh':
      // The first admitted request of the day. The item may already exist (credits or a refusal
      // counted first), but without counters.
      conditions.push('attribute_not_exists(mw)', '(attribute_not_exists(requests) OR requests < :od)');
      sets.push('mw = :w', 'mc = :one');
      if (versioned) {
        conditions.push('attribute_not_exists(fz)', 'attribute_not_exists(lv)');
        sets.push('lv = :lv', 'lm = :lm', 'ld = :ld', 'am = :om', 'sm = :om', 'ad = :od');
      }
      if (isOrg) sets.push('km = :km', 'kr = :kr');
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
    // Versioned items answer with their allowances too (what the window has left, for the headers);
    // a key's item on the high-volume path with what the key was told (hm, hd).
    ReturnValues: versioned || options.unlessOrgFull ? ('ALL_NEW' as const) : ('UPDATED_NEW' as const),
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

/** Tries of a counter write that DynamoDB did not apply (throttled, or never sent), and the waits between them. */
const NOT_APPLIED_WAITS_MS = [25, 100] as const;

let writeSeq = 0;
const writerId = Math.random().toString(36).slice(2, 10);

/**
 * Send one counter write (an UpdateItem that adds to a count), so that it counts at most once.
 * It goes out on a client without SDK retries: a retried `ADD` whose first attempt was applied
 * would count twice. A write DynamoDB certainly did not apply (throttled, or no connection) is
 * sent again. A write that may have been applied (a timeout, a 5xx, a reset connection) is not:
 * every counter write also sets `lt` to a token of its own, and one consistent read tells whether
 * it was applied and is the item's latest write (then the item is exactly what it returned); if
 * the read cannot tell, the error stands (503) and the request has counted at most once.
 */
export async function sendCounterWrite(input: UpdateCommandInput): Promise<{ Attributes?: Record<string, unknown> }> {
  const token = `${writerId}.${(writeSeq = (writeSeq + 1) % 1e9)}`;
  const key = structuredClone(input.Key);
  const expression = String(input.UpdateExpression);
  const tokened: UpdateCommandInput = {
    ...input,
    UpdateExpression: expression.startsWith('SET ') ? `SET lt = :lt, ${expression.slice(4)}` : `SET lt = :lt ${expression}`,
    ExpressionAttributeValues: { ...input.ExpressionAttributeValues, ':lt': token },
  };
  for (let attempt = 0; ; attempt++) {
    try {
      return await countingDb.send(new UpdateCommand(tokened));
    } catch (error) {
      if (isConditionFailed(error)) throw error;
      const wait = NOT_APPLIED_WAITS_MS[attempt];
      if (isNotApplied(error) && wait !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random())));
        continue;
      }
      if (!isUnavailable(error) || isNotApplied(error)) throw error;
      let item: Record<string, unknown> | undefined;
      try {
        ({ Item: item } = await db.send(new GetCommand({ TableName: input.TableName, Key: key, ConsistentRead: true })));
      } catch {
        throw error;
      }
      if (item?.lt === token) return { Attributes: item };
      throw error;
    }
  }
}

/**
 * Claim the takeover of a limit change on one of an organization's items (counters or tokens):
 * `fzc` set to `at`, unless the item is frozen by another change or was claimed less than
 * TAKEOVER_MS ago. A shard (`frozenOnly`) is claimed only while the change still freezes it; the
 * organization's own item also when it was released already (its shards may not be).
 */
export async function claimChange(key: { pk: string; sk: string }, token: string, at: number, frozenOnly = false): Promise<boolean> {
  const claimed = await conditionalUpdate({
    TableName: tableName('usage'),
    Key: key,
    UpdateExpression: 'SET fzc = :at, #ttl = if_not_exists(#ttl, :ttl)',
    ConditionExpression: `(${frozenOnly ? '' : 'attribute_not_exists(fz) OR '}fz = :token) AND (attribute_not_exists(fzc) OR fzc <= :stale)`,
    ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
    ExpressionAttributeValues: { ':at': at, ':token': token, ':stale': at - TAKEOVER_MS, ':ttl': usageItemTtl(key.sk) },
  });
  return claimed !== undefined;
}

function scopeOf(target: CounterTarget): UsageScope {
  if ('keyId' in target) return { keyId: target.keyId };
  return target.shard === undefined ? { organizationId: target.organizationId } : shardScope(target.organizationId, target.shard);
}

/** The limiter's store on DynamoDB: each method one call on the usage table. */
export const counterStore: CounterStore = {
  async count(target, kind, minute, day, limits, { perKey, unlessOrgFull, version, unlessSharded } = {}) {
    const keyId = perKey?.keyId ?? ('keyId' in target ? target.keyId : '');
    const input = counterUpdate(kind, minute, day, scopeOf(target), keyId, limits, { maxKeys: perKey?.maxKeys, unlessOrgFull, version, unlessSharded });
    try {
      const { Attributes = {} } = await sendCounterWrite(input);
      return { ok: true, state: Attributes as OrgDayCounters };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // A failed condition's ALL_OLD is not unmarshalled by the document client.
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { ok: false, old: item ? (unmarshall(item) as OrgDayCounters) : undefined };
    }
  },

  async takeBack(target, minute: Window, day, orgFull = {}) {
    const input = { TableName: tableName('usage'), Key: usageKey(scopeOf(target), day) };
    const hints = Object.entries(orgFull).filter(([, hint]) => hint !== undefined);
    const set = hints.length ? ` SET ${hints.map(([name]) => `${name} = :${name}`).join(', ')}` : '';
    const hintValues = Object.fromEntries(hints.map(([name, hint]) => [`:${name}`, hint]));
    // Not retried by the SDK (a second ADD would give back twice): a failure leaves the count one high.
    try {
      await countingDb.send(new UpdateCommand({
        ...input,
        UpdateExpression: `ADD requests :minus, mc :minus${set}`,
        ConditionExpression: 'mw = :w',
        ExpressionAttributeValues: { ':minus': -1, ':w': minute.id, ...hintValues },
      }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // The minute moved on (its count restarted): only the day still holds this request.
      await countingDb.send(new UpdateCommand({ ...input, UpdateExpression: `ADD requests :minus${set}`, ExpressionAttributeValues: { ':minus': -1, ...hintValues } }));
    }
  },

  claimChange: (target, day, token, at) => claimChange(usageKey(scopeOf(target), day), token, at, 'shard' in target && target.shard !== undefined),

  readShards(organizationId, day) {
    const keys = Array.from({ length: SHARD_COUNT }, (_, shard) => usageKey(shardScope(organizationId, shard), day));
    // A key left unprocessed reads as no item: the request then tries to write it.
    return batchGet<OrgDayCounters>(tableName('usage'), keys, { consistent: false });
  },

  async markFull(target, day, orgFull) {
    const mark = fullMark(orgFull);
    if (!mark) return;
    const [name, hint] = mark;
    await conditionalUpdate({
      TableName: tableName('usage'),
      Key: usageKey(scopeOf(target), day),
      UpdateExpression: `SET ${name} = :hint`,
      // Only on a started item, and never over a later window's mark (hints sort by window id first).
      ConditionExpression: `attribute_exists(mw) AND (attribute_not_exists(${name}) OR ${name} < :hint)`,
      ExpressionAttributeValues: { ':hint': hint },
    });
  },

  async addRefusals(target, day, amount) {
    const item = await addUsage(scopeOf(target), day, 'rateLimited', amount);
    return item.requests === undefined && Number(item.rateLimited) === amount;
  },

  async freeze(target, day, version, token, claimedAt) {
    try {
      const { Attributes = {} } = await db.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key: usageKey(scopeOf(target), day),
        UpdateExpression:
          'SET fz = :token, lv = :v, lm = :lm, ld = :ld, fmw = if_not_exists(mw, :none), fmc = if_not_exists(mc, :zero), frq = if_not_exists(requests, :zero), #ttl = if_not_exists(#ttl, :ttl)' +
          (claimedAt === undefined ? '' : ', fzc = :fzc'),
        // Also an item that started its day under this version without a change applied (no kept counts).
        ConditionExpression: 'attribute_not_exists(lv) OR lv < :v OR fz = :token OR (lv = :v AND attribute_not_exists(frq))',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':token': token, ':v': version.v, ':lm': version.limits.perMinute, ':ld': version.limits.perDay, ':ttl': usageItemTtl(day), ':none': '', ':zero': 0, ...(claimedAt === undefined ? {} : { ':fzc': claimedAt }) },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { ok: true, state: Attributes as OrgDayCounters };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { ok: false, old: item ? (unmarshall(item) as OrgDayCounters) : undefined };
    }
  },

  async assign(target, day, token, a) {
    const sets = ['mw = :mw', 'mc = :mc', 'am = :am', 'sm = :sm', 'ad = :ad', 'requests = if_not_exists(requests, :zero)'];
    const values: Record<string, unknown> = { ':token': token, ':mw': a.mw, ':mc': a.mc, ':am': a.am, ':sm': a.sm, ':ad': a.ad, ':zero': 0 };
    if (!('keyId' in target) && target.shard === undefined) {
      // The organization's day item keeps its per-key maps (the one-item path's conditions need them).
      sets.push(a.resetKeyMinutes ? 'km = :empty' : 'km = if_not_exists(km, :empty)', 'kr = if_not_exists(kr, :empty)');
      values[':empty'] = {};
      if (a.shards !== undefined) {
        sets.push('shards = :shards');
        values[':shards'] = a.shards;
      }
    }
    const assigned = await conditionalUpdate({
      TableName: tableName('usage'),
      Key: usageKey(scopeOf(target), day),
      UpdateExpression: `SET ${sets.join(', ')} REMOVE fz`,
      ConditionExpression: 'fz = :token',
      ExpressionAttributeValues: values,
    });
    return assigned !== undefined;
  },

  async markSharded(organizationId, day, shards, version) {
    const versioned = version ? ', sv = if_not_exists(sv, :v), lm = if_not_exists(lm, :lm), ld = if_not_exists(ld, :ld)' : '';
    await db.send(new UpdateCommand({
      TableName: tableName('usage'),
      Key: usageKey({ organizationId }, day),
      UpdateExpression: `SET shards = :shards, #ttl = if_not_exists(#ttl, :ttl)${versioned}`,
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: {
        ':shards': shards,
        ':ttl': usageItemTtl(day),
        ...(version ? { ':v': version.v, ':lm': version.limits.perMinute, ':ld': version.limits.perDay } : {}),
      },
    }));
  },

  async lowerTold(target, day, told) {
    try {
      await db.send(new UpdateCommand({
        TableName: tableName('usage'),
        Key: usageKey(scopeOf(target), day),
        UpdateExpression: 'SET hmw = :hmw, hm = :hm, hdw = :hdw, hd = :hd',
        ConditionExpression: 'attribute_exists(mw) AND (attribute_not_exists(hmw) OR hmw < :hmw OR (hmw = :hmw AND hm >= :hm)) AND (attribute_not_exists(hdw) OR hdw < :hdw OR (hdw = :hdw AND hd >= :hd))',
        ExpressionAttributeValues: { ':hmw': told.hmw, ':hm': told.hm, ':hdw': told.hdw, ':hd': told.hd },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { ok: true };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { ok: false, old: item ? (unmarshall(item) as OrgDayCounters) : undefined };
    }
  },

  async peek(target, day) {
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: usageKey(scopeOf(target), day), ConsistentRead: true }));
    return Item as OrgDayCounters | undefined;
  },
};

/** This environment's memory for the limiter (it saves reads and failed writes, never decides on its own). */
const memory = new LimiterMemory();

/** Organizations this environment admitted on the high-volume path: their replies take credits from batches. */
const highVolumeOrgs = new Map<string, number>();
const HIGH_VOLUME_MEMORY_MS = 3_600_000;

export function isHighVolumeOrg(organizationId: string, now: Date = new Date()): boolean {
  const seen = highVolumeOrgs.get(organizationId);
  return seen !== undefined && now.getTime() - seen < HIGH_VOLUME_MEMORY_MS;
}

/** For tests: forget what this environment knows (a fresh Lambda environment), flushing tallied refusals first. */
export async function resetLimiterMemory(now: Date = new Date()): Promise<void> {
  await flushRefusals(counterStore, memory.refusals, now, Math.random, true);
  for (const map of [memory.views, memory.lastSeen, memory.keyMinuteFull, memory.overflowDay, memory.keysOfFullDayItem, memory.dayItemFull, memory.carried, memory.tokens.shards, memory.tokens.marks, highVolumeOrgs]) map.clear();
}

/** This environment's memory of organizations' token shards (shared/db/token-windows.ts). */
export function tokenMemory(): TokenMemory {
  return memory.tokens;
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

async function recordRejection(subject: RateSubject, admission: Admission): Promise<void> {
  try {
    await addKeyUsage(subject.organizationId, subject.keyId, admission.day, 'rateLimited', 1);
  } catch (error) {
    logger.warn('rate-limited request not counted', { organizationId: subject.organizationId, error: describeError(error) });
  }
}

const onError = (what: string, error: unknown) => logger.warn(what, { error: describeError(error) });

/**
 * The pipeline's `admit` hook: count the request and return the X-RateLimit-* headers, or throw
 * 429 RATE_LIMIT_EXCEEDED (with those headers and Retry-After) when any window is full.
 * `maxKeys` (keys counted in the organization's day item) is a parameter for tests only.
 */
export async function admit(
  subject: RateSubject,
  now: Date = new Date(),
  maxKeys: number = MAX_KEYS_PER_ORG_DAY,
  random: () => number = Math.random,
): Promise<Record<string, string>> {
  let decision: Awaited<ReturnType<typeof decide>>;
  try {
    decision = await decide(counterStore, memory, subject, now, { maxKeys, random, onError });
  } catch (error) {
    if (!(error instanceof CounterContention)) throw error;
    logger.warn('rate limit counter contention', { organizationId: subject.organizationId });
    throw new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' });
  }
  if (decision.path === 'sharded') {
    if (highVolumeOrgs.size >= 10_000) highVolumeOrgs.clear();
    highVolumeOrgs.set(subject.organizationId, now.getTime());
    try {
      // A refusal is in the usage figures when its 429 is answered (an environment may serve nothing after it).
      await flushRefusals(counterStore, memory.refusals, now, random, !decision.admitted);
    } catch (error) {
      logger.warn('rate-limited requests not counted', { organizationId: subject.organizationId, error: describeError(error) });
    }
  } else {
    // Admitted on the one-item path: its credits go back to the one-item path too.
    highVolumeOrgs.delete(subject.organizationId);
    if (!decision.admitted) await recordRejection(subject, decision);
  }
  await repairKeyCopy(subject);
  if (!decision.admitted) throw rateLimitExceeded(decision.windows, now);
  await recordUse(subject, decision, now);
  return rateLimitHeaders(decision.windows);
}

/** Keys whose copy of the limits this environment brought up to date, with the version. */
const repaired = new Map<string, number>();
/** Per organization, the newest limits (all of them, token limits too) this environment read, with their version. */
const orgLimitsRead = new Map<string, LimitsVersion>();

/**
 * A request whose key holds an older copy of its organization's limits than the counters count
 * under (a limit change whose copy has not reached this key: see propagateOrgLimits) was decided
 * under the newer limits; the key's copy is then brought up to date from the organization (one
 * read, one conditional write, once per key and environment), so a change reaches every key in
 * use at its next request even when the PATCH could not copy it, whichever route the key is used
 * through (API-key or session routes). The request's subject takes the newer limits too, so what
 * it does next (a reply's token hold) is held to them. Bookkeeping: a failure is logged.
 */
async function repairKeyCopy(subject: RateSubject): Promise<void> {
  const known = memory.orgVersions.get(subject.organizationId);
  if (!known || known.v <= (subject.orgLimitsVersion ?? 0)) return;
  try {
    let current = orgLimitsRead.get(subject.organizationId);
    if (!current || current.v < known.v) {
      const org = await getOrganization(subject.organizationId);
      if (!org) return;
      current = { v: org.limitsVersion ?? 0, limits: effectiveLimits(org.plan, org.limits) };
      if (orgLimitsRead.size >= 10_000) orgLimitsRead.clear();
      orgLimitsRead.set(subject.organizationId, current);
    }
    if (current.v <= (subject.orgLimitsVersion ?? 0)) return;
    subject.orgLimits = current.limits;
    subject.orgLimitsVersion = current.v;
    if ((repaired.get(subject.keyId) ?? -1) >= current.v) return;
    await setOrgLimits(subject.keyId, current.limits, current.v);
    if (repaired.size >= 10_000) repaired.clear();
    repaired.set(subject.keyId, current.v);
  } catch (error) {
    logger.warn('key limits copy not repaired', { keyId: subject.keyId, error: describeError(error) });
  }
}

/**
 * A limit change: apply the organization's new limits (of `version`) to what today's windows have
 * counted, on every counter item of either path (rebase in shared/limits/store.ts), before the
 * keys get their copies. A request still carrying an older copy is then decided under these.
 */
export async function applyOrgLimits(organizationId: string, version: LimitsVersion, now: Date = new Date()): Promise<void> {
  await rebase(counterStore, organizationId, version, now);
}
