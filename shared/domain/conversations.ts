// One-shot conversations (docs/api.md "Routes"). A conversation id is the client's own name
// (`conv-abc`) or one the API generated (`conv_…`), and it is unique only within its scope: the
// organization for secret keys, the key itself for publishable keys. A publishable key is public
// by design, so it must never reach a conversation a backend started with a secret key, and a
// client-chosen id is guessable. The stored id joins the scope and the name, so the same name in
// another scope is another item, with its own history: no read can cross scopes.
import type { KeyType } from './api-key.ts';

/** 1..128 characters of `A-Za-z0-9._:-` (no `#`, which separates the stored id's parts). */
export const CONVERSATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const CONVERSATION_ID_RULE = 'must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"';

const STORED_PREFIX = 'conv#';

export function conversationScope(key: { type: KeyType; organizationId: string; keyId: string }): string {
  return key.type === 'secret' ? `org#${key.organizationId}` : `key#${key.keyId}`;
}

/** The sessions-table id (and messages partition) of conversation `conversationId` in `scope`. */
export function storedConversationId(scope: string, conversationId: string): string {
  return `${STORED_PREFIX}${scope}#${conversationId}`;
}

/** The id the client knows, from a stored id (other stored ids, e.g. sessions', are returned as they are). */
export function publicConversationId(storedId: string): string {
  return storedId.startsWith(STORED_PREFIX) ? storedId.slice(storedId.lastIndexOf('#') + 1) : storedId;
}
