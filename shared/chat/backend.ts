// Where assistant replies come from, behind one interface: Amazon Bedrock (ConverseStream) in AWS,
// a deterministic local backend for the local runtime and tests (CHAT_BACKEND=local).
// A backend yields the reply as text deltas and throws ReplyError when it cannot finish it.
import type { MessageRole } from '../db/messages.ts';

export interface ChatTurn {
  role: MessageRole;
  content: string;
}

export interface ChatBackend {
  readonly name: string;
  /** The assistant's reply to `turns` (oldest first, the last one the user's), as text deltas. */
  reply(turns: readonly ChatTurn[], signal?: AbortSignal): AsyncIterable<string>;
}

/** Codes a failed reply reports, in the `error` stream event or as the JSON error before the stream. */
export type ReplyErrorCode = 'SERVICE_UNAVAILABLE' | 'VALIDATION_ERROR' | 'INTERNAL_ERROR';

export class ReplyError extends Error {
  readonly code: ReplyErrorCode;

  constructor(code: ReplyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReplyError';
    this.code = code;
  }
}

export const REPLY_MESSAGES = {
  busy: 'The model is busy; try again shortly',
  unavailable: 'The model is unavailable; try again shortly',
  rejected: 'The model could not process this conversation',
  failed: 'The reply could not be generated',
  empty: 'The model returned an empty reply',
  incomplete: 'The reply was cut off before it completed',
} as const;

let selected: Promise<ChatBackend> | undefined;

/** The backend this process uses: CHAT_BACKEND=local, otherwise Bedrock (BEDROCK_MODEL_ID). */
export function chatBackend(env: NodeJS.ProcessEnv = process.env): Promise<ChatBackend> {
  selected ??=
    env.CHAT_BACKEND === 'local'
      ? import('./local-backend.ts').then((m) => m.createLocalBackend(env))
      : import('./bedrock-backend.ts').then((m) => m.createBedrockBackend(env));
  return selected;
}

/** Tests only: use this backend (or go back to the environment's choice). */
export function setChatBackend(backend: ChatBackend | undefined): void {
  selected = backend ? Promise.resolve(backend) : undefined;
}
