// What the authorizer tells the integration about a key. API Gateway passes the authorizer's
// context as flat string values, so this module is the one place that encodes and decodes it.
import type { KeyType } from './api-key.ts';
import type { ErrorCode } from './errors.ts';
import type { Limits } from './plans.ts';
import type { Scope } from './scopes.ts';

export interface KeyIdentity {
  keyId: string;
  organizationId: string;
  type: KeyType;
  scopes: Scope[];
  databaseId: string | null;
  /** Publishable keys: the assistant the key is pinned to (null for keys made before pins). */
  assistantId?: string | null;
  /**
   * Publishable keys: the request's Origin, checked against the key's allowed domains; echoed in
   * Access-Control-Allow-Origin, also when `rejection` is CORS_ORIGIN_NOT_ALLOWED (a readable 403).
   */
  origin: string | null;
  expiresAt: string;
  /** The limits this key's requests are counted against: the organization's, and the key's own. */
  orgLimits: Limits;
  /** The version of `orgLimits` (the organization's `limitsVersion` when they were copied onto the key). */
  orgLimitsVersion?: number;
  keyLimits: Partial<Limits> | null;
  /**
   * A rejection the function must answer because API Gateway cannot: a 401 with a specific code,
   * or a 403 a browser must be able to read (see shared/gateway-responses.ts).
   */
  rejection: ErrorCode | null;
}

/** The Origin a request was checked against: a publishable key's; null for secret keys. */
export function checkedOrigin(key: KeyIdentity): string | null {
  return key.type === 'publishable' ? key.origin : null;
}

/** Who asks, as a reply's upstream is told, for a request made with the key and no session. */
export function sessionlessRequester(key: KeyIdentity, conversationId: string | null) {
  return { keyType: key.type, databaseId: key.databaseId, sessionId: null, conversationId, origin: checkedOrigin(key) };
}

export type AuthorizerContext = Record<string, string>;

export function toAuthorizerContext(identity: KeyIdentity): AuthorizerContext {
  return {
    keyId: identity.keyId,
    organizationId: identity.organizationId,
    type: identity.type,
    scopes: identity.scopes.join(','),
    databaseId: identity.databaseId ?? '',
    assistantId: identity.assistantId ?? '',
    origin: identity.origin ?? '',
    expiresAt: identity.expiresAt,
    orgLimits: JSON.stringify(identity.orgLimits),
    orgLimitsVersion: String(identity.orgLimitsVersion ?? 0),
    keyLimits: identity.keyLimits ? JSON.stringify(identity.keyLimits) : '',
    rejection: identity.rejection ?? '',
  };
}

/** Decode the context; undefined when it is not one our authorizer produced. */
export function fromAuthorizerContext(context: Record<string, unknown> | null | undefined): KeyIdentity | undefined {
  if (!context || typeof context.keyId !== 'string' || typeof context.organizationId !== 'string') return undefined;
  const str = (name: string): string => (typeof context[name] === 'string' ? (context[name] as string) : '');
  return {
    keyId: context.keyId,
    organizationId: context.organizationId,
    type: str('type') === 'publishable' ? 'publishable' : 'secret',
    scopes: str('scopes').split(',').filter(Boolean) as Scope[],
    databaseId: str('databaseId') || null,
    assistantId: str('assistantId') || null,
    origin: str('origin') || null,
    expiresAt: str('expiresAt'),
    orgLimits: JSON.parse(str('orgLimits') || '{"perMinute":0,"perDay":0}') as Limits,
    orgLimitsVersion: Number(str('orgLimitsVersion')) || 0,
    keyLimits: str('keyLimits') ? (JSON.parse(str('keyLimits')) as Partial<Limits>) : null,
    rejection: (str('rejection') || null) as ErrorCode | null,
  };
}
