// Identifiers: a readable prefix plus CSPRNG base62, so operators can tell items apart at a glance.
import { randomBase62 } from './api-key.ts';

export type IdPrefix = 'org' | 'db' | 'ses' | 'msg' | 'conv' | 'req' | 'aud' | 'wh' | 'evt';

export function newId(prefix: IdPrefix, length = 20): string {
  return `${prefix}_${randomBase62(length)}`;
}

/** Ids that sort by creation time (messages in a session): ISO time plus randomness to break ties. */
export function timeOrderedId(prefix: IdPrefix, now: Date): string {
  return `${prefix}_${now.getTime().toString(36).padStart(10, '0')}${randomBase62(10)}`;
}
