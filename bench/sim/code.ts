// The code the limits simulation (bench/limits-sim.ts) drives: this checkout's limiter and credits,
// behind one interface that an older version can also be given through (bench/sim/legacy.ts).
import type { RateSubject } from '../../shared/domain/plans.ts';
import { CreditMemory, drainBatches, holdHighVolume } from '../../shared/limits/credit-batches.ts';
import type { WindowCount } from '../../shared/limits/headers.ts';
import { decide } from '../../shared/limits/limiter.ts';
import { flushRefusals, LimiterMemory } from '../../shared/limits/sharded.ts';
import { rebase, type LimitsVersion } from '../../shared/limits/store.ts';
import { holdTokens, rebaseTokens, releaseTokens, tokenVersionOf, type TokenHold, type TokenTake } from '../../shared/limits/tokens.ts';
import { MAX_KEYS_PER_ORG_DAY } from '../../shared/db/usage.ts';
import type { DynamoModel } from '../dynamo-model.ts';
import type { CallKind, CallPolicy } from './engine.ts';

export { MAX_KEYS_PER_ORG_DAY };

export type Path = 'one-item' | 'sharded';
export interface Decided {
  admitted: boolean;
  windows: WindowCount[];
  path: Path;
}
export type Reserved = 'spent' | 'alreadyCharged' | 'empty';

/** A reply's credit hold: how many credits it holds, or why it holds none (402: empty). */
export type Held = { outcome: 'held'; held: number } | { outcome: 'alreadyCharged' } | { outcome: 'empty' };

/** The store the code under test is given: the model, each method one SDK call of one environment. */
export type SimStore = DynamoModel;

/**
 * The limiter and credits as the simulation drives them: the repository's (currentCode), or an
 * older version's through an adapter (bench/sim/legacy.ts).
 */
export interface CodeUnderTest {
  name: string;
  newMemory(): { limiter: unknown; credits: unknown };
  decide(store: SimStore, memory: { limiter: unknown }, subject: RateSubject, now: Date, random: () => number): Promise<Decided>;
  /** What the pipeline does after a decision (refusal counts). */
  after(store: SimStore, memory: { limiter: unknown }, subject: RateSubject, decided: Decided, now: Date, random: () => number): Promise<void>;
  /** Hold a reply's worst case (`want` credits; at least `least`, lowered to what the balance holds). */
  hold(store: SimStore, memory: { credits: unknown }, path: Path, organizationId: string, requestKey: string, keyId: string, want: number, least: number, now: Date, newBatchId: () => string, random: () => number): Promise<Held>;
  /** Settle a reply's hold to `charged` (0: the reply failed); what was charged. */
  settle(store: SimStore, memory: { credits: unknown }, path: Path, organizationId: string, requestKey: string, keyId: string, charged: number, now: Date): Promise<number>;
  /** Reservations in one partition per organization (before holds). */
  legacyReservations?: boolean;
  /** What PATCH /v1/organizations/{id} does to the counters before copying the limits onto the keys. */
  applyLimits(store: SimStore, organizationId: string, version: LimitsVersion, now: Date): Promise<void>;
  /** The copy onto a key never replaces a newer version (else: an unconditional SET). */
  conditionalCopies: boolean;
  /** Whether requests carry the version of their limits. */
  versions: boolean;
  /** Token windows (absent: the code has none): hold between `atLeast` and `want` tokens, give back unused ones. */
  tokens?: {
    hold(store: SimStore, memory: { limiter: unknown }, subject: RateSubject, want: number, atLeast: number, now: Date, random: () => number): Promise<TokenTake>;
    release(store: SimStore, hold: TokenHold, tokens: number, random: () => number): Promise<TokenHold>;
  };
  /** How the store sends each method's call (shared/db: counter writes without SDK retries); 'sdk' when absent. */
  policies: Record<string, CallPolicy>;
}

/** One-item path bookkeeping the simulation runs as the model's calls (shared/db/usage.ts and credits.ts make them). */
export async function oneItemReserve(store: SimStore, organizationId: string, requestKey: string, keyId: string, now: Date): Promise<Reserved> {
  const day = now.toISOString().slice(0, 10);
  const outcome = await store.reserveToday(organizationId, requestKey, keyId, day, now);
  if (outcome === 'spent') {
    await store.readBalance(organizationId);
    await store.addKeyUsageToday(organizationId, keyId, day, 'credits', 1);
  }
  return outcome;
}

export const currentCode: CodeUnderTest = {
  name: 'this checkout',
  newMemory: () => ({ limiter: new LimiterMemory(), credits: new CreditMemory() }),
  async decide(store, memory, subject, now, random) {
    const decision = await decide(store, memory.limiter as LimiterMemory, subject, now, { maxKeys: MAX_KEYS_PER_ORG_DAY, random });
    return { admitted: decision.admitted, windows: decision.windows, path: decision.path };
  },
  async after(store, memory, subject, decided, now, random) {
    // As admit in shared/db/rate-limits.ts: refusals tallied and flushed on the high-volume path,
    // counted at once (addKeyUsage) on the one-item path.
    if (decided.path === 'sharded') await flushRefusals(store, (memory.limiter as LimiterMemory).refusals, now, random).catch(() => 0);
    else if (!decided.admitted) {
      try {
        await store.addKeyUsageToday(subject.organizationId, subject.keyId, now.toISOString().slice(0, 10), 'rateLimited', 1);
      } catch {
        // logged by admit; the refusal stands
      }
    }
  },
  // As holdCredits and settleCredits in shared/db/credits.ts: from a shared batch on the
  // high-volume path (when the balance is empty, from a batch its read of them all finds holding
  // enough, else 402), else from the balance (after draining the batches once at 402); the rest
  // back into the hold's batch, or to the balance.
  async hold(store, memory, path, organizationId, requestKey, keyId, want, least, now, _newBatchId, random) {
    const credits = memory.credits as CreditMemory;
    const day = now.toISOString().slice(0, 10);
    if (path !== 'sharded') {
      let held = await store.holdFromBalance(organizationId, requestKey, keyId, day, want, least, now);
      if (held === 'empty' && (await drainBatches(store, credits, organizationId, now).catch(() => 0)) > 0) {
        held = await store.holdFromBalance(organizationId, requestKey, keyId, day, want, least, now);
      }
      return typeof held === 'number' ? { outcome: 'held', held } : { outcome: held };
    }
    const fromBalance = async () => {
      const held = await store.holdFromBalance(organizationId, requestKey, keyId, day, want, least, now);
      return held === 'empty' ? ('empty' as const) : held;
    };
    const held = await holdHighVolume(store, credits, organizationId, { requestKey, keyId, credits: want, least }, now, fromBalance, random);
    if (held.outcome === 'held') return { outcome: 'held', held: want };
    if (held.outcome === 'balance') return typeof held.held === 'number' ? { outcome: 'held', held: held.held } : { outcome: held.held };
    if (held.outcome === 'alreadyCharged') return { outcome: 'alreadyCharged' };
    return { outcome: 'empty' };
  },
  async settle(store, _memory, _path, organizationId, requestKey, keyId, charged, now) {
    const settled = await store.settle(organizationId, requestKey, charged, now);
    if (!settled) return 0;
    const charge = Math.min(settled.held, charged);
    if (charge > 0) {
      const day = now.toISOString().slice(0, 10);
      if (settled.intoBatch) await store.countKeyCredits(keyId, day, charge).catch(() => undefined);
      else {
        try {
          await store.addKeyUsageToday(organizationId, keyId, day, 'credits', charge);
        } catch {
          // usage only
        }
      }
    }
    return charge;
  },
  async applyLimits(store, organizationId, version, now) {
    await rebase(store, organizationId, version, now);
    // The token windows too (applyOrgTokenLimits): the simulation applies it whatever was counted.
    const tokens = tokenVersionOf({ orgLimits: version.limits, orgLimitsVersion: version.v });
    if (tokens.limits.perMinute !== undefined || tokens.limits.perDay !== undefined) await rebaseTokens(store, organizationId, tokens, now);
  },
  tokens: {
    hold: (store, memory, subject, want, atLeast, now, random) => holdTokens(store, subject, want, now, { atLeast, random, memory: (memory.limiter as LimiterMemory).tokens }),
    release: (store, hold, tokens, random) => releaseTokens(store, hold, tokens, random),
  },
  conditionalCopies: true,
  versions: true,
  // shared/db/rate-limits.ts: count through sendCounterWrite, takeBack on the counting client (one attempt).
  policies: { count: 'counter', takeBack: 'once', takeTokens: 'counter', returnTokens: 'once', returnToShard: 'once' },
};

/** The kind of SDK call each model method is (everything else on the model is not a DynamoDB call). */
export const CALLS: Record<string, CallKind> = {
  count: 'write',
  takeBack: 'write',
  addRefusals: 'write',
  markSharded: 'write',
  readShards: 'read',
  markFull: 'write',
  peek: 'read',
  freeze: 'write',
  claimChange: 'write',
  claimTokenChange: 'write',
  assign: 'write',
  balance: 'read',
  readBatch: 'read',
  readBatches: 'read',
  claimBatch: 'write',
  claimDrain: 'write',
  drainClaimedUntil: 'read',
  fillBatch: 'transaction',
  take: 'transaction',
  drainBatch: 'transaction',
  openBatch: 'transaction',
  spend: 'transaction',
  closeBatch: 'transaction',
  countKeyCredits: 'write',
  isCharged: 'read',
  openBatches: 'read',
  remaining: 'read',
  addKeyUsageToday: 'write',
  addKeyUsageInMaps: 'write',
  addOrgDayCredits: 'write',
  reserveToday: 'transaction',
  holdFromBalance: 'transaction',
  settle: 'transaction',
  refund: 'transaction',
  readBalance: 'read',
  takeTokens: 'write',
  returnTokens: 'write',
  returnToShard: 'write',
  readTokenShards: 'read',
  markShort: 'write',
};

