// What an operator may hand `keygate keys find`: a plaintext key (leaked in a chat or a repository),
// a key id, or the display prefix the portal shows (`sk_AbCdE••••••••`). A plaintext is hashed here
// and only its id leaves this function, so it is never sent anywhere or printed.
import { DISPLAY_CHARS, displayKey, hashKey, keyIdFromHash, parseKey, type KeyPrefixes } from './api-key.ts';

export type KeyQuery =
  | { kind: 'plaintext'; keyId: string }
  | { kind: 'id'; keyId: string }
  | { kind: 'display'; displayKey: string }
  | { kind: 'invalid'; reason: string };

export const KEY_ID_PATTERN = /^key_[0-9a-f]{24}$/;

/** Trailing masks people copy along with a display prefix: bullets, dots, an ellipsis, asterisks. */
const MASK = /[\u2022.\u2026*]+$/;

export function keyQueryOf(input: string, prefixes: KeyPrefixes): KeyQuery {
  const text = input.trim();
  if (parseKey(text, prefixes)) return { kind: 'plaintext', keyId: keyIdFromHash(hashKey(text)) };
  if (KEY_ID_PATTERN.test(text)) return { kind: 'id', keyId: text };
  const visible = text.replace(MASK, '');
  const prefix = [prefixes.secret, prefixes.publishable]
    .sort((a, b) => b.length - a.length)
    .find((p) => visible.startsWith(p));
  if (!prefix || !/^[A-Za-z0-9_]+$/.test(visible)) {
    return { kind: 'invalid', reason: `not an API key, a key id (key_ + 24 hex) or a display prefix (${prefixes.secret}… or ${prefixes.publishable}…)` };
  }
  if (prefix.length >= DISPLAY_CHARS) {
    return { kind: 'invalid', reason: `with the key prefix "${prefix}" a display prefix shows no random characters: give the key or its id` };
  }
  if (visible.length < DISPLAY_CHARS) {
    return { kind: 'invalid', reason: `a display prefix has its first ${DISPLAY_CHARS} characters (e.g. ${prefix}${'AbCdEfgh'.slice(0, DISPLAY_CHARS - prefix.length)})` };
  }
  // A longer fragment of a key that failed its checksum (a typo, a truncated paste): its display prefix.
  return { kind: 'display', displayKey: displayKey(visible) };
}

/**
 * Whether free text (a revoke reason) holds something that is, or nearly is, an API key: a word
 * that parses as one, or a prefix followed by 20+ key characters (a key with a typo). Such text
 * must never be stored.
 */
export function mentionsKey(text: string, prefixes: KeyPrefixes): boolean {
  for (const word of text.match(/[A-Za-z0-9_]+/g) ?? []) {
    if (parseKey(word, prefixes)) return true;
    for (const prefix of [prefixes.secret, prefixes.publishable]) {
      if (word.startsWith(prefix) && word.length - prefix.length >= 20) return true;
    }
  }
  return false;
}
