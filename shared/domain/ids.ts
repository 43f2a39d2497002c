// Identifiers: a readable prefix plus CSPRNG base62, so operators can tell items apart at a glance.
import { randomBase62 } from './api-key.ts';

export type IdPrefix = 'org' | 'db' | 'asst' | 'ses' | 'msg' | 'conv' | 'cmpl' | 'req' | 'aud' | 'wh' | 'evt';

export function newId(prefix: IdPrefix, length = 20): string {
  return `${prefix}_${randomBase62(length)}`;
}

/** Whether a path's `{orgId}` can be an organization id at all: `org_` and base62 (newId makes 20). */
export function isOrganizationId(value: string): boolean {
  return /^org_[0-9A-Za-z]{1,64}$/.test(value);
}

/** Ids that sort by creation time (messages in a session): ISO time plus randomness to break ties. */
export function timeOrderedId(prefix: IdPrefix, now: Date): string {
  return `${prefix}_${now.getTime().toString(36).padStart(10, '0')}${randomBase62(10)}`;
}
