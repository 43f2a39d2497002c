// One visitor's conversation, without any UI: the session (created on the first message, kept in
// sessionStorage for its life), the turns shown in the log, the reply being streamed, and the
// current failure. The panel renders `state` and calls the methods; nothing here touches the DOM.
import { createChatSession, sessionHistory, streamReply, type ChatSession } from '../api/chat.ts';
import { ApiClientError } from '../api/http.ts';
import { resolveApiUrl, type WidgetConfig } from './config.ts';
import { describeFailure, type Failure } from './failures.ts';
import type { StoredSession, WidgetStore } from './storage.ts';

export interface Turn {
  id: number;
  role: 'user' | 'assistant';
  content: string;
  /** streaming: deltas still arriving; stopped: the visitor stopped it; failed: it broke midway. */
  status: 'done' | 'streaming' | 'stopped' | 'failed';
}

export interface ConversationState {
  turns: Turn[];
  /** loading: fetching history; sending: waiting for the reply to start; streaming: deltas arriving. */
  phase: 'idle' | 'loading' | 'sending' | 'streaming';
  failure?: Failure;
  /** The session ended (expired, or its key revoked or disabled): the next message starts a new one. */
  ended: boolean;
}

const ENDED = (): ApiClientError => new ApiClientError(401, 'SESSION_ENDED', 'The chat session has expired.');

let nextTurnId = 1;

/** A random Idempotency-Key (crypto.randomUUID exists only on https pages; getRandomValues everywhere). */
function randomKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Conversation {
  state: ConversationState = { turns: [], phase: 'idle', ended: false };
  private readonly listeners = new Set<() => void>();
  private readonly config: WidgetConfig;
  private readonly store: WidgetStore;
  private readonly origin: string;
  private apiUrl?: Promise<string>;
  private restored = false;
  private abort?: AbortController;
  /** What Retry does: the last failed operation. */
  private retryAction?: () => void;

  constructor(config: WidgetConfig, store: WidgetStore, origin: string) {
    this.config = config;
    this.store = store;
    this.origin = origin;
    if (config.problem) this.state = { ...this.state, failure: { text: config.problem, action: 'none' } };
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get busy(): boolean {
    return this.state.phase !== 'idle';
  }

  private update(patch: Partial<ConversationState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }

  private updateTurn(id: number, patch: Partial<Turn>): void {
    this.update({ turns: this.state.turns.map((t) => (t.id === id ? { ...t, ...patch } : t)) });
  }

  private fail(error: unknown, retry?: () => void): void {
    const failure = describeFailure(error, this.origin);
    const ended = failure.action === 'new-conversation';
    if (ended) this.store.clearSession();
    this.retryAction = failure.action === 'retry' ? retry : undefined;
    this.update({ phase: 'idle', failure, ended: this.state.ended || ended });
  }

  private api(): Promise<string> {
    this.apiUrl ??= resolveApiUrl(this.config);
    return this.apiUrl;
  }

  /** On first opening: show the stored session's history (a reload keeps the conversation). */
  restore(): void {
    if (this.restored || this.config.problem) return;
    this.restored = true;
    const session = this.store.session();
    if (session) void this.loadHistory(session);
    else if (this.store.hadSession()) this.fail(ENDED());
  }

  private async loadHistory(session: StoredSession): Promise<void> {
    this.update({ phase: 'loading', failure: undefined });
    try {
      const items = await sessionHistory(await this.api(), session);
      const turns = items.map((m): Turn => ({ id: nextTurnId++, role: m.role, content: m.content, status: 'done' }));
      this.update({ phase: 'idle', turns });
    } catch (error) {
      this.fail(error, () => void this.loadHistory(session));
    }
  }

  /**
   * Send a message: creates the session first if there is none, or a new one when the last ended.
   * Returns false when nothing was sent (a reply is under way, the text is blank, no key).
   */
  send(content: string): boolean {
    if (this.busy || this.config.problem || !content.trim()) return false;
    if (this.state.ended) this.startNew();
    void this.exchange(content, randomKey());
    return true;
  }

  private async exchange(content: string, idempotencyKey: string): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const user: Turn = { id: nextTurnId++, role: 'user', content, status: 'done' };
    const reply: Turn = { id: nextTurnId++, role: 'assistant', content: '', status: 'streaming' };
    this.update({ phase: 'sending', failure: undefined, turns: [...this.state.turns, user] });
    // Retry drops this failed turn and sends the same message again with the same Idempotency-Key,
    // so a reply that was in fact charged is never paid twice.
    const retry = () => {
      this.update({ turns: this.state.turns.filter((t) => t.id !== user.id && t.id !== reply.id) });
      void this.exchange(content, idempotencyKey);
    };
    try {
      const api = await this.api();
      const session = await this.session(api, abort.signal);
      let text = '';
      const completed = await streamReply(api, session, content, {
        idempotencyKey,
        signal: abort.signal,
        onDelta: (delta) => {
          text += delta;
          if (this.state.phase === 'sending') this.update({ phase: 'streaming', turns: [...this.state.turns, { ...reply, content: text }] });
          else this.updateTurn(reply.id, { content: text });
        },
      });
      if (this.state.phase === 'sending') this.update({ turns: [...this.state.turns, reply] });
      this.updateTurn(reply.id, { content: completed.content, status: 'done' });
      this.update({ phase: 'idle' });
    } catch (error) {
      if (abort.signal.aborted) {
        // Stopped by the visitor: keep what arrived (the API still finishes and stores the reply),
        // or mark the message itself when no reply had started.
        this.updateTurn(this.state.phase === 'streaming' ? reply.id : user.id, { status: 'stopped' });
        this.update({ phase: 'idle' });
        return;
      }
      // Mark what did not get through: the reply that broke midway, or the message itself.
      const started = this.state.turns.some((t) => t.id === reply.id);
      this.updateTurn(started ? reply.id : user.id, { status: 'failed' });
      this.fail(error, retry);
    } finally {
      if (this.abort === abort) this.abort = undefined;
    }
  }

  /** The stored session, or a new one (the first message of a conversation). */
  private async session(api: string, signal: AbortSignal): Promise<StoredSession> {
    const stored = this.store.session();
    if (stored) return stored;
    if (this.store.hadSession()) throw ENDED(); // it expired since the last message
    // A new session. (Its id and token are kept for its life; the key itself is never stored.)
    const created: ChatSession = await createChatSession(api, this.config.key, {
      ...(this.config.databaseId ? { databaseId: this.config.databaseId } : {}),
      metadata: { source: 'widget', page: location.pathname.slice(0, 500) },
      signal,
    });
    this.store.saveSession(created);
    return created;
  }

  /** Stop the reply being streamed (or the request waiting for it). */
  stop(): void {
    this.abort?.abort();
  }

  retry(): void {
    const action = this.retryAction;
    this.retryAction = undefined;
    if (action && !this.busy) action();
  }

  /** After the conversation ended: forget it; the next message creates a new session. */
  startNew(): void {
    if (this.busy) return;
    this.store.clearSession();
    this.retryAction = undefined;
    this.update({ turns: [], failure: undefined, ended: false });
  }
}
