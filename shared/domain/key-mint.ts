// Minting a key, pure: a fresh plaintext and the item that stores it (nothing is written), and the
// settings a rolled key's replacement inherits.
import { displayKey, generateKey, hashKey, keyIdFromHash, type KeyPrefixes } from './api-key.ts';
import type { ApiKeyItem } from './key-item.ts';
import type { KeySettings } from './key-rules.ts';
import { expiredKeyTtl } from './key-status.ts';
import type { Limits } from './plans.ts';
import { addDays, iso } from './time.ts';
import { firstNoticeAt } from './webhooks.ts';

/** The byNoticeDue index is spread over a few partitions so no one of them is hot; the sweep reads each. */
export const NOTICE_SHARDS = 4;
export const noticeShard = (keyHash: string) => `n${parseInt(keyHash.slice(-2), 16) % NOTICE_SHARDS}`;

/** A key to mint: the validated settings plus who and what it belongs to. */
export interface NewKey extends KeySettings {
  organizationId: string;
  orgLimits: Limits;
  /** The organization's `limitsVersion` that `orgLimits` are (0 before its first change). */
  orgLimitsVersion?: number;
  createdBy: string;
}

/** Build a new key item and its plaintext; nothing is written. */
export function mintKey(input: NewKey, prefixes: KeyPrefixes, now: Date): { item: ApiKeyItem; plaintext: string } {
  const plaintext = generateKey(input.type, prefixes);
  const keyHash = hashKey(plaintext);
  const expiresAt = addDays(now, input.expiresInDays);
  const item: ApiKeyItem = {
    id: keyIdFromHash(keyHash),
    keyHash,
    organizationId: input.organizationId,
    name: input.name,
    type: input.type,
    ...(input.type === 'publishable' ? { key: plaintext } : {}),
    displayKey: displayKey(plaintext),
    status: 'active',
    createdAt: iso(now),
    expiresAt: iso(expiresAt),
    lifetimeDays: input.expiresInDays,
    allowedDomains: input.allowedDomains,
    databaseId: input.databaseId,
    assistantId: input.type === 'publishable' ? (input.assistantId ?? null) : null,
    scopes: input.scopes,
    rateLimit: input.rateLimit,
    orgLimits: input.orgLimits,
    orgLimitsVersion: input.orgLimitsVersion ?? 0,
    lastUsedAt: null,
    usageCount: 0,
    createdBy: input.createdBy,
    noticeShard: noticeShard(keyHash),
    noticeAt: iso(firstNoticeAt(expiresAt, now)),
    ttl: expiredKeyTtl(expiresAt),
  };
  return { item, plaintext };
}

/** What a rolled key's replacement is minted with: the old key's settings, its lifetime again, a new creator. */
export function replacementOf(old: ApiKeyItem, createdBy: string): NewKey {
  return {
    organizationId: old.organizationId,
    name: old.name,
    type: old.type,
    allowedDomains: old.allowedDomains,
    databaseId: old.databaseId,
    assistantId: old.assistantId ?? null,
    scopes: old.scopes,
    expiresInDays: old.lifetimeDays,
    rateLimit: old.rateLimit,
    orgLimits: old.orgLimits,
    orgLimitsVersion: old.orgLimitsVersion ?? 0,
    createdBy,
  };
}
