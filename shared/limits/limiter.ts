// The limiter: one decision per request, on the path the organization's limits call for, against
// one store interface (DynamoDB in production and tests, a model of it in the simulation).
// Below SHARDED_FROM_PER_MINUTE the organization's day item decides (shared/limits/one-item.ts);
// from it, exact shares on shard items (shared/limits/sharded.ts). docs/limits.md has the design.
import type { RateSubject } from '../domain/plans.ts';
import { admitOneItem, type OnBookkeepingError } from './one-item.ts';
import { admitSharded, isHighVolume, type LimiterMemory, type Random } from './sharded.ts';
import { StaleLimits, versionOf, type Admission, type CounterStore } from './store.ts';

export type Path = 'one-item' | 'sharded';

export interface Decision extends Admission {
  path: Path;
}

export interface DecideOptions {
  /** Keys counted in the organization's day item per day (the one-item path's bound). */
  maxKeys: number;
  /** Which shard to try (Math.random in production; seeded in the simulation). */
  random: Random;
  onError?: OnBookkeepingError;
}

/** The path an organization's limits put it on. */
export function pathOf(subject: Pick<RateSubject, 'orgLimits'>): Path {
  return isHighVolume(subject.orgLimits) ? 'sharded' : 'one-item';
}

/** Decide one request: admitted (counted in every window that applies) or refused (counted in none). */
export async function decide(store: CounterStore, memory: LimiterMemory, subject: RateSubject, now: Date, options: DecideOptions): Promise<Decision> {
  // A newer version of the organization's limits this environment has seen wins over the key's copy.
  const known = memory.orgVersions.get(subject.organizationId);
  if (known && known.v > (subject.orgLimitsVersion ?? 0)) subject = { ...subject, orgLimits: { ...subject.orgLimits, ...known.limits }, orgLimitsVersion: known.v };
  else if (subject.orgLimitsVersion !== undefined) memory.noteVersion(subject.organizationId, versionOf(subject));
  for (let decisions = 1; ; decisions++) {
    const path = pathOf(subject);
    try {
      if (path === 'sharded') return { path, ...(await admitSharded(store, memory, subject, now, options.random)) };
      return { path, ...(await admitOneItem(store, memory, subject, now, options.maxKeys, options.onError)) };
    } catch (error) {
      // The key's copy of the organization's limits is older than what its counters count under:
      // decide again under those (which may be the other path), however far the copy lags.
      if (!(error instanceof StaleLimits) || decisions >= 3 || error.version.v <= (subject.orgLimitsVersion ?? 0)) throw error;
      memory.noteVersion(subject.organizationId, error.version);
      subject = { ...subject, orgLimits: { ...subject.orgLimits, ...error.version.limits }, orgLimitsVersion: error.version.v };
    }
  }
}
