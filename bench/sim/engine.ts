// The machinery of the limits simulation (bench/limits-sim.ts): a seeded discrete-event clock on
// which many requests run at once, DynamoDB partitions with their throughput, and the SDK's retry
// policy, around the item model of bench/dynamo-model.ts.
//
// Interleaving: every store call the decision code makes (one DynamoDB call) becomes an event at
// the time it reaches DynamoDB (its sender's time plus a network leg); at that time it is applied
// to the items at once, so a conditional write sees the exact item, and its answer comes back a
// leg later. Between two calls of one request, any number of other requests' calls land: reads
// and conditional writes of different environments race in a seeded order. Events closer than one
// leg apart cannot depend on each other, so they run as one batch and the continuations they
// resolve run after it (one setImmediate per batch).
import { AsyncLocalStorage } from 'node:async_hooks';
import { Throttled, type ThroughputMeter } from '../dynamo-model.ts';

/** Who makes calls: a Lambda environment, or the management function applying a limit change. */
export interface Actor {
  /** Simulated time (ms) this actor's code is at: when its last answer came back, or its timer fired. */
  t: number;
  /** The SDK client's retry capacity (standard mode: 500 tokens per client). */
  retryCapacity: number;
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/** Seeded discrete-event clock. */
export class Scheduler {
  now = 0;
  /** Events before this time have run or are running: code resumed after a batch schedules nothing before it. */
  horizon = 0;
  private readonly heap: Event[] = [];
  private seq = 0;
  readonly context = new AsyncLocalStorage<Actor>();
  readonly quantumMs: number;

  constructor(quantumMs: number) {
    this.quantumMs = quantumMs;
  }

  /** True while an event runs: what it schedules at once may fall within the batch (it is causal). */
  private inEvent = false;

  at(time: number, run: () => void): void {
    const event = { at: Math.max(time, this.inEvent ? this.now : this.horizon), seq: this.seq++, run };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent] as Event)) break;
      heap[i] = heap[parent] as Event;
      i = parent;
    }
    heap[i] = event;
  }

  private pop(): Event {
    const heap = this.heap;
    const top = heap[0] as Event;
    const last = heap.pop() as Event;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let best = last;
        if (l < heap.length && before(heap[l] as Event, best)) {
          m = l;
          best = heap[l] as Event;
        }
        if (r < heap.length && before(heap[r] as Event, best)) m = r;
        if (m === i) break;
        heap[i] = heap[m] as Event;
        i = m;
      }
      heap[i] = last;
    }
    return top;
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Run events up to `end` (all of them when it is Infinity), letting the code they resume run between batches. */
  async run(end = Infinity): Promise<void> {
    while (this.heap.length > 0 && (this.heap[0] as Event).at <= end) {
      const batchEnd = (this.heap[0] as Event).at + this.quantumMs;
      this.horizon = batchEnd;
      while (this.heap.length > 0 && (this.heap[0] as Event).at < batchEnd) {
        const event = this.pop();
        this.now = event.at;
        this.inEvent = true;
        try {
          event.run();
        } finally {
          this.inEvent = false;
        }
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * While `body` runs, a `setTimeout` made by code running for an actor (the limiter's waits for a
   * limit change being applied) fires on this clock, not the machine's.
   */
  async withSimulatedTimers<T>(body: () => Promise<T>): Promise<T> {
    const real = globalThis.setTimeout;
    const fake = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const actor = this.context.getStore();
      if (!actor) return real(fn, ms, ...args);
      const at = Math.max(actor.t, this.horizon) + (ms ?? 0);
      this.at(at, () => {
        actor.t = Math.max(actor.t, at);
        fn(...args);
      });
      return { ref: () => undefined, unref: () => undefined, hasRef: () => false, refresh: () => undefined, [Symbol.toPrimitive]: () => 0 };
    }) as unknown as typeof setTimeout;
    globalThis.setTimeout = fake;
    try {
      return await body();
    } finally {
      globalThis.setTimeout = real;
    }
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** mulberry32: small, seeded, good enough for arrival times and choices. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const PARTITION_WCU_PER_SECOND = 1_000;
export const PARTITION_RCU_PER_SECOND = 3_000;

/** The partition key of a model item key (`pk|sk`; the organizations table is keyed by id alone). */
export function partitionOf(key: string): string {
  if (key.startsWith('organizations|')) return key;
  const bar = key.indexOf('|');
  return bar < 0 ? key : key.slice(0, bar);
}

interface Load {
  second: number;
  wcu: number;
  rcu: number;
  /** WCU sent, throttled attempts included. */
  offered: number;
}

export interface PartitionPeak {
  partition: string;
  /** Highest WCU sent to the partition in one second (throttled attempts included). */
  offered: number;
  /** Highest WCU it took in one second. */
  wcu: number;
  rcu: number;
}

/**
 * DynamoDB's partitions: the items that share a partition key share 1,000 WCU and 3,000 RCU per
 * second; a call that would exceed either is throttled (not applied, not billed).
 */
export class Partitions implements ThroughputMeter {
  private readonly loads = new Map<string, Load>();
  private readonly peaks = new Map<string, { offered: number; wcu: number; rcu: number }>();
  throttled = 0;
  private readonly clock: { now: number };

  constructor(clock: { now: number }) {
    this.clock = clock;
  }

  private load(partition: string): Load {
    const second = Math.floor(this.clock.now / 1000);
    let load = this.loads.get(partition);
    if (!load || load.second !== second) {
      if (load) this.close(partition, load);
      load = { second, wcu: 0, rcu: 0, offered: 0 };
      this.loads.set(partition, load);
    }
    return load;
  }

  private close(partition: string, load: Load): void {
    const peak = this.peaks.get(partition) ?? { offered: 0, wcu: 0, rcu: 0 };
    peak.offered = Math.max(peak.offered, load.offered);
    peak.wcu = Math.max(peak.wcu, load.wcu);
    peak.rcu = Math.max(peak.rcu, load.rcu);
    this.peaks.set(partition, peak);
  }

  private byPartition(keys: string[], units: number[]): Map<string, number> {
    const sums = new Map<string, number>();
    keys.forEach((key, i) => {
      const p = partitionOf(key);
      sums.set(p, (sums.get(p) ?? 0) + (units[i] as number));
    });
    return sums;
  }

  admitWrite(keys: string[], least: number[]): void {
    const sums = this.byPartition(keys, least);
    let over: string | undefined;
    for (const [p, units] of sums) if (this.load(p).wcu + units > PARTITION_WCU_PER_SECOND) over = p;
    if (over === undefined) return;
    for (const [p, units] of sums) this.load(p).offered += units;
    this.throttled += 1;
    throw new Throttled(over);
  }

  wrote(keys: string[], cost: number[]): void {
    for (const [p, units] of this.byPartition(keys, cost)) {
      const load = this.load(p);
      load.wcu += units;
      load.offered += units;
    }
  }

  read(keys: string[], rcu: number): void {
    const p = partitionOf(keys[0] ?? 'none');
    const load = this.load(p);
    if (load.rcu + rcu > PARTITION_RCU_PER_SECOND) {
      this.throttled += 1;
      throw new Throttled(p);
    }
    load.rcu += rcu;
  }

  /** Every partition's busiest second, busiest first. */
  hottest(): PartitionPeak[] {
    for (const [p, load] of this.loads) this.close(p, load);
    return [...this.peaks].map(([partition, peak]) => ({ partition, ...peak })).sort((a, b) => b.offered - a.offered);
  }
}

/**
 * The SDK's retry policy for the project's DynamoDB clients (shared/db/config.ts: maxAttempts 2,
 * standard mode): throttling and transient errors (timeouts, 5xx) are retried once, after a full
 * jitter of up to 1,000 ms (throttling) or 50 ms (transient), while the client's retry capacity (500,
 * 5 per throttling retry, 14 per transient one, back 1 per success) lasts; anything else is thrown.
 * A call whose answer is lost (it was applied, but no reply came within requestTimeout, 5 s) is
 * retried like any timeout: the retry is applied again.
 */
export const SDK = {
  maxAttempts: 2,
  requestTimeoutMs: 5_000,
  initialCapacity: 500,
  throttlingBaseMs: 1_000,
  transientBaseMs: 50,
  throttlingCost: 5,
  transientCost: 14,
  maxDelayMs: 20_000,
} as const;

const THROTTLING = new Set(['ThrottlingException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'LimitExceededException', 'TransactionInProgressException']);
const TRANSIENT = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

export type CallKind = 'read' | 'write' | 'transaction';

/**
 * How a store method's call is sent: by the SDK with its retries ('sdk'); once, without retries
 * ('once': the counting client, maxAttempts 1); or as shared/db/rate-limits.ts sendCounterWrite
 * sends a counter write ('counter': no SDK retry; a throttled attempt, never applied, is sent
 * again after 25 then 100 ms (jittered); after a lost answer, one consistent read tells whether the
 * write was applied and is the item's latest, else the error stands).
 */
export type CallPolicy = 'sdk' | 'once' | 'counter';

const NOT_APPLIED_WAITS_MS = [25, 100] as const;

export interface NetworkOptions {
  /** One way, ms: at least `quantumMs`. */
  leg: () => number;
  /** Share of calls applied by DynamoDB whose answer never arrives (the SDK times out and retries). */
  lostAnswers: number;
}

export class TimeoutError extends Error {
  constructor() {
    super('Request timed out');
    this.name = 'TimeoutError';
  }
}

export interface CallStats {
  calls: number;
  lostAnswers: number;
  retries: number;
  /** Retries of a write whose first attempt had been applied (its answer lost). */
  retriedApplied: number;
  /** Counter writes applied whose answer was lost and whose read could not confirm them (a 503 that counted). */
  unresolved: number;
  /** Calls sent once ('once') that failed. */
  failedOnce: number;
}

/** Sends calls for actors: through the network, the partitions and the SDK's retries. */
export class Network {
  readonly stats: CallStats = { calls: 0, lostAnswers: 0, retries: 0, retriedApplied: 0, unresolved: 0, failedOnce: 0 };
  /** Per item, the last counter write applied to it (its `lt` token). */
  readonly latestWrite = new Map<string, object>();
  private readonly scheduler: Scheduler;
  private readonly random: () => number;
  private readonly options: NetworkOptions;

  constructor(scheduler: Scheduler, random: () => number, options: NetworkOptions) {
    this.scheduler = scheduler;
    this.random = random;
    this.options = options;
  }

  /** One attempt: `op` applied when it reaches DynamoDB; the time it was applied, its result or error. */
  private attempt<T>(actor: Actor, op: () => T | Promise<T>, kind: CallKind) {
    this.stats.calls += 1;
    let arrive = actor.t;
    for (let i = 0; i < (kind === 'transaction' ? 2 : 1); i++) arrive += this.options.leg();
    return new Promise<{ ok: true; value: T; at: number } | { ok: false; error: unknown; at: number }>((resolve) => {
      this.scheduler.at(arrive, () => {
        const at = this.scheduler.now;
        let result: T | Promise<T>;
        try {
          result = op();
        } catch (error) {
          resolve({ ok: false, error, at });
          return;
        }
        Promise.resolve(result).then(
          (value) => resolve({ ok: true, value, at }),
          (error: unknown) => resolve({ ok: false, error, at }),
        );
      });
    });
  }

  /**
   * A counter write as sendCounterWrite sends it. `latest` tells, at the time of the consistent
   * read, whether this write is still the item's latest (the `lt` token).
   */
  private async counterWrite<T>(actor: Actor, op: () => T | Promise<T>, latest: () => boolean): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const sent = actor.t;
      const outcome = await this.attempt(actor, op, 'write');
      if (outcome.ok && this.options.lostAnswers > 0 && this.random() < this.options.lostAnswers) {
        this.stats.lostAnswers += 1;
        actor.t = Math.max(actor.t, sent + SDK.requestTimeoutMs);
        // One consistent read: applied and still the item's latest write?
        const read = await this.attempt(actor, latest, 'read');
        actor.t = Math.max(actor.t, read.at + this.options.leg());
        if (read.ok && read.value) return outcome.value;
        this.stats.unresolved += 1;
        throw new TimeoutError();
      }
      actor.t = Math.max(actor.t, outcome.at + this.options.leg());
      if (outcome.ok) return outcome.value;
      const name = (outcome.error as { name?: string }).name ?? '';
      const wait = NOT_APPLIED_WAITS_MS[attempt];
      if (!THROTTLING.has(name) || wait === undefined) throw outcome.error;
      this.stats.retries += 1;
      actor.t += wait * (0.5 + this.random());
    }
  }

  /** One SDK call: `op` is applied at the time the attempt reaches DynamoDB. */
  async call<T>(actor: Actor, op: () => T | Promise<T>, kind: CallKind, policy: CallPolicy = 'sdk', latest?: () => boolean): Promise<T> {
    if (policy === 'counter' && latest) return this.counterWrite(actor, op, latest);
    const maxAttempts = policy === 'once' ? 1 : SDK.maxAttempts;
    let retryCost: number | undefined;
    for (let attempt = 0; ; attempt++) {
      const sent = actor.t;
      const outcome = await this.attempt(actor, op, kind);
      let error: unknown;
      if (outcome.ok && this.options.lostAnswers > 0 && this.random() < this.options.lostAnswers) {
        this.stats.lostAnswers += 1;
        error = new TimeoutError();
        actor.t = Math.max(actor.t, sent + SDK.requestTimeoutMs);
      } else {
        actor.t = Math.max(actor.t, outcome.at + this.options.leg());
        if (!outcome.ok) error = outcome.error;
      }
      if (error === undefined) {
        actor.retryCapacity = Math.min(SDK.initialCapacity, actor.retryCapacity + (retryCost ?? 1));
        return (outcome as { value: T }).value;
      }
      const name = (error as { name?: string }).name ?? '';
      const type = THROTTLING.has(name) ? 'throttling' : TRANSIENT.has(name) ? 'transient' : undefined;
      const cost = type === 'throttling' ? SDK.throttlingCost : SDK.transientCost;
      if (type === undefined || attempt + 1 >= maxAttempts || actor.retryCapacity < cost) {
        if (policy === 'once') this.stats.failedOnce += 1;
        throw error;
      }
      actor.retryCapacity -= cost;
      retryCost = cost;
      this.stats.retries += 1;
      if (outcome.ok && kind !== 'read') this.stats.retriedApplied += 1;
      const base = type === 'throttling' ? SDK.throttlingBaseMs : SDK.transientBaseMs;
      actor.t += Math.floor(this.random() * Math.min(base * 2 ** attempt, SDK.maxDelayMs));
    }
  }
}

/**
 * `target` as seen by one actor: each of `methods` becomes one SDK call through `network` (reads
 * as reads, `transactions` as transactions), made at the actor's time.
 */
export function storeFor<T extends object>(
  target: T,
  network: Network,
  actor: Actor,
  kinds: Record<string, CallKind>,
  policies: Record<string, CallPolicy> = {},
  /** For 'counter' calls: the item a call writes, and that item as it is now (a write replaces it). */
  items?: { of: (method: string, args: unknown[]) => string; get: (key: string) => unknown },
): T {
  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      const kind = typeof prop === 'string' ? kinds[prop] : undefined;
      if (typeof value !== 'function' || kind === undefined) return value;
      let wrapped = cache.get(prop);
      if (!wrapped) {
        const fn = value as (...args: unknown[]) => unknown;
        const policy = policies[prop as string] ?? 'sdk';
        // An error says which call it ended (the simulation tallies 503s by call).
        const named = (error: unknown) => {
          if (error !== null && typeof error === 'object' && !('call' in error)) Object.defineProperty(error, 'call', { value: prop });
          throw error;
        };
        wrapped = (...args: unknown[]) => {
          if (policy !== 'counter' || !items) return network.call(actor, () => fn.apply(obj, args), kind, policy === 'counter' ? 'once' : policy).catch(named);
          // The write's own `lt` token: set on the item when the write changes it.
          const item = items.of(prop as string, args);
          const token = {};
          const op = () => {
            const before = items.get(item);
            const result = fn.apply(obj, args);
            if (items.get(item) !== before) network.latestWrite.set(item, token);
            return result;
          };
          return network.call(actor, op, kind, 'counter', () => network.latestWrite.get(item) === token).catch(named);
        };
        cache.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}
