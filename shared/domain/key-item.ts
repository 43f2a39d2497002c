// An API key as stored in the apiKeys table: the shape the DynamoDB access (shared/db/api-keys.ts),
// the rules about keys (key-status.ts, key-view.ts, key-mint.ts) and the expiry sweep share.
import type { KeyType } from './api-key.ts';
import type { Limits } from './plans.ts';
import type { Scope } from './scopes.ts';

export type StoredStatus = 'active' | 'disabled' | 'revoked';

export interface ApiKeyItem {
  id: string;
  keyHash: string;
  organizationId: string;
  name: string;
  type: KeyType;
  /** Publishable keys only. */
  key?: string;
  displayKey: string;
  status: StoredStatus;
  createdAt: string;
  expiresAt: string;
  lifetimeDays: number;
  allowedDomains: string[];
  databaseId: string | null;
  /** Publishable keys: the assistant every reply uses (absent on keys made before assistants). */
  assistantId?: string | null;
  scopes: Scope[];
  rateLimit: Partial<Limits> | null;
  /** The organization's limits, copied here so the authorizer needs no second read. */
  orgLimits: Limits;
  /** The organization's `limitsVersion` those limits are: a copy of an older change never replaces it. */
  orgLimitsVersion?: number;
  lastUsedAt: string | null;
  usageCount: number;
  createdBy: string;
  revokedAt?: string;
  /** Why it was revoked, when an operator said (keygate keys revoke --reason). */
  revocationReason?: string;
  /** Set on a key that was rolled: its replacement's id. */
  rolledTo?: string;
  /** Expiry notices (shared/webhooks/sweep.ts): the byNoticeDue shard, when the next is due, the last sent. */
  noticeShard?: string;
  noticeAt?: string;
  lastNotice?: string;
  ttl: number;
}
