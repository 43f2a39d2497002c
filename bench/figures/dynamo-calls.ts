// Figure 1: DynamoDB calls per request, counted by middleware on every DynamoDB client.
import { json } from '../../shared/http/response.ts';
import { FUNCTION_ENTRIES, routeKey } from '../../shared/routes.ts';
import { ApiClient, type CallResult } from '../../test/support/api.ts';
import { byCommand, classify, sequence, type DynamoCounter, type Window } from '../dynamo-counter.ts';
import { moduleUrl, whyNotServing } from '../fixtures.ts';
import { routeOf, SETTLE_MS, WHOAMI, type BenchEnvironment } from './environment.ts';
import { detail, figure, notMeasurable, rows, section } from './report.ts';

const REQUESTS_PER_SCENARIO = 10; // counted requests per scenario (plus 3 warm-up)
const SESSION_HISTORY = 'GET /v1/chat/sessions/{sessionId}/messages';

async function countRequests(counter: DynamoCounter, send: () => Promise<CallResult>, n: number): Promise<Window[]> {
  const windows: Window[] = [];
  for (let i = 0; i < n; i++) {
    const { result, calls, afterResponse } = await counter.window(send, SETTLE_MS);
    windows.push({ status: result.status, calls, afterResponse });
  }
  return windows;
}

interface WindowSummary {
  /** The most common call sequence, and how many requests had it. */
  sequence: string;
  sameIn: number;
  others: string[];
  maxReads: number;
  maxWrites: number;
  maxOther: number;
  maxTotal: number;
  commands: string;
  afterResponse: number;
  read: number;
  write: number;
  capacityRequested: number;
  capacityReturned: number;
}

export function summarizeWindows(windows: readonly Window[]): WindowSummary {
  const sequences = new Map<string, number>();
  for (const w of windows) sequences.set(sequence(w.calls), (sequences.get(sequence(w.calls)) ?? 0) + 1);
  const sorted = [...sequences].sort((a, b) => b[1] - a[1]);
  const classes = windows.map((w) => classify(w.calls));
  const typical = windows.find((w) => sequence(w.calls) === sorted[0]?.[0]) ?? windows[0];
  const calls = windows.flatMap((w) => w.calls);
  const requested = calls.filter((c) => c.capacityRequested);
  return {
    sequence: sorted[0]?.[0] ?? '(none)',
    sameIn: sorted[0]?.[1] ?? 0,
    others: sorted.slice(1).map(([s, n]) => `${n}× ${s}`),
    maxReads: Math.max(0, ...classes.map((c) => c.reads)),
    maxWrites: Math.max(0, ...classes.map((c) => c.writes)),
    maxOther: Math.max(0, ...classes.map((c) => c.other)),
    maxTotal: Math.max(0, ...classes.map((c) => c.total)),
    commands: byCommand(typical?.calls ?? []),
    afterResponse: windows.reduce((sum, w) => sum + w.afterResponse, 0),
    read: requested.reduce((sum, c) => sum + (c.capacity?.read ?? 0), 0) / Math.max(1, windows.length),
    write: requested.reduce((sum, c) => sum + (c.capacity?.write ?? 0), 0) / Math.max(1, windows.length),
    capacityRequested: requested.length,
    capacityReturned: requested.filter((c) => c.capacity !== undefined).length,
  };
}

function describeSummary(label: string, windows: readonly Window[], s: WindowSummary): void {
  detail(`${label}: ${s.sameIn}/${windows.length} requests made ${s.sequence}`);
  for (const other of s.others) detail(`   others: ${other}`);
  detail(`   by command: ${s.commands}; reads ${s.maxReads}, writes ${s.maxWrites}${s.maxOther ? `, other ${s.maxOther}` : ''}` +
    (s.afterResponse ? `; ${s.afterResponse} call(s) started after the response (background work)` : ''));
  if (s.capacityRequested) {
    detail(`   consumed capacity per request: ${+s.read.toFixed(2)} RRU + ${+s.write.toFixed(2)} WRU ` +
      `(returned on ${s.capacityReturned}/${s.capacityRequested} calls)`);
  }
}

/**
 * Replace one route handler of a function module with a no-I/O stub (answering `answer`) while `fn` runs. The pipeline
 * looks its handler up in the module's exported `routes` object on every request, so what is left is
 * exactly the work done before the handler: authentication and rate limiting.
 */
async function withStubbedHandler<T>(
  entry: string,
  key: string,
  answer: unknown,
  fn: () => Promise<T>,
): Promise<{ stubbed: true; value: T } | { stubbed: false; reason: string }> {
  const mod = (await import(moduleUrl(entry))) as { routes?: Record<string, unknown> };
  const routes = mod.routes;
  if (!routes || typeof routes[key] !== 'function') return { stubbed: false, reason: `${entry} exports no routes['${key}']` };
  const original = routes[key];
  try {
    // The stub answers what the real handler answered, so the response still matches the API description.
    routes[key] = async () => json(200, answer);
  } catch (error) {
    return { stubbed: false, reason: `cannot stub ${key}: ${(error as Error).message}` };
  }
  try {
    return { stubbed: true, value: await fn() };
  } finally {
    routes[key] = original;
  }
}

interface Scenario {
  figure: string;
  entry: string;
  key: string;
  /** Set up what the request needs; a string is the reason it cannot be measured yet. */
  prepare?: () => Promise<string | (() => Promise<CallResult>)>;
  send?: () => Promise<CallResult>;
}

const CALLS_TARGET = '1 read + 1 write, no more';

async function measureScenario(counter: DynamoCounter, scenario: Scenario): Promise<Window[] | undefined> {
  section(`1. DynamoDB calls: ${scenario.figure}`);
  let send = scenario.send;
  if (scenario.prepare) {
    const prepared = await scenario.prepare();
    if (typeof prepared === 'string') {
      notMeasurable(`DynamoDB calls, ${scenario.figure}`, CALLS_TARGET, prepared);
      return undefined;
    }
    send = prepared;
  }
  if (!send) throw new Error('scenario without a request');
  counter.returnConsumedCapacity = true;
  try {
    const warmup = await countRequests(counter, send, 3);
    const last = warmup.at(-1) as Window;
    if (last.status !== 200) {
      const reason = await whyNotServing(scenario.entry, await send());
      const seen = sequence(last.calls);
      notMeasurable(`DynamoDB calls, ${scenario.figure}`, CALLS_TARGET, `${reason} (calls made before it failed: ${seen})`);
      return undefined;
    }
    const real = await countRequests(counter, send, REQUESTS_PER_SCENARIO);
    const realSummary = summarizeWindows(real);
    describeSummary('whole request', real, realSummary);
    const answer = (await send()).body;
    const stub = await withStubbedHandler(scenario.entry, scenario.key, answer, () => countRequests(counter, send, REQUESTS_PER_SCENARIO));
    let pre = realSummary;
    let basis = 'whole request';
    if (stub.stubbed) {
      pre = summarizeWindows(stub.value);
      describeSummary('before the handler (handler stubbed)', stub.value, pre);
      basis = 'before handler';
    } else {
      detail(`could not isolate the pre-handler part (${stub.reason}); the figure is the whole request`);
    }
    const bad = [...real, ...(stub.stubbed ? stub.value : [])].filter((w) => w.status !== 200);
    // Exactly one write: none would mean the request is not being counted by rate limiting.
    const within = pre.maxReads <= 1 && pre.maxWrites === 1 && pre.maxOther === 0;
    const notes: string[] = [];
    if (pre.maxWrites === 0) notes.push('no write: rate limiting is not counting this request');
    if (bad.length) notes.push(`${bad.length} request(s) not 200`);
    if (!within) notes.push(`${pre.maxReads} read(s), ${pre.maxWrites} write(s): ${pre.sequence}`);
    rows.push({
      figure: `DynamoDB calls, ${scenario.figure}`,
      measured: `${basis}: ${pre.maxReads} read + ${pre.maxWrites} write (${pre.commands}); whole request: ${realSummary.maxTotal} call(s)`,
      target: CALLS_TARGET,
      status: within && !bad.length ? 'PASS' : 'GAP',
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
    return real;
  } finally {
    counter.returnConsumedCapacity = false;
  }
}


export async function dynamoCallsFigure(env: BenchEnvironment): Promise<void> {
  const { fx, base, counter } = env;
  await figure('DynamoDB calls, whoami secret key', async () => {
    env.results.whoamiWindows = await measureScenario(counter, {
      figure: 'GET /v1/auth/whoami, secret key',
      entry: FUNCTION_ENTRIES.publicApi,
      key: WHOAMI,
      send: () => fx.secretClient.get('/v1/auth/whoami'),
    });
  });
  await figure('DynamoDB calls, whoami publishable key', async () => {
    await measureScenario(counter, {
      figure: 'GET /v1/auth/whoami, publishable key + Origin',
      entry: FUNCTION_ENTRIES.publicApi,
      key: WHOAMI,
      send: () => fx.publishableClient.get('/v1/auth/whoami'),
    });
  });
  await figure('DynamoDB calls, session request', async () => {
    const historyKey = routeKey(routeOf(SESSION_HISTORY));
    await measureScenario(counter, {
      figure: 'GET /v1/chat/sessions/{id}/messages, session token',
      entry: FUNCTION_ENTRIES.chatSession,
      key: historyKey,
      prepare: async () => {
        const created = await fx.secretClient.post('/v1/chat/sessions', {});
        if (created.status !== 201) return `POST /v1/chat/sessions: ${await whyNotServing(FUNCTION_ENTRIES.publicApi, created)}`;
        const { sessionId, token } = created.body as { sessionId: string; token: string };
        const client = new ApiClient(base, { Authorization: `Bearer ${token}` });
        return () => client.get(`/v1/chat/sessions/${encodeURIComponent(sessionId)}/messages`);
      },
    });
  });
}
