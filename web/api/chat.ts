// The chat half of the typed API client (docs/api.md "Routes", "Public" and "Session"): what the
// widget calls. Every failure is an ApiClientError (web/api/http.ts); a reply that fails after it
// began streaming is a ReplyStreamError carrying the text received so far.
import { createParser } from 'eventsource-parser';
import { ApiClientError, requestJson, send } from './http.ts';

export interface ChatSession {
  sessionId: string;
  token: string;
  type: 'chat';
  /** ISO-8601; the token stops working then. */
  expiresAt: string;
}

export interface HistoryMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  createdAt: string;
}

export interface ReplyCompleted {
  messageId: string;
  content: string;
  usage: { credits: number };
}

/** The reply failed after its first delta: an `error` event, a dropped connection or a cut stream. */
export class ReplyStreamError extends ApiClientError {
  /** The reply's text received before the failure. */
  readonly partial: string;

  constructor(code: string, message: string, partial: string) {
    super(code === 'NETWORK_ERROR' ? 0 : 200, code, message);
    this.name = 'ReplyStreamError';
    this.partial = partial;
  }
}

export interface CreateSessionOptions {
  /** Sent as `X-Database-Id`: the database the conversation is about. */
  databaseId?: string;
  metadata?: Record<string, string | number | boolean | null>;
  signal?: AbortSignal;
}

/** `POST /v1/chat/sessions` with a publishable (or secret) key: 201 session and its token. */
export function createChatSession(apiUrl: string, key: string, options: CreateSessionOptions = {}): Promise<ChatSession> {
  return requestJson<ChatSession>(apiUrl, '/v1/chat/sessions', {
    method: 'POST',
    headers: { 'X-API-Key': key, ...(options.databaseId ? { 'X-Database-Id': options.databaseId } : {}) },
    body: options.metadata ? { metadata: options.metadata } : {},
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

function sessionPath(session: Pick<ChatSession, 'sessionId'>, tail: string): string {
  return `/v1/chat/sessions/${encodeURIComponent(session.sessionId)}/${tail}`;
}

function bearer(session: Pick<ChatSession, 'token'>): Record<string, string> {
  return { Authorization: `Bearer ${session.token}` };
}

/** The whole history of a session, oldest first (every page of `GET …/messages`). */
export async function sessionHistory(apiUrl: string, session: Pick<ChatSession, 'sessionId' | 'token'>, signal?: AbortSignal): Promise<HistoryMessage[]> {
  const items: HistoryMessage[] = [];
  let cursor: string | null | undefined;
  do {
    const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
    const page = await requestJson<{ items: HistoryMessage[]; nextCursor: string | null }>(
      apiUrl,
      `${sessionPath(session, 'messages')}?${query}`,
      { headers: bearer(session), ...(signal ? { signal } : {}) },
    );
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

export interface StreamReplyOptions {
  /** Called with each `message.delta`'s text as it arrives. */
  onDelta: (content: string) => void;
  /** A retry of the same message sends the same key, so it is never paid twice (docs/api.md "Rate limits and credits"). */
  idempotencyKey?: string;
  /** Aborting stops reading the reply (the promise rejects with the AbortError). */
  signal?: AbortSignal;
}

/**
 * `POST /v1/chat/sessions/{id}/messages`: sends `content` and reads the Server-Sent Events reply.
 * Resolves with `message.completed`. Rejects with ApiClientError when the API refused the message
 * (a JSON error before the stream began), ReplyStreamError when the stream failed midway.
 */
export async function streamReply(
  apiUrl: string,
  session: Pick<ChatSession, 'sessionId' | 'token'>,
  content: string,
  options: StreamReplyOptions,
): Promise<ReplyCompleted> {
  const response = await send(apiUrl, sessionPath(session, 'messages'), {
    method: 'POST',
    headers: { ...bearer(session), ...(options.idempotencyKey ? { 'Idempotency-Key': options.idempotencyKey } : {}) },
    body: { content },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  let partial = '';
  let completed: ReplyCompleted | undefined;
  let failure: { code: string; message: string } | undefined;
  const parser = createParser({
    onEvent(event) {
      if (completed || failure) return;
      const data = JSON.parse(event.data);
      if (event.event === 'message.delta') {
        partial += data.content;
        options.onDelta(data.content);
      } else if (event.event === 'message.completed') {
        completed = data as ReplyCompleted;
      } else if (event.event === 'error') {
        failure = { code: String(data.code ?? 'INTERNAL_ERROR'), message: String(data.message ?? 'The reply failed.') };
      }
    },
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
      if (completed || failure) break;
    }
  } catch (error) {
    if ((error as Error)?.name === 'AbortError') throw error;
    throw new ReplyStreamError('NETWORK_ERROR', 'The connection was lost before the reply was complete.', partial);
  } finally {
    reader.cancel().catch(() => undefined);
  }
  if (failure) throw new ReplyStreamError(failure.code, failure.message, partial);
  if (!completed) throw new ReplyStreamError('NETWORK_ERROR', 'The reply stopped before it was complete.', partial);
  return completed;
}
