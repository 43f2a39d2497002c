// Which backend serves an upstream, and the limits every reply keeps whatever the kind: the first
// delta within the upstream's timeoutSeconds, the whole reply within maxDurationSeconds and before
// the function's own deadline, the upstream stopped when the caller goes away. Usage comes back
// reported or estimated (marked). One backend per upstream per execution environment; each kind's
// module is loaded on first use, so a function that only ever talks to one kind loads only that one.
import { performance } from 'node:perf_hooks';
import { describeError, logger } from '../log.ts';
import { recordUpstreamCall } from '../metrics/emit.ts';
import { estimateUsage, ReplyError, REPLY_MESSAGES, type ChatBackend, type ReplyFailure, type ReplyRequest, type ReplyUsage } from './backend.ts';
import type { Upstream } from './upstreams.ts';

// Keyed by the configuration's upstream object: a changed configuration (a new secret locally) gets new backends.
const backends = new WeakMap<Upstream, Promise<ChatBackend>>();
let override: ChatBackend | undefined;

function create(upstream: Upstream, env: NodeJS.ProcessEnv): Promise<ChatBackend> {
  switch (upstream.kind) {
    case 'bedrock':
      return import('./bedrock-backend.ts').then((m) => m.bedrockBackend());
    case 'openai':
      return import('./openai-backend.ts').then((m) => m.openaiBackend(upstream));
    case 'http':
      return import('./http-backend.ts').then((m) => m.httpBackend(upstream));
    case 'echo':
      return import('./local-backend.ts').then((m) => m.createLocalBackend(env));
  }
}

/** The backend of a deployed upstream (a test's override if one is set). */
export function backendFor(upstream: Upstream, env: NodeJS.ProcessEnv = process.env): Promise<ChatBackend> {
  if (override) return Promise.resolve(override);
  let backend = backends.get(upstream);
  if (!backend) {
    backend = create(upstream, env);
    backends.set(upstream, backend);
    backend.catch(() => backends.delete(upstream));
  }
  return backend;
}

/** Tests only: every upstream answers with this backend (or, with undefined, its own again). */
export function setChatBackend(backend: ChatBackend | undefined): void {
  override = backend;
}

export interface GuardOptions {
  /** Epoch ms by which the reply must have stopped (the function's deadline less a margin). */
  stopBy?: number;
  /** Called once with the first delta's time since the call began (ms). */
  onFirstDelta?: (ms: number) => void;
}

/** What the caller's own reply loop sees: deltas, then the usage once the reply is complete. */
export type GuardedReply = AsyncGenerator<string, ReplyUsage, undefined>;

type Stop = 'caller' | 'first-byte' | 'duration';

/**
 * The upstream's reply under its limits. Failures are ReplyErrors: before the first delta a timeout
 * is `timeout` (503), after it the maximum duration or the deadline is `cut`; a caller that goes away
 * simply ends the reply (whatever was produced is what it used). The backend's call is aborted in
 * every case; a backend that does not stop at once is abandoned, not awaited.
 */
export async function* guardedReply(upstream: Upstream, backend: ChatBackend, request: ReplyRequest, options: GuardOptions = {}): GuardedReply {
  const controller = new AbortController();
  let stop: Stop | undefined;
  let wake: (() => void) | undefined;
  const halt = (why: Stop) => {
    if (stop) return;
    stop = why;
    controller.abort();
    wake?.();
  };
  const started = performance.now();
  const budgetMs = Math.min(upstream.maxDurationSeconds * 1000, options.stopBy !== undefined ? options.stopBy - Date.now() : Infinity);
  const timers = [
    setTimeout(() => halt('first-byte'), Math.min(upstream.timeoutSeconds * 1000, Math.max(0, budgetMs))),
    setTimeout(() => halt('duration'), Math.max(0, budgetMs)),
  ];
  const onCaller = () => halt('caller');
  if (request.signal.aborted) halt('caller');
  else request.signal.addEventListener('abort', onCaller, { once: true });

  const iterator = backend.reply({ ...request, signal: controller.signal });
  const parts: string[] = [];
  let reported: ReplyUsage | undefined;
  let firstByteMs: number | undefined;
  const report = (failure?: ReplyFailure, tokens?: ReplyUsage) =>
    recordUpstreamCall({
      upstream: upstream.name,
      kind: upstream.kind,
      assistantId: request.assistant.id,
      organizationId: request.identity.organizationId,
      durationMs: performance.now() - started,
      ...(firstByteMs !== undefined ? { firstByteMs } : {}),
      ...(failure ? { failure } : {}),
      ...(tokens ? { tokens } : {}),
    });
  try {
    for (;;) {
      if (stop) break;
      const stopped = new Promise<'stopped'>((resolve) => {
        wake = () => resolve('stopped');
      });
      let next: IteratorResult<string, unknown> | 'stopped';
      try {
        next = await Promise.race([iterator.next(), stopped]);
      } catch (error) {
        if (stop) break; // the abort surfaced as the backend's error
        report(error instanceof ReplyError ? error.failure : 'internal');
        throw error;
      }
      if (next === 'stopped') break;
      if (next.done) {
        const usage = next.value as ReplyUsage | undefined;
        if (usage) reported = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, estimated: false };
        break;
      }
      if (next.value === '') continue;
      if (parts.length === 0) {
        clearTimeout(timers[0]);
        firstByteMs = performance.now() - started;
        options.onFirstDelta?.(firstByteMs);
      }
      parts.push(next.value);
      yield next.value;
    }
  } finally {
    for (const t of timers) clearTimeout(t);
    request.signal.removeEventListener('abort', onCaller);
    if (stop || !reported) controller.abort();
    // Ends the backend's generator without waiting for a call that may not stop at once.
    iterator.return(undefined).catch((error: unknown) => logger.debug('backend did not close cleanly', { error: describeError(error) }));
  }
  if (stop === 'first-byte' || (stop === 'duration' && parts.length === 0)) {
    report('timeout');
    throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.timeout, { failure: 'timeout' });
  }
  if (stop === 'duration') {
    report('cut');
    throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.tooLong, { failure: 'cut', usage: estimateUsage(request, parts.join('')) });
  }
  const usage = reported ?? estimateUsage(request, parts.join(''));
  if (stop === 'caller') report('cancelled');
  else report(undefined, usage);
  return usage;
}
