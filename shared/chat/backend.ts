// The one seam between a reply and whatever serves it (docs/upstreams.md). Types only: the factory
// per upstream kind is in backends.ts, the kinds in bedrock-backend.ts, openai-backend.ts,
// http-backend.ts and local-backend.ts (echo), which import this module and nothing imports back.
//
// A backend yields the reply as text deltas and returns the token usage the upstream reported (or
// undefined); it throws ReplyError when it cannot finish. It must stop its upstream call when
// `signal` aborts, and never retry a call that may already have produced a reply.
import type { Assistant } from '../domain/assistants.ts';
import type { UpstreamFailure } from '../metrics/catalog.ts';

export type ChatRole = 'user' | 'assistant';

export interface ChatTurn {
  role: ChatRole;
  content: string;
}

/** What a backend needs of the assistant that answers. */
export type ReplyAssistant = Pick<Assistant, 'id' | 'name' | 'model' | 'instructions' | 'maxOutputTokens' | 'temperature'>;

/** Who is asking, as an `http` upstream receives it (never a credential). */
export interface ReplyIdentity {
  organizationId: string;
  keyId: string;
  keyType: 'secret' | 'publishable';
  databaseId: string | null;
  /** Session messages; null for one-shot messages. */
  sessionId: string | null;
  /** One-shot messages (the id the client knows); null for session messages. */
  conversationId: string | null;
  /** A publishable key's Origin; null for secret keys. */
  origin: string | null;
}

export interface ReplyRequest {
  /** Oldest first, the last one the user's; already trimmed to the assistant's maxInputTokens. */
  turns: readonly ChatTurn[];
  assistant: ReplyAssistant;
  identity: ReplyIdentity;
  signal: AbortSignal;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/** Usage of a finished reply: reported by the upstream, or estimated (`estimated: true`). */
export interface ReplyUsage extends TokenUsage {
  estimated: boolean;
}

export interface ChatBackend {
  /** The upstream kind (bedrock, openai, http, echo) or a test's name. */
  readonly kind: string;
  reply(request: ReplyRequest): AsyncGenerator<string, TokenUsage | undefined | void, undefined>;
}

/** Codes a failed reply reports, in the `error` stream event or as the JSON error before the stream. */
export type ReplyErrorCode = 'SERVICE_UNAVAILABLE' | 'VALIDATION_ERROR' | 'INTERNAL_ERROR';

/** Why a reply failed, for metrics and logs (never shown to callers): UPSTREAM_FAILURES. */
export type ReplyFailure = UpstreamFailure;

export class ReplyError extends Error {
  readonly code: ReplyErrorCode;
  readonly failure: ReplyFailure;
  /** A reply cut mid-stream: what the part already produced used (it is paid for when streamed). */
  readonly usage: ReplyUsage | undefined;

  constructor(code: ReplyErrorCode, message: string, options?: { cause?: unknown; failure?: ReplyFailure; usage?: ReplyUsage }) {
    super(message, options);
    this.name = 'ReplyError';
    this.code = code;
    this.usage = options?.usage;
    this.failure = options?.failure ?? (code === 'VALIDATION_ERROR' ? 'refused' : code === 'SERVICE_UNAVAILABLE' ? 'unavailable' : 'internal');
  }
}

/** The only texts a caller sees of a failed reply: generic, never the upstream's own words. */
export const REPLY_MESSAGES = {
  busy: 'The model is busy; try again shortly',
  unavailable: 'The model is unavailable; try again shortly',
  rejected: 'The model could not process this conversation',
  failed: 'The reply could not be generated',
  empty: 'The model returned an empty reply',
  incomplete: 'The reply was cut off before it completed',
  timeout: 'The model did not answer in time; try again shortly',
  tooLong: 'The reply took longer than allowed and was cut off',
} as const;

/** Estimated tokens of one message: ceil(UTF-8 bytes / 4), at least 1. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(text, 'utf8') / 4));
}

/** Usage estimated from what was sent and produced (instructions, when set, count as a message). */
export function estimateUsage(request: Pick<ReplyRequest, 'turns' | 'assistant'>, output: string): ReplyUsage {
  const messages = request.assistant.instructions ? [request.assistant.instructions, ...request.turns.map((t) => t.content)] : request.turns.map((t) => t.content);
  return {
    inputTokens: messages.reduce((sum, m) => sum + estimateTokens(m), 0),
    outputTokens: estimateTokens(output),
    estimated: true,
  };
}

/** A reported usage if it is two whole non-negative numbers, else undefined (then it is estimated). */
export function reportedUsage(value: unknown): TokenUsage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { inputTokens, outputTokens } = value as Record<string, unknown>;
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  return ok(inputTokens) && ok(outputTokens) ? { inputTokens, outputTokens } : undefined;
}
