// Figure: what Keygate adds to a reply's time to first delta, through the local runtime. An
// OpenAI-compatible upstream in this process records when each request reached it and when it wrote
// its first content delta (its own time to first byte); the client times its POST of a session
// message to the first `message.delta` event it reads. The difference is Keygate's part: session
// token, rate limit, credit, history, the upstream call's setup, and relaying the delta. Then the
// DynamoDB calls of one reply (a session message and a one-shot message), counted by the middleware.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UPSTREAMS_ENV } from '../../shared/chat/upstreams.ts';
import { ApiClient, type CallResult } from '../../test/support/api.ts';
import { classify, sequence, type DynamoCall, type Window } from '../dynamo-counter.ts';
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

interface UpstreamTiming {
  received: number;
  firstByte: number;
}

/** A minimal OpenAI-compatible streaming upstream that timestamps each request and its first delta. */
async function timingUpstream(): Promise<{ baseUrl: string; timings: UpstreamTiming[]; close(): Promise<void> }> {
  const timings: UpstreamTiming[] = [];
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'bench-model', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const server: Server = createServer((req, res) => {
    const received = performance.now();
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write(chunk({ role: 'assistant', content: 'Hello' }));
        timings.push({ received, firstByte: performance.now() });
        res.write(chunk({ content: ' from the bench upstream.' }));
        res.write(chunk({}, 'stop'));
        res.write(`data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'bench-model', choices: [], usage: { prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 } })}\n\n`);
        res.end('data: [DONE]\n\n');
      }, THINK_MS);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    timings,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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

/** One session message: ms from the POST to the first `message.delta`, and the whole reply read. */
async function timedReply(base: string, sessionId: string, token: string): Promise<{ status: number; firstDeltaMs: number }> {
  const started = performance.now();
  const res = await fetch(`${base}/v1/chat/sessions/${encodeURIComponent(sessionId)}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ content: 'How long until the first delta?' }),
  });
  let firstDeltaMs = Number.NaN;
  let text = '';
  const decoder = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(part, { stream: true });
    if (Number.isNaN(firstDeltaMs) && text.includes('event: message.delta')) firstDeltaMs = performance.now() - started;
  }
  return { status: res.status === 200 && text.includes('event: message.completed') ? 200 : res.status, firstDeltaMs };
}

export async function replyLatencyFigure(env: BenchEnvironment): Promise<void> {
  await figure('Reply: added time to first delta', async () => {
    section('Reply latency: time to first delta through the local runtime, less the upstream\'s own time to first byte');
    const upstream = await timingUpstream();
    const saved = process.env[UPSTREAMS_ENV];
    process.env[UPSTREAMS_ENV] = JSON.stringify({ echo: { kind: 'echo' }, bench: { kind: 'openai', baseUrl: upstream.baseUrl, models: ['bench-model'] } });
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
        return timedReply(base, s.sessionId, s.token);
      };

      for (let i = 0; i < WARMUP; i++) await reply();
      const added: number[] = [];
      const seen: number[] = [];
      const own: number[] = [];
      const dynamo: number[] = [];
      for (let i = 0; i < REPLIES; i++) {
        const before = upstream.timings.length;
        const mark = counter.mark();
        const r = await reply();
        const timing = upstream.timings[before];
        if (r.status !== 200 || !timing || upstream.timings.length !== before + 1) throw new Error(`reply ${i}: status ${r.status}, ${upstream.timings.length - before} upstream call(s)`);
        const upstreamMs = timing.firstByte - timing.received;
        seen.push(r.firstDeltaMs);
        own.push(upstreamMs);
        added.push(r.firstDeltaMs - upstreamMs);
        dynamo.push(waited(counter.since(mark), timing.received));
      }
      const a = summarize(added);
      const c = summarize(seen);
      const u = summarize(own);
      const d = summarize(dynamo);
      const rest = summarize(added.map((x, i) => x - dynamo[i]!));
      detail(`${REPLIES} session messages (after ${WARMUP} warm-up), sequential, ${PER_SESSION} per session, upstream think time ${THINK_MS} ms`);
      detail(`client, POST to first delta:          p50 ${ms(c.p50)}  p99 ${ms(c.p99)}`);
      detail(`upstream's own time to first byte:     p50 ${ms(u.p50)}  p99 ${ms(u.p99)}`);
      detail(`added by Keygate (per reply, the difference): p50 ${ms(a.p50)}  p99 ${ms(a.p99)}  mean ${ms(a.mean)}  max ${ms(a.max)}`);
      detail(`   of which waiting for DynamoDB Local before the upstream call: p50 ${ms(d.p50)}  p99 ${ms(d.p99)}`);
      detail(`   the rest (Keygate's own work, HTTP hops, relaying the delta): p50 ${ms(rest.p50)}  p99 ${ms(rest.p99)}`);
      rows.push({
        figure: 'Reply: time to first delta added by Keygate (local runtime, session message)',
        measured: `p50 ${ms(a.p50)}, p99 ${ms(a.p99)} (n=${REPLIES}); without the DynamoDB wait p50 ${ms(rest.p50)}, p99 ${ms(rest.p99)}`,
        target: TARGET,
        status: a.p50 <= 5 ? 'PASS' : 'GAP',
        ...(a.p50 > 5 ? { note: `the DynamoDB calls before the upstream call wait p50 ${ms(d.p50)}` } : {}),
      });

      // DynamoDB calls of one reply: the session message, and a one-shot message.
      const count = async (label: string, send: () => Promise<CallResult | { status: number }>) => {
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
        rows.push({
          figure: `DynamoDB calls per reply, ${label}`,
          measured: `${Math.min(...totals)}..${Math.max(...totals)} calls: ${s.maxReads} read(s) + ${s.maxWrites} write(s) (${s.commands})`,
          target: 'unchanged by the streaming move',
          status: windows.every((w) => w.status === 200) ? 'info' : 'GAP',
          ...(windows.some((w) => w.status !== 200) ? { note: 'a reply did not answer 200' } : {}),
        });
        return sequence(windows[0]!.calls);
      };
      section('DynamoDB calls per reply');
      await count('session message', reply);
      const oneShot = new ApiClient(base, { 'X-API-Key': fx.secret.key });
      await count('one-shot message', () => oneShot.post('/v1/chat/message', { message: 'Count my calls', assistant: assistantId }));
    } finally {
      if (saved === undefined) delete process.env[UPSTREAMS_ENV];
      else process.env[UPSTREAMS_ENV] = saved;
      await upstream.close();
    }
  });
}
