// The authorizer's rules, pure: which key a request presents, what the stored key allows, and how
// each verdict reaches the client through API Gateway (docs/api.md "Keys", "Authentication", "Errors" and "CORS on public and session routes").
import type { KeyType } from './api-key.ts';
import type { ErrorCode } from './errors.ts';
import type { KeyIdentity } from './key-identity.ts';
import type { Limits } from './plans.ts';
import { isOriginAllowed, isRealOrigin } from './origin-match.ts';
import type { Scope } from './scopes.ts';

/** The stored fields the authorizer reads (one consistent GetItem, projected to these). */
export interface StoredKey {
  id: string;
  keyHash: string;
  organizationId: string;
  type: KeyType;
  status: 'active' | 'disabled' | 'revoked';
  expiresAt: string;
  allowedDomains?: string[];
  databaseId?: string | null;
  assistantId?: string | null;
  scopes: Scope[];
  rateLimit?: Partial<Limits> | null;
  orgLimits: Limits;
  orgLimitsVersion?: number;
}

/** `X-API-Key`, else `Authorization: Bearer <key>`. Header names are lower-cased. */
export function presentedKey(headers: Record<string, string | undefined>): string | undefined {
  const direct = headers['x-api-key']?.trim();
  if (direct) return direct;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  return match?.[1];
}

/** A database the request names, if any: `X-Database-Id` header or `databaseId` query parameter. */
export function requestedDatabase(
  headers: Record<string, string | undefined>,
  query: Record<string, string | undefined> | null,
): string | undefined {
  return headers['x-database-id']?.trim() || query?.databaseId || undefined;
}

export interface Presented {
  keyHash: string;
  origin: string | undefined;
  database: string | undefined;
  route: { scope?: Scope } | undefined;
}

export type Verdict = { ok: true; identity: KeyIdentity } | { ok: false; code: ErrorCode };

/**
 * What the stored key allows for this request. Checked in this order: the key exists and is not
 * revoked (401), a publishable key's Origin (403), expiry and disabled (401), scope and database (403).
 * Expiry is checked here, never left to TTL (TTL deletes lag by days).
 */
export function judge(stored: StoredKey | undefined, presented: Presented, now: Date): Verdict {
  if (!stored || stored.keyHash !== presented.keyHash || stored.status === 'revoked' || !presented.route) {
    return { ok: false, code: 'INVALID_API_KEY' };
  }
  const publishable = stored.type === 'publishable';
  if (publishable && !isOriginAllowed(presented.origin, stored.allowedDomains ?? [])) {
    return { ok: false, code: 'CORS_ORIGIN_NOT_ALLOWED' };
  }
  if (Date.parse(stored.expiresAt) <= now.getTime()) return { ok: false, code: 'API_KEY_EXPIRED' };
  if (stored.status === 'disabled') return { ok: false, code: 'API_KEY_DISABLED' };
  const scope = presented.route.scope;
  if (scope && !stored.scopes.includes(scope)) return { ok: false, code: 'INSUFFICIENT_PERMISSIONS' };
  if (stored.databaseId && presented.database && presented.database !== stored.databaseId) {
    return { ok: false, code: 'INSUFFICIENT_PERMISSIONS' };
  }
  return { ok: true, identity: identityOf(stored, presented.origin, null) };
}

/**
 * How a verdict leaves the authorizer. API Gateway's Gateway Responses have one fixed status per
 * type and can only echo request headers, so:
 * - `unauthorized` (throw "Unauthorized"): 401 INVALID_API_KEY, answered by the gateway;
 * - `deny` (Deny policy + context): 403 answered by the gateway with no CORS header, used where a
 *   browser must not read the answer (secret keys) or there is no origin to echo (a publishable
 *   key with no Origin or `Origin: null`);
 * - `allow` with `rejection`: the function answers, because the status (401 expired/disabled) or
 *   the CORS header must differ from what the gateway can do: a publishable key's 403 carries
 *   the request's Origin, also when that origin is the one refused (docs/api.md "Keys"), so the
 *   page can read the refusal and tell its developer which origin to add.
 */
export type GatewayAction =
  | { action: 'unauthorized' }
  | { action: 'deny'; code: ErrorCode }
  | { action: 'allow'; identity: KeyIdentity };

export function gatewayAction(
  verdict: Verdict,
  stored: StoredKey | undefined,
  origin: string | undefined,
  route?: { errors?: 'openai' },
): GatewayAction {
  if (verdict.ok) return { action: 'allow', identity: verdict.identity };
  const { code } = verdict;
  // The OpenAI-compatible routes answer every refusal in OpenAI's body, which a Gateway Response
  // (one per API, plain substitution) cannot write: the function renders it, CORS as the gateway would.
  if (route?.errors === 'openai') {
    if (code === 'INVALID_API_KEY' || !stored) return { action: 'allow', identity: unknownKeyRejection(origin) };
    return { action: 'allow', identity: identityOf(stored, origin, code) };
  }
  if (code === 'INVALID_API_KEY' || !stored) return { action: 'unauthorized' };
  if (code === 'CORS_ORIGIN_NOT_ALLOWED' && !isRealOrigin(origin)) return { action: 'deny', code };
  if (code === 'INSUFFICIENT_PERMISSIONS' && stored.type === 'secret') return { action: 'deny', code };
  return { action: 'allow', identity: identityOf(stored, origin, code) };
}

function identityOf(stored: StoredKey, origin: string | undefined, rejection: ErrorCode | null): KeyIdentity {
  return {
    keyId: stored.id,
    organizationId: stored.organizationId,
    type: stored.type,
    scopes: stored.scopes,
    databaseId: stored.databaseId ?? null,
    assistantId: stored.type === 'publishable' ? (stored.assistantId ?? null) : null,
    // Only a publishable key's origin was checked, and only it earns CORS headers (on a refusal too).
    // Never `null` or an empty Origin: there is nothing to echo (the gateway's deny has no CORS either).
    origin: stored.type === 'publishable' && isRealOrigin(origin) ? origin! : null,
    expiresAt: stored.expiresAt,
    orgLimits: stored.orgLimits,
    orgLimitsVersion: stored.orgLimitsVersion ?? 0,
    keyLimits: stored.rateLimit ?? null,
    rejection,
  };
}

/**
 * The context of a missing, malformed, unknown or revoked key on an OpenAI-compatible route: no key,
 * only the refusal, readable by the calling page as the gateway's own 401 is.
 */
export function unknownKeyRejection(origin: string | undefined): KeyIdentity {
  return {
    keyId: '',
    organizationId: '',
    type: 'secret',
    scopes: [],
    databaseId: null,
    assistantId: null,
    origin: origin ?? null,
    expiresAt: '',
    orgLimits: { perMinute: 0, perDay: 0 },
    orgLimitsVersion: 0,
    keyLimits: null,
    rejection: 'INVALID_API_KEY',
  };
}
