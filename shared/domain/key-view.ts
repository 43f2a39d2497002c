// How a key is shown: to the API's callers and to operators alike, never its hash.
import type { ApiKeyItem } from './key-item.ts';
import { keyStatus } from './key-status.ts';

/** How a key is shown, to the API's callers and to operators alike: never its hash, never a plaintext. */
export function keyDetails(item: ApiKeyItem, now: Date) {
  return {
    id: item.id,
    organizationId: item.organizationId,
    name: item.name,
    type: item.type,
    displayKey: item.displayKey,
    status: keyStatus(item, now),
    createdAt: item.createdAt,
    expiresAt: item.expiresAt,
    allowedDomains: item.allowedDomains,
    databaseId: item.databaseId,
    assistantId: item.assistantId ?? null,
    scopes: item.scopes,
    rateLimit: item.rateLimit,
    lastUsedAt: item.lastUsedAt,
    usageCount: item.usageCount,
    createdBy: item.createdBy,
    replacedBy: item.rolledTo ?? null,
  };
}

/** The API's view of a key: its details, and the plaintext of a key just made or of a publishable key. */
export function keyView(item: ApiKeyItem, now: Date, plaintext?: string) {
  const view = keyDetails(item, now);
  const key = plaintext ?? item.key;
  return key ? { ...view, key } : view;
}
