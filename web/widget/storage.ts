// Where the widget keeps its conversation across reloads: sessionStorage, so it lives as long as
// the tab and never beyond it (docs/api.md "Chat widget"). Never the key: only the session id, its
// short-lived token and expiry, and whether the panel was open. Storage that throws (disabled,
// sandboxed frames) degrades to memory: the conversation then lasts as long as the page.
import type { ChatSession } from '../api/chat.ts';

export type StoredSession = Pick<ChatSession, 'sessionId' | 'token' | 'expiresAt'>;

/** FNV-1a: a short, stable name for one widget (API, key, database) without storing the key. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(36);
}

export class WidgetStore {
  private readonly prefix: string;
  private readonly memory = new Map<string, string>();

  /** `identity` names one widget: the same script, key and database share one conversation. */
  constructor(identity: string) {
    this.prefix = `keygate-chat:${fnv1a(identity)}:`;
  }

  private get(name: string): string | null {
    try {
      return sessionStorage.getItem(this.prefix + name);
    } catch {
      return this.memory.get(name) ?? null;
    }
  }

  private set(name: string, value: string | null): void {
    try {
      if (value === null) sessionStorage.removeItem(this.prefix + name);
      else sessionStorage.setItem(this.prefix + name, value);
    } catch {
      if (value === null) this.memory.delete(name);
      else this.memory.set(name, value);
    }
  }

  /** The stored session, if any and still within its lifetime. */
  session(now = Date.now()): StoredSession | undefined {
    try {
      const parsed = JSON.parse(this.get('session') ?? 'null') as StoredSession | null;
      if (!parsed || typeof parsed.token !== 'string' || typeof parsed.sessionId !== 'string') return undefined;
      return Date.parse(parsed.expiresAt) > now ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether a session was stored, valid or not (an expired one means "the conversation ended"). */
  hadSession(): boolean {
    return this.get('session') !== null;
  }

  saveSession(session: StoredSession): void {
    this.set('session', JSON.stringify({ sessionId: session.sessionId, token: session.token, expiresAt: session.expiresAt }));
  }

  clearSession(): void {
    this.set('session', null);
  }

  get open(): boolean {
    return this.get('open') === '1';
  }

  set open(value: boolean) {
    this.set('open', value ? '1' : null);
  }
}
