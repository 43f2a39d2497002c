// One assistant reply, shared by the streaming session route and the one-shot message route:
// load the thread's recent history and trim it to the assistant's maxInputTokens -> hold the
// reply's worst case in credits (its input bound plus its output cap, the cap lowered to what the
// balance holds) -> start the assistant's upstream with that cap and wait for its first delta ->
// (caller streams or collects the rest) -> store the turn with its tokens -> settle the hold to what
// was used -> done. A reply that fails at any point returns its whole hold; nothing of it is stored.
//
// Waiting for the first delta before anything is sent means a backend that fails to start (model
// throttled, unavailable) is answered with a plain JSON error and status; only failures after the
// first delta become the stream's `error` event.
import { createHash } from 'node:crypto';
import { holdCredits, markDelivered, recordTokenHold, renewHold, settleCredits } from '../db/credits.ts';
import { returnTokens, takeTokens } from '../db/token-windows.ts';
import type { RateSubject } from '../domain/plans.ts';
import { holdDueAt, HOLD_RENEW_MS, MIN_OUTPUT_TOKENS } from '../limits/credit-holds.ts';
import type { TokenHold } from '../limits/tokens.ts';
import type { WindowCount } from '../limits/headers.ts';
import { isUnavailable } from '../db/client.ts';
import { recentMessages, saveTurn, type MessageItem } from '../db/messages.ts';
import { replyRecordPut, storedReply, type StoredReply } from '../db/replies.ts';
import type { SessionItem } from '../db/sessions.ts';
import { ApiError } from '../domain/errors.ts';
import { timeOrderedId } from '../domain/ids.ts';
import { iso, utcDay } from '../domain/time.ts';
import { tokenUsageUpdates } from '../db/usage.ts';
import { describeError, logger } from '../log.ts';
import { CREDITS_PER_REPLY } from '../domain/billing.ts';
import { settledCharge } from '../limits/credit-holds.ts';
import { recordReply, recordStreamFailure } from '../metrics/emit.ts';
import { defaultAssistantSettings, trimTurns, type Assistant } from '../domain/assistants.ts';
import { estimateUsage, ReplyError, REPLY_MESSAGES, type ChatTurn, type ReplyIdentity, type ReplyUsage } from './backend.ts';
import { backendFor, guardedReply, type GuardedReply } from './backends.ts';
import { findUpstream, listUpstreams, defaultUpstreamName } from './upstreams.ts';
import type { EventSink } from './sse.ts';

/** Marks a response that replays the original reply of its Idempotency-Key (as Stripe's does). */
export const REPLAYED_HEADER = { 'Idempotent-Replayed': 'true' };
/** How many stored messages of the thread the backend sees, besides the new one. */
export const CONTEXT_MESSAGES = 40;

export interface ReplyInput {
  organizationId: string;
  keyId: string;
  /** The session or conversation the turn belongs to (the messages' partition). */
  threadId: string;
  content: string;
  /** Epoch seconds until which the turn's messages are kept. */
  ttl: number;
  /**
   * The client's Idempotency-Key (docs/api.md "Rate limits and credits"), scoped to the API key and `scope` (the
   * session, or `message` for one-shot messages), with the request it came with. Without one, the
   * credit's request key is the new user message's id, and nothing is kept for a retry.
   */
  idempotency?: { key: string; scope: string; request: unknown };
  /**
   * The thread's last CONTEXT_MESSAGES messages, when the caller started reading them earlier (while
   * the request's admission was decided); awaited where the reply would have read them itself.
   */
  history?: Promise<readonly MessageItem[]>;
  /** A conversation's first turn: no history to load, and the item is stored with the turn. */
  newConversation?: SessionItem;
  /**
   * Stateless replies (the OpenAI-compatible route): the whole conversation as the client sent it,
   * the last turn `content`'s. No history is loaded and no message is stored; the reply's tokens
   * are counted and, with an Idempotency-Key, the reply is kept for replays, as for the others.
   */
  statelessTurns?: readonly ChatTurn[];
  /** The body field holding the text, named when the model refuses it (default `content`). */
  contentField?: string;
  requestId: string;
  /** Who answers (default: a Default assistant on the default upstream). */
  assistant?: Assistant;
  /** Who is asking, as an http upstream receives it (organizationId and keyId come from above). */
  identity?: Omit<ReplyIdentity, 'organizationId' | 'keyId'>;
  /** Epoch ms by which the upstream must have stopped (the function's deadline less a margin). */
  stopBy?: number;
  /** Whose token windows (`tokensPerMinute`, `tokensPerDay`) the reply's tokens count in: the request's rate subject. */
  rateSubject?: Pick<RateSubject, 'organizationId' | 'keyId' | 'orgLimits' | 'keyLimits'>;
  /** Aborted when the caller goes away: the upstream is stopped, even before its first delta. */
  signal?: AbortSignal;
}

/** The Default assistant an organization has on the default upstream, for callers that name none. */
export function builtinAssistant(organizationId: string, env: NodeJS.ProcessEnv = process.env): Assistant {
  return {
    id: 'default',
    organizationId,
    createdAt: new Date(0).toISOString(),
    ...defaultAssistantSettings(listUpstreams(env), defaultUpstreamName(env)),
  };
}

export interface StartedReply {
  userMessageId: string;
  /** The session or conversation the turn belongs to (a replay's: the original's). */
  threadId: string;
  /** The original reply of an Idempotency-Key, given back without generating or charging. */
  replayed: boolean;
  contentField: string;
  /** The first delta, already received. */
  first: string;
  /** The output cap the upstream was given (the assistant's, or lower: what the hold could pay for); absent on a replay. */
  outputCap?: number;
  /** The token windows that apply, after this reply's hold (none without a token limit, or on a replay). */
  tokenWindows?: readonly WindowCount[];
  /** The remaining deltas. */
  rest(): AsyncIterable<string>;
  /** Store the turn and settle the hold; call after the last delta. Returns the assistant message and the credits charged. */
  complete(): Promise<{ messageId: string; content: string; credits: number }>;
  /** The reply failed or was abandoned: stop the backend and return the whole hold (once). */
  fail(reason: unknown): Promise<void>;
  /** The first delta reached the caller (a function that dies after this is charged the whole hold). */
  delivered(): Promise<void>;
  /** The caller went away: stop the upstream; the reply ends with what it produced. */
  cancel(): void;
  /** The reply's tokens, once complete (reported by the upstream or estimated). */
  usage(): ReplyUsage | undefined;
}

/** The `error` event's payload for a failure after the stream began. */
export function streamErrorPayload(error: unknown): { code: string; message: string } {
  if (error instanceof ReplyError) return { code: error.code, message: error.message };
  if (error instanceof ApiError) return { code: error.code, message: error.message };
  if (isUnavailable(error)) return { code: 'SERVICE_UNAVAILABLE', message: REPLY_MESSAGES.unavailable };
  return { code: 'INTERNAL_ERROR', message: REPLY_MESSAGES.failed };
}

/** A failure before anything was sent, as the contract's JSON error. */
export function replyApiError(error: unknown, requestId: string, field = 'content'): unknown {
  if (!(error instanceof ReplyError)) return error; // ApiErrors and DynamoDB trouble: the pipeline renders them
  switch (error.code) {
    case 'SERVICE_UNAVAILABLE':
      return new ApiError('SERVICE_UNAVAILABLE', error.message, {}, { 'Retry-After': '1' });
    case 'VALIDATION_ERROR':
      return new ApiError('VALIDATION_ERROR', error.message, { details: [{ field, message: error.message }] });
    default:
      return new ApiError('INTERNAL_ERROR', error.message, { requestId });
  }
}

function laterThan(previous: Date): Date {
  const now = new Date();
  return now.getTime() > previous.getTime() ? now : new Date(previous.getTime() + 1);
}

/** The stored reply of an earlier request, as a reply that is already complete (nothing to refund). */
function replayOf(stored: StoredReply, contentField: string): StartedReply {
  const tokens = stored.usage ? { ...stored.usage, estimated: false } : undefined;
  return {
    userMessageId: stored.userMessageId,
    threadId: stored.threadId,
    replayed: true,
    contentField,
    first: stored.content,
    async *rest() {},
    async complete() {
      return { messageId: stored.messageId, content: stored.content, credits: stored.credits ?? CREDITS_PER_REPLY };
    },
    async fail() {},
    async delivered() {},
    cancel() {},
    usage: () => tokens,
  };
}

/**
 * The request key was charged already: give back its stored reply if it is this request's, else
 * 409 (the original is still in flight, or the key came with another request). Nothing is charged
 * or refunded either way.
 */
async function replayFor(input: ReplyInput, requestKey: string, fingerprint: string, now: Date): Promise<StartedReply> {
  const stored = await storedReply(input.keyId, requestKey, now);
  if (!stored) {
    throw new ApiError('CONFLICT', 'A request with this Idempotency-Key is still in progress; retry when it has finished', {}, { 'Retry-After': '1' });
  }
  if (stored.fingerprint !== fingerprint) throw new ApiError('CONFLICT', 'This Idempotency-Key was used with another request');
  return replayOf(stored, input.contentField ?? 'content');
}

export async function startReply(input: ReplyInput): Promise<StartedReply> {
  const startedAt = new Date();
  const started = performance.now();
  const userMessageId = timeOrderedId('msg', startedAt);
  const { idempotency } = input;
  const requestKey = idempotency ? `key#${input.keyId}#${idempotency.scope}#${idempotency.key}` : userMessageId;
  const fingerprint = idempotency ? createHash('sha256').update(JSON.stringify(idempotency.request)).digest('base64url') : '';
  const answering = input.assistant ?? builtinAssistant(input.organizationId);
  const upstream = findUpstream(answering.upstream);
  if (!upstream) {
    logger.error('assistant names an upstream that is not deployed', { assistantId: answering.id, upstream: answering.upstream });
    throw replyApiError(new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { failure: 'unavailable' }), input.requestId, input.contentField);
  }
  const history = input.newConversation || input.statelessTurns ? [] : await (input.history ?? recentMessages(input.threadId, CONTEXT_MESSAGES, startedAt));
  const thread: ChatTurn[] = input.statelessTurns
    ? [...input.statelessTurns]
    : [...history.map((m) => ({ role: m.role, content: m.content })), { role: 'user', content: input.content }];
  // The oldest turns are left out until the input fits the assistant's maxInputTokens (400 when
  // its instructions and this message alone do not).
  const trimmed = trimTurns(answering.instructions, thread, answering.maxInputTokens, input.contentField ?? 'content');
  const deadline = input.stopBy ?? startedAt.getTime() + upstream.maxDurationSeconds * 1000;
  const held = await holdCredits(
    input.organizationId,
    requestKey,
    input.keyId,
    { inputBound: trimmed.inputTokenBound, outputCap: answering.maxOutputTokens },
    startedAt,
    deadline,
  );
  if (held.alreadyCharged) return replayFor(input, requestKey, fingerprint, startedAt);
  let { hold } = held;
  // The token windows: a second conditional hold, of the input bound plus the output cap the credits
  // allow (lowered to what the windows hold, at least the input bound plus 16); refused (429), the
  // credits' hold is returned whole.
  let tokens: TokenHold | undefined;
  if (input.rateSubject) {
    try {
      tokens = await takeTokens(input.rateSubject, trimmed.inputTokenBound + hold.outputCap, {
        atLeast: trimmed.inputTokenBound + Math.min(MIN_OUTPUT_TOKENS, hold.outputCap),
        now: startedAt,
      });
    } catch (error) {
      await settleCredits(hold, 'failed', new Date());
      throw error;
    }
  }
  const outputCap = tokens ? Math.min(hold.outputCap, tokens.tokens - trimmed.inputTokenBound) : hold.outputCap;
  if (tokens && tokens.parts.length > 0) {
    // On the reservation, the tokens are given back by whoever settles it: this reply, or the sweep if it dies.
    const recorded = await recordTokenHold(hold, tokens).catch((error: unknown) => {
      logger.warn('token hold not recorded', { requestId: input.requestId, error: describeError(error) });
      return false;
    });
    if (recorded) hold = { ...hold, tokens: { tokens: tokens.tokens, parts: tokens.parts } };
  }
  let tokensSettled = false;
  const settleTokens = async (used: number) => {
    if (!tokens || tokensSettled || hold.tokens) return;
    tokensSettled = true;
    await returnTokens(tokens, Math.max(0, tokens.tokens - used)).catch((error: unknown) => {
      // Counted, never over: a window keeps what was not returned until it ends.
      logger.warn('token hold not returned', { requestId: input.requestId, error: describeError(error) });
    });
  };

  // A reply that outlives its hold's lease renews it, so the sweep only takes the holds of the dead.
  const renewal = setInterval(() => {
    if (Date.now() > deadline) return clearInterval(renewal);
    renewHold(hold, holdDueAt(deadline, Date.now())).catch((error: unknown) => {
      logger.warn('hold not renewed', { requestId: input.requestId, error: describeError(error) });
    });
  }, HOLD_RENEW_MS);
  renewal.unref();

  const controller = new AbortController();
  let settled: Promise<number> | undefined;
  const settle = (outcome: Parameters<typeof settleCredits>[1]) => {
    clearInterval(renewal);
    settled ??= Promise.all([
      settleTokens(outcome === 'failed' ? 0 : outcome.usage.inputTokens + outcome.usage.outputTokens),
      settleCredits(hold, outcome, new Date()).catch((error: unknown) => {
        // The sweep settles it after the deadline.
        logger.error('hold not settled', { requestId: input.requestId, threadId: input.threadId, error: describeError(error) });
        return 0;
      }),
    ]).then(([, charged]) => charged);
    return settled;
  };
  const refund = async (reason: unknown) => {
    controller.abort();
    if (settled) return;
    logger.info('reply failed, returning its hold', {
      requestId: input.requestId,
      threadId: input.threadId,
      error: describeError(reason),
    });
    await settle('failed');
  };

  // The upstream may produce no more than what was held.
  const capped: Assistant = { ...answering, maxOutputTokens: outputCap };
  const sentTurns: ChatTurn[] = trimmed.turns;
  const caller = new AbortController();
  controller.signal.addEventListener('abort', () => caller.abort(), { once: true });
  if (input.signal?.aborted) caller.abort();
  else input.signal?.addEventListener('abort', () => caller.abort(), { once: true });
  let iterator: GuardedReply;
  let first: string;
  let firstDeltaMs = 0;
  try {
    const identity: ReplyIdentity = {
      organizationId: input.organizationId,
      keyId: input.keyId,
      keyType: input.identity?.keyType ?? 'secret',
      databaseId: input.identity?.databaseId ?? null,
      sessionId: input.identity?.sessionId ?? null,
      conversationId: input.identity?.conversationId ?? null,
      origin: input.identity?.origin ?? null,
    };
    const backend = await backendFor(upstream);
    iterator = guardedReply(upstream, backend, { turns: sentTurns, assistant: capped, identity, signal: caller.signal }, {
      ...(input.stopBy !== undefined ? { stopBy: input.stopBy } : {}),
    });
    const head = await iterator.next();
    if (head.done) throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.empty, { failure: input.signal?.aborted ? 'cancelled' : 'malformed' });
    first = head.value;
    firstDeltaMs = performance.now() - started;
  } catch (error) {
    await refund(error);
    throw replyApiError(error, input.requestId, input.contentField);
  }
  let usage: ReplyUsage | undefined;

  const parts = [first];
  const message = (id: string, role: MessageItem['role'], content: string, at: Date): MessageItem => ({
    sessionId: input.threadId,
    id,
    organizationId: input.organizationId,
    keyId: input.keyId,
    role,
    content,
    createdAt: iso(at),
    ttl: input.ttl,
  });

  return {
    userMessageId,
    threadId: input.threadId,
    replayed: false,
    contentField: input.contentField ?? 'content',
    first,
    outputCap: capped.maxOutputTokens,
    ...(tokens && tokens.windows.length > 0 ? { tokenWindows: tokens.windows } : {}),
    async *rest() {
      for (;;) {
        let next: IteratorResult<string, ReplyUsage>;
        try {
          next = await iterator.next();
        } catch (error) {
          // Cut at its maximum duration: what was produced, with its tokens, is what a stream pays for.
          if (error instanceof ReplyError && error.failure === 'cut') usage = error.usage;
          throw error;
        }
        if (next.done) {
          usage = next.value;
          return;
        }
        if (controller.signal.aborted) return;
        parts.push(next.value);
        yield next.value;
      }
    },
    async complete() {
      const content = parts.join('');
      if (content.trim() === '') throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.empty);
      const finishedAt = laterThan(startedAt);
      const tokens = usage ?? estimateUsage({ turns: sentTurns, assistant: capped }, content);
      const assistant: MessageItem = {
        ...message(timeOrderedId('msg', finishedAt), 'assistant', content, finishedAt),
        inputTokens: tokens.inputTokens,
        outputTokens: tokens.outputTokens,
        ...(tokens.estimated ? { usageEstimated: true } : {}),
      };
      usage = tokens;
      const credits = settledCharge(hold.billing, hold.held, tokens);
      const kept = { threadId: input.threadId, userMessageId, messageId: assistant.id, content, fingerprint, credits };
      const record = idempotency
        ? replyRecordPut(input.keyId, requestKey, input.statelessTurns ? { ...kept, usage: { inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens } } : kept, finishedAt)
        : undefined;
      const counters = tokenUsageUpdates(input.organizationId, input.keyId, utcDay(finishedAt), tokens);
      await saveTurn(message(userMessageId, 'user', input.content, startedAt), assistant, {
        newConversation: input.newConversation,
        record,
        counters,
        ...(input.statelessTurns ? { withoutMessages: true } : {}),
      });
      // Stored: now charge it (and return the rest of the hold).
      await settle({ usage: tokens });
      recordReply({ credits, firstDeltaMs, totalMs: performance.now() - started });
      return { messageId: assistant.id, content, credits };
    },
    fail: refund,
    delivered: () => markDelivered(hold).catch((error: unknown) => {
      logger.warn('hold not marked delivered', { requestId: input.requestId, error: describeError(error) });
    }),
    cancel: () => caller.abort(),
    usage: () => usage,
  };
}

/**
 * The whole reply as one string (JSON replies). Refunds and rethrows on failure; a caller that goes
 * away (`signal`) never receives it, so it is stopped, refunded and not stored.
 */
export async function collectReply(reply: StartedReply, requestId: string, signal?: AbortSignal): Promise<{ messageId: string; content: string; credits: number }> {
  const gone = () => new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.failed, { failure: 'cancelled' });
  const onAbort = () => void reply.fail(gone());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const _ of reply.rest()) {
      // parts are gathered by the reply itself
    }
    if (signal?.aborted) throw gone();
    return await reply.complete();
  } catch (error) {
    await reply.fail(error);
    throw replyApiError(error, requestId, reply.contentField);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Ends a streamed reply that failed after it started: a reply cut at its maximum duration pays for
 * (and keeps) what it produced; any other failure returns its hold.
 */
export async function endFailedStream(reply: StartedReply, error: unknown): Promise<void> {
  recordStreamFailure();
  if (error instanceof ReplyError && error.failure === 'cut') {
    await reply.complete().catch((stored: unknown) => reply.fail(stored));
  } else {
    await reply.fail(error);
  }
}

/**
 * Stream a started reply as SSE events: deltas, then `message.completed` (stored and charged) or
 * `error` (refunded). The sink is the only part that differs between AWS and the local runtime.
 */
export async function pumpReply(reply: StartedReply, sink: EventSink): Promise<void> {
  // A caller that goes away stops the upstream; the reply is stored with what it produced.
  sink.onClose?.(() => reply.cancel());
  try {
    await sink.send('message.delta', { content: reply.first });
    await reply.delivered();
    for await (const delta of reply.rest()) await sink.send('message.delta', { content: delta });
    const done = await reply.complete();
    await sink.send('message.completed', {
      messageId: done.messageId,
      content: done.content,
      usage: { credits: done.credits },
    });
  } catch (error) {
    await endFailedStream(reply, error);
    await sink.send('error', streamErrorPayload(error));
  } finally {
    sink.end();
  }
}
