// The high-volume path's store on DynamoDB (the interface is shared/limits/store.ts; the decisions
// are shared/limits/sharded.ts and credit-batches.ts, which the simulation in bench/ runs against a
// model of the same calls). Used by `admit` for organizations whose limits make them high-volume
// (isHighVolume). docs/limits.md, "Past one hot item".
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ApiError } from '../domain/errors.ts';
import type { RateSubject } from '../domain/plans.ts';
import type { OrgDayCounters } from '../limits/counters.ts';
import { rateLimitExceeded, rateLimitHeaders } from '../limits/headers.ts';
import { admitSharded, flushRefusals, ShardedMemory, type HighVolumeAdmission } from '../limits/sharded.ts';
import { CounterContention, type CounterStore, type CounterTarget } from '../limits/store.ts';
import { usageItemTtl, type Window } from '../limits/windows.ts';
import { describeError, logger } from '../log.ts';
import { tableName, TTL_ATTRIBUTE } from '../tables.ts';
import { db, isConditionFailed } from './client.ts';
import { counterUpdate, recordUse } from './rate-limits.ts';
import { addUsage, shardScope, usageKey, type UsageScope } from './usage.ts';

function scopeOf(target: CounterTarget): UsageScope {
  return 'keyId' in target ? { keyId: target.keyId } : shardScope(target.organizationId, target.shard);
}

export const counterStore: CounterStore = {
  async count(target, kind, minute, day, limits, unlessOrgFull) {
    // The counter without per-key maps: a key's own item, or a shard (neither holds other keys).
    const input = counterUpdate(kind, minute, day, scopeOf(target), 'keyId' in target ? target.keyId : '', limits, { unlessOrgFull });
    try {
      const { Attributes = {} } = await db.send(new UpdateCommand(input));
      return { ok: true, state: Attributes as OrgDayCounters };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { ok: false, old: item ? (unmarshall(item) as OrgDayCounters) : undefined };
    }
  },

  async takeBack(target, minute: Window, day, orgFull = {}) {
    const input = { TableName: tableName('usage'), Key: usageKey(scopeOf(target), day) };
    const hints = Object.entries(orgFull).filter(([, hint]) => hint !== undefined);
    const set = hints.length ? ` SET ${hints.map(([name]) => `${name} = :${name}`).join(', ')}` : '';
    const hintValues = Object.fromEntries(hints.map(([name, hint]) => [`:${name}`, hint]));
    try {
      await db.send(new UpdateCommand({
        ...input,
        UpdateExpression: `ADD requests :minus, mc :minus${set}`,
        ConditionExpression: 'mw = :w',
        ExpressionAttributeValues: { ':minus': -1, ':w': minute.id, ...hintValues },
      }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // The minute moved on (its count restarted): only the day still holds this request.
      await db.send(new UpdateCommand({ ...input, UpdateExpression: `ADD requests :minus${set}`, ExpressionAttributeValues: { ':minus': -1, ...hintValues } }));
    }
  },

  async addRefusals(target, day, amount) {
    const item = await addUsage(scopeOf(target), day, 'rateLimited', amount);
    return item.requests === undefined && Number(item.rateLimited) === amount;
  },

  async markSharded(organizationId, day, shards) {
    await db.send(new UpdateCommand({
      TableName: tableName('usage'),
      Key: usageKey({ organizationId }, day),
      UpdateExpression: 'SET shards = :shards, #ttl = if_not_exists(#ttl, :ttl)',
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':shards': shards, ':ttl': usageItemTtl(day) },
    }));
  },
};

/** This environment's memory of the high-volume organizations' shards (it saves writes, never decides). */
const memory = new ShardedMemory();

/** Organizations this environment admitted on the high-volume path: their replies take credits from batches. */
const highVolumeOrgs = new Map<string, number>();
const HIGH_VOLUME_MEMORY_MS = 3_600_000;

export function isHighVolumeOrg(organizationId: string, now: Date = new Date()): boolean {
  const seen = highVolumeOrgs.get(organizationId);
  return seen !== undefined && now.getTime() - seen < HIGH_VOLUME_MEMORY_MS;
}

/** The organization was admitted on the one-item path: its credits go back to the one-item path too. */
export function forgetHighVolume(organizationId: string): void {
  highVolumeOrgs.delete(organizationId);
}


/** The pipeline's admit hook for a high-volume organization (see `admit` in rate-limits.ts). */
export async function admitHighVolume(subject: RateSubject, now: Date, random: () => number = Math.random): Promise<Record<string, string>> {
  if (highVolumeOrgs.size >= 10_000) highVolumeOrgs.clear();
  highVolumeOrgs.set(subject.organizationId, now.getTime());
  let admission: HighVolumeAdmission;
  try {
    admission = await admitSharded(counterStore, memory, subject, now, random);
  } catch (error) {
    if (!(error instanceof CounterContention)) throw error;
    logger.warn('rate limit counter contention', { organizationId: subject.organizationId });
    throw new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' });
  }
  try {
    await flushRefusals(counterStore, memory.refusals, now, random);
  } catch (error) {
    logger.warn('rate-limited requests not counted', { organizationId: subject.organizationId, error: describeError(error) });
  }
  if (!admission.admitted) throw rateLimitExceeded(admission.windows, now);
  await recordUse(subject, admission, now);
  return rateLimitHeaders(admission.windows);
}

/** For tests: forget what this environment knows (a fresh Lambda environment), flushing tallied refusals first. */
export async function resetHighVolumeMemory(now: Date = new Date()): Promise<void> {
  await flushRefusals(counterStore, memory.refusals, now, Math.random, true);
  for (const map of [memory.views, memory.lastSeen, memory.keyMinuteFull, highVolumeOrgs]) map.clear();
}
