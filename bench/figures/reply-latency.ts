// Figure: what Keygate adds to a reply's time to first delta, through the local runtime. An
// OpenAI-compatible upstream records when each request reached it and when it wrote its first
// content delta (its own time to first byte); the caller times its POST of a session message to the
// first `message.delta` event it reads. Both run in a worker thread (reply-latency-peer.ts), off the
// event loop Keygate runs on, as a real caller and upstream are. The difference is Keygate's part:
// session token, rate limit, history, credit hold, the upstream call's setup, and relaying the delta.
// Then the DynamoDB calls of one reply (a session message and a one-shot message), counted by the
// middleware.
import { Worker } from 'node:worker_threads';
import { UPSTREAMS_ENV } from '../../shared/chat/upstreams.ts';
import { ApiClient, type CallResult } from '../../test/support/api.ts';
import { classify, describeCall, sequence, type DynamoCall, type Window } from '../dynamo-counter.ts';
import { ms, summarize } from '../stats.ts';
import { SETTLE_MS, type BenchEnvironment } from './environment.ts';
import { detail, figure, rows, section } from './report.ts';
import { summarizeWindows } from './dynamo-calls.ts';

const REPLIES = 200;
const WARMUP = 10;
/** Replies per session: the history a reply reads stays like a real conversation's. */
const PER_SESSION = 20;
/** The upstream's own time to first byte (a model thinking), subtracted from what the client sees. */
const THINK_MS = 10;
const TARGET = 'p50 <= 5 ms added';
const COUNTED = 10;
/** The DynamoDB calls of one reply before the latency work (a reply must not make more). */
const CALLS_BEFORE = { session: 9, oneShot: 8 };

interface UpstreamTiming {
  received: number;
  firstByte: number;
}

type PeerReply = { id: number; status: number; startedAt: number; firstDeltaAt: number; upstream: UpstreamTiming[] } | { id: number; error: string };

/**
 * The caller and the upstream, in a worker thread (reply-latency-peer.ts). Its times are epoch ms;
 * `reply` answers them in this thread's performance.now() frame, as the DynamoDB counter records.
 */
async function startPeer(): Promise<{
  baseUrl: string;
  reply(base: string, sessionId: string, token: string): Promise<{ status: number; startedAt: number; firstDeltaAt: number; upstream: UpstreamTiming[] }>;
  close(): Promise<void>;
}> {
  const worker = new Worker(new URL('./reply-latency-peer.ts', import.meta.url), { workerData: { thinkMs: THINK_MS } });
  const waiting = new Map<number, (answer: PeerReply) => void>();
  let next = 0;
  const baseUrl = await new Promise<string>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: { baseUrl: string }) => resolve(m.baseUrl));
  });
  worker.on('message', (m: PeerReply) => {
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  const local = (epochMs: number) => epochMs - performance.timeOrigin;
  return {
    baseUrl,
    async reply(base, sessionId, token) {
      const id = next++;
      const answer = await new Promise<PeerReply>((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ id, base, sessionId, token });
      });
      if ('error' in answer) throw new Error(`bench caller: ${answer.error}`);
      return {
        status: answer.status,
        startedAt: local(answer.startedAt),
        firstDeltaAt: local(answer.firstDeltaAt),
        upstream: answer.upstream.map((t) => ({ received: local(t.received), firstByte: local(t.firstByte) })),
      };
    },
    async close() {
      worker.postMessage('close');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 2_000);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/** How many of `calls` run one after the other at most (the longest chain of calls each starting after the previous ended). */
export function sequentialSteps(calls: readonly DynamoCall[]): number {
  const done = calls.filter((c) => c.end !== undefined).sort((x, y) => x.end! - y.end!);
  const depth: number[] = [];
  done.forEach((call, i) => {
    let best = 0;
    for (let j = 0; j < i; j++) if (done[j]!.end! <= call.start) best = Math.max(best, depth[j]!);
    depth.push(best + 1);
  });
  return Math.max(0, ...depth);
}

/** Milliseconds spent in DynamoDB calls that ended before `until` (overlapping calls counted once). */
function waited(calls: readonly DynamoCall[], until: number): number {
  let total = 0;
  let reached = -Infinity;
  for (const call of [...calls].filter((c) => c.end !== undefined && c.end <= until).sort((x, y) => x.start - y.start)) {
    const from = Math.max(call.start, reached);
    if (call.end! > from) total += call.end! - from;
    reached = Math.max(reached, call.end!);
  }
  return total;
}

export async function replyLatencyFigure(env: BenchEnvironment): Promise<void> {
  await figure('Reply: added time to first delta', async () => {
    section('Reply latency: time to first delta through the local runtime, less the upstream\'s own time to first byte');
    const peer = await startPeer();
    const saved = process.env[UPSTREAMS_ENV];
    process.env[UPSTREAMS_ENV] = JSON.stringify({ echo: { kind: 'echo' }, bench: { kind: 'openai', baseUrl: peer.baseUrl, models: ['bench-model'] } });
    try {
      const { fx, base, counter } = env;
      const assistant = await fx.owner.post(`/v1/organizations/${fx.orgId}/assistants`, { name: `bench-${Date.now()}`, upstream: 'bench' });
      if (assistant.status !== 201) throw new Error(`create assistant: ${assistant.status} ${assistant.text.slice(0, 200)}`);
      const assistantId = (assistant.body as { id: string }).id;
      const credits = await fx.operator.post(`/v1/organizations/${fx.orgId}/credits`, { amount: REPLIES + WARMUP + 4 * COUNTED + 10 });
      if (credits.status !== 200 && credits.status !== 201) throw new Error(`add credits: ${credits.status} ${credits.text.slice(0, 200)}`);

      let session: { sessionId: string; token: string } | undefined;
      let used = 0;
      const nextSession = async () => {
        if (session && used < PER_SESSION) return session;
        const created = await fx.secretClient.post('/v1/chat/sessions', { assistant: assistantId });
        if (created.status !== 201) throw new Error(`create session: ${created.status} ${created.text.slice(0, 200)}`);
        session = created.body as { sessionId: string; token: string };
        used = 0;
        return session;
      };
      const reply = async () => {
        const s = await nextSession();
        used++;
        return peer.reply(base, s.sessionId, s.token);
      };

      for (let i = 0; i < WARMUP; i++) await reply();
      const added: number[] = [];
      const seen: number[] = [];
      const own: number[] = [];
      const dynamo: number[] = [];
      const before: DynamoCall[][] = [];
      for (let i = 0; i < REPLIES; i++) {
        const mark = counter.mark();
        const r = await reply();
        const timing = r.upstream[0];
        if (r.status !== 200 || !timing || r.upstream.length !== 1) throw new Error(`reply ${i}: status ${r.status}, ${r.upstream.length} upstream call(s)`);
        const upstreamMs = timing.firstByte - timing.received;
        const firstDeltaMs = r.firstDeltaAt - r.startedAt;
        seen.push(firstDeltaMs);
        own.push(upstreamMs);
        added.push(firstDeltaMs - upstreamMs);
        // The reply's own calls (not a new session's, created before it).
        const calls = counter.since(mark).filter((c) => c.start >= r.startedAt);
        dynamo.push(waited(calls, timing.received));
        before.push(calls.filter((c) => c.start < timing.received));
      }
      const a = summarize(added);
      const c = summarize(seen);
      const u = summarize(own);
      const d = summarize(dynamo);
      const rest = summarize(added.map((x, i) => x - dynamo[i]!));
      detail(`${REPLIES} session messages (after ${WARMUP} warm-up), sequential, ${PER_SESSION} per session, upstream think time ${THINK_MS} ms;`);
      detail('   the caller and the upstream in a worker thread, off Keygate\'s event loop');
      detail(`client, POST to first delta:          p50 ${ms(c.p50)}  p99 ${ms(c.p99)}`);
      detail(`upstream's own time to first byte:     p50 ${ms(u.p50)}  p99 ${ms(u.p99)}`);
      detail(`added by Keygate (per reply, the difference): p50 ${ms(a.p50)}  p99 ${ms(a.p99)}  mean ${ms(a.mean)}  max ${ms(a.max)}`);
      detail(`   of which waiting for DynamoDB Local before the upstream call: p50 ${ms(d.p50)}  p99 ${ms(d.p99)}`);
      detail(`   the rest (Keygate's own work, HTTP hops, relaying the delta): p50 ${ms(rest.p50)}  p99 ${ms(rest.p99)}`);
      const shapes = new Map<string, number>();
      for (const calls of before) {
        const shape = `${calls.length} call(s) in ${sequentialSteps(calls)} sequential step(s): ${sequence(calls)}`;
        shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
      }
      for (const [shape, n] of [...shapes].sort((x, y) => y[1] - x[1]).slice(0, 2)) detail(`   before the upstream call (${n}/${REPLIES}): ${shape}`);
      const durations = new Map<string, number[]>();
      for (const call of before.flat()) if (call.end !== undefined) durations.set(describeCall(call), [...(durations.get(describeCall(call)) ?? []), call.end - call.start]);
      detail(`   each of them, p50: ${[...durations].map(([name, times]) => `${name} ${ms(summarize(times).p50)}`).join(', ')}`);
      rows.push({
        figure: 'Reply: time to first delta added by Keygate (local runtime, session message)',
        measured: `p50 ${ms(a.p50)}, p99 ${ms(a.p99)} (n=${REPLIES}); without the DynamoDB wait p50 ${ms(rest.p50)}, p99 ${ms(rest.p99)}`,
        target: TARGET,
        status: a.p50 <= 5 ? 'PASS' : 'GAP',
        ...(a.p50 > 5
          ? { note: `${ms(a.p50 - 5)} over at p50: the session read, admission and the credit hold (one after the other, as they must be) wait p50 ${ms(d.p50)} on DynamoDB Local` }
          : {}),
      });

      // DynamoDB calls of one reply: the session message, and a one-shot message.
      const count = async (label: string, most: number, send: () => Promise<CallResult | { status: number }>) => {
        const windows: Window[] = [];
        for (let i = 0; i < COUNTED; i++) {
          const { result, calls, afterResponse } = await counter.window(send, SETTLE_MS);
          windows.push({ status: result.status, calls, afterResponse });
        }
        const s = summarizeWindows(windows);
        const totals = windows.map((w) => classify(w.calls).total);
        detail(`${label}: ${s.sameIn}/${windows.length} made ${s.sequence}`);
        for (const other of s.others) detail(`   others: ${other}`);
        detail(`   by command: ${s.commands}; reads ${s.maxReads}, writes ${s.maxWrites}`);
        const answered = windows.every((w) => w.status === 200);
        rows.push({
          figure: `DynamoDB calls per reply, ${label}`,
          measured: `${Math.min(...totals)}..${Math.max(...totals)} calls: ${s.maxReads} read(s) + ${s.maxWrites} write(s) (${s.commands})`,
          target: `<= ${most} (no more than before)`,
          status: answered && Math.max(...totals) <= most ? 'PASS' : 'GAP',
          ...(!answered ? { note: 'a reply did not answer 200' } : Math.max(...totals) > most ? { note: `more calls than the ${most} a reply made` } : {}),
        });
        return sequence(windows[0]!.calls);
      };
      section('DynamoDB calls per reply');
      await count('session message', CALLS_BEFORE.session, reply);
      const oneShot = new ApiClient(base, { 'X-API-Key': fx.secret.key });
      await count('one-shot message', CALLS_BEFORE.oneShot, () => oneShot.post('/v1/chat/message', { message: 'Count my calls', assistant: assistantId }));
    } finally {
      if (saved === undefined) delete process.env[UPSTREAMS_ENV];
      else process.env[UPSTREAMS_ENV] = saved;
      await peer.close();
    }
  });
}
