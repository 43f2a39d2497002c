// Figure 2: the authorizer's verify time against one bare GetItem on the same DynamoDB Local, table,
// item and client settings; and the authorizer's own work with its GetItem answered in-process.
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { dynamoClientConfig } from '../../shared/db/config.ts';
import { tableName } from '../../shared/tables.ts';
import { elapsedMs, ms, summarize, us } from '../stats.ts';
import type { BenchEnvironment } from './environment.ts';
import { detail, figure, rows, section } from './report.ts';

const TIMING_WARMUP = 150; // warm-up calls of each kind
const TIMING_BATCH = 10; // calls per batch; small batches rotating authorizer / bare GetItem / replayed GetItem
const TIMING_BATCHES = 100; // -> 1,000 timed calls of each kind
const RATIO_TARGET = 1.25;

/** The parameters of a GetItem input besides table and key, for the log. */
function describeInput(input: Record<string, unknown>): string {
  return Object.entries(input)
    .filter(([k]) => k !== 'TableName' && k !== 'Key')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

/** Run `fn` while `client` answers every call in-process with `item` (a GetItem output), then restore it. */
async function timeWithStubbedRead<T>(
  client: { middlewareStack: { add(mw: unknown, options: Record<string, unknown>): void; remove(name: string): boolean } },
  item: unknown,
  fn: () => Promise<T>,
): Promise<T> {
  const name = 'keygateBenchStubbedRead';
  client.middlewareStack.add(() => async () => ({ output: { Item: item, $metadata: {} }, response: {} }), {
    step: 'initialize',
    priority: 'low',
    name,
  });
  try {
    return await fn();
  } finally {
    client.middlewareStack.remove(name);
  }
}

export async function authorizerVerifyFigure(env: BenchEnvironment): Promise<void> {
  const { fx, counter, authorize, authEvent } = env;
  const { keyLookupClient } = await import('../../shared/db/key-lookup.ts');
  await figure('authorizer verify time', async () => {
    section('2. Authorizer verify time vs one bare GetItem (same DynamoDB Local, table, item, client settings)');
    const event = authEvent(fx.secret.key);
    const first = await authorize(event);
    const effect = first.policyDocument?.Statement?.[0]?.Effect;
    if (effect !== 'Allow') throw new Error(`the authorizer did not allow the bench's secret key (${effect})`);
    const bare = new DynamoDBClient(dynamoClientConfig());
    counter.instrument(bare, 'bareClient');
    const input = { TableName: tableName('apiKeys'), Key: { id: { S: fx.secret.id } }, ConsistentRead: true };
    const bareGet = async () => {
      const { Item } = await bare.send(new GetItemCommand(input));
      if (!Item) throw new Error('bare GetItem found no item');
    };
    // The authorizer's own GetItem input, captured by the middleware, replayed on the bare client:
    // tells the cost of what the authorizer asks DynamoDB for from the cost of its own work.
    const seen = await counter.window(() => authorize(event));
    const authorizerInput = seen.calls.find((c) => c.client === 'keyLookupClient')?.input;
    if (!authorizerInput) throw new Error('the authorizer made no GetItem on keyLookupClient');
    const replayInput = structuredClone(authorizerInput) as unknown as ConstructorParameters<typeof GetItemCommand>[0];
    const replay = async () => {
      await bare.send(new GetItemCommand(replayInput));
    };
    const verify = async () => {
      await authorize(event);
    };
    const kinds: { fn: () => Promise<void>; times: number[] }[] = [
      { fn: verify, times: [] },
      { fn: bareGet, times: [] },
      { fn: replay, times: [] },
    ];
    const batch = async (fn: () => Promise<void>, into: number[] | undefined, n: number) => {
      for (let i = 0; i < n; i++) {
        const start = process.hrtime.bigint();
        await fn();
        into?.push(elapsedMs(start));
      }
    };
    for (let done = 0; done < TIMING_WARMUP; done += TIMING_BATCH) {
      for (const kind of kinds) await batch(kind.fn, undefined, TIMING_BATCH);
    }
    const mark = counter.mark();
    for (let b = 0; b < TIMING_BATCHES; b++) {
      // Rotate which goes first, so drift and noise land on all alike.
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(b + k) % kinds.length] as (typeof kinds)[number];
        await batch(kind.fn, kind.times, TIMING_BATCH);
      }
    }
    const timedCalls = counter.since(mark);
    const [authTimes, bareTimes, replayTimes] = kinds.map((k) => k.times) as [number[], number[], number[]];
    const a = summarize(authTimes);
    const g = summarize(bareTimes);
    const p = summarize(replayTimes);
    env.results.authorizerSummary = a;
    const perVerify = timedCalls.filter((c) => c.client === 'keyLookupClient').length / a.n;
    detail(`authorizer handler            n=${a.n}  p50 ${ms(a.p50, 3)}  p99 ${ms(a.p99, 3)}  mean ${ms(a.mean, 3)}  (${perVerify.toFixed(2)} DynamoDB calls per verify)`);
    detail(`bare GetItem (consistent)     n=${g.n}  p50 ${ms(g.p50, 3)}  p99 ${ms(g.p99, 3)}  mean ${ms(g.mean, 3)}`);
    detail(`authorizer's GetItem replayed n=${p.n}  p50 ${ms(p.p50, 3)}  p99 ${ms(p.p99, 3)}  mean ${ms(p.mean, 3)}  (its input: ${describeInput(authorizerInput)})`);
    detail(`authorizer - bare at p50: ${us(a.p50 - g.p50)} = what it asks DynamoDB for (replayed - bare) ${us(p.p50 - g.p50)} + its own work (authorizer - replayed) ${us(a.p50 - p.p50)}`);
    // The authorizer's own work alone: its GetItem answered in-process by a middleware with the
    // item DynamoDB returned, so no serialization, HTTP or DynamoDB time is in it.
    const { Item: storedItem } = await bare.send(new GetItemCommand(replayInput));
    const own = await timeWithStubbedRead(keyLookupClient, storedItem, async () => {
      const times: number[] = [];
      for (let i = 0; i < 2_200; i++) {
        const start = process.hrtime.bigint();
        await authorize(event);
        if (i >= 200) times.push(elapsedMs(start));
      }
      return summarize(times);
    });
    bare.destroy();
    detail(`authorizer's own work, its GetItem answered in-process (n=${own.n}): p50 ${us(own.p50)}, p99 ${us(own.p99)}`);
    const r = a.p50 / g.p50;
    rows.push({
      figure: 'authorizer verify p50 / bare GetItem p50',
      measured: `${ms(a.p50, 3)} / ${ms(g.p50, 3)} = ${r.toFixed(3)}`,
      target: `<= ${RATIO_TARGET}`,
      status: r <= RATIO_TARGET ? 'PASS' : 'GAP',
      ...(r > RATIO_TARGET
        ? { note: `+${us(a.p50 - g.p50)}: ${us(p.p50 - g.p50)} in its GetItem's extra parameters, ${us(a.p50 - p.p50)} around it (own work alone: ${us(own.p50)})` }
        : {}),
    });
    rows.push({ figure: 'authorizer verify p99 (bare GetItem p99)', measured: `${ms(a.p99, 3)} (${ms(g.p99, 3)})`, target: '-', status: 'info' });
  });
}
