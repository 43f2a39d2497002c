// Session tokens (docs/api.md "Authentication"): short-lived HS256 JWTs naming one session, its organization,
// the key that created it and, for publishable keys, the Origin it is bound to. Verifying one needs
// no I/O; whether the session and its key are still alive is the session authenticator's job.
// The HMAC secret is SESSION_SECRET locally and a Secrets Manager secret (SESSION_SECRET_ARN) in
// AWS, fetched once per cold start. The Secrets Manager client is loaded by that first fetch, not when
// the function loads (docs/benchmarks.md, figure 4): a cold start whose request needs no token never
// pays for it, one that does pays it once, in its first request.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { errors, jwtVerify, SignJWT } from 'jose';
import { ApiError } from '../domain/errors.ts';

export const SESSION_TOKEN_ISSUER = 'keygate';
export const SESSION_TOKEN_AUDIENCE = 'keygate-session';
/** Tokens are refused beyond this size before any cryptography. */
const MAX_TOKEN_LENGTH = 4096;

export type SessionKind = 'chat' | 'voice';

export interface SessionClaims {
  sessionId: string;
  organizationId: string;
  keyId: string;
  type: SessionKind;
  /** The Origin a publishable-key session is bound to; null for secret-key sessions. */
  origin: string | null;
  expiresAt: Date;
}

let secretsClient: SecretsManagerClient | undefined;
let cachedKey: Promise<Uint8Array> | undefined;
/** The secret imported once as an HMAC key: jose would import the raw bytes again for every token it checks. */
let verifyKey: { from: Promise<Uint8Array>; key: Promise<HmacKey> } | undefined;
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

async function loadSecret(env: NodeJS.ProcessEnv): Promise<Uint8Array> {
  if (env.SESSION_SECRET) return new TextEncoder().encode(env.SESSION_SECRET);
  const arn = env.SESSION_SECRET_ARN;
  if (!arn) throw new Error('Missing environment variable SESSION_SECRET_ARN (or SESSION_SECRET locally)');
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  secretsClient ??= new SecretsManagerClient({ maxAttempts: 3 });
  const { SecretString } = await secretsClient.send(new GetSecretValueCommand({ SecretId: arn }));
  if (!SecretString) throw new Error('The session signing secret has no string value');
  return new TextEncoder().encode(SecretString);
}

/** The signing key, fetched once per process; a failed fetch is retried on the next request. */
export function sessionSigningKey(env: NodeJS.ProcessEnv = process.env): Promise<Uint8Array> {
  if (!cachedKey) {
    cachedKey = loadSecret(env);
    cachedKey.catch(() => {
      cachedKey = undefined;
    });
  }
  return cachedKey;
}

/** The signing key as a CryptoKey that verifies, imported once per key fetched. */
function sessionVerifyKey(): Promise<HmacKey> {
  const from = sessionSigningKey();
  if (verifyKey?.from !== from) {
    verifyKey = { from, key: from.then((raw) => crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])) };
  }
  return verifyKey.key;
}

/** Tests only: forget the cached key and client (a new cold start). */
export function resetSessionSigningKey(client?: SecretsManagerClient): void {
  cachedKey = undefined;
  verifyKey = undefined;
  secretsClient = client;
}

export async function signSessionToken(claims: SessionClaims): Promise<string> {
  return new SignJWT({
    org: claims.organizationId,
    key: claims.keyId,
    typ: claims.type,
    ...(claims.origin ? { origin: claims.origin } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(SESSION_TOKEN_ISSUER)
    .setAudience(SESSION_TOKEN_AUDIENCE)
    .setSubject(claims.sessionId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(await sessionSigningKey());
}

export type TokenVerdict =
  | { ok: true; claims: SessionClaims }
  /** Authentic, but past its expiry: the session has ended, not the token gone bad. */
  | { ok: false; reason: 'expired'; claims: SessionClaims }
  | { ok: false; reason: 'invalid' };

function claimsOf(payload: Record<string, unknown>): SessionClaims | undefined {
  const { sub, org, key, typ, origin, exp } = payload;
  if (typeof sub !== 'string' || typeof org !== 'string' || typeof key !== 'string' || typeof exp !== 'number') {
    return undefined;
  }
  if (typ !== 'chat' && typ !== 'voice') return undefined;
  if (origin !== undefined && typeof origin !== 'string') return undefined;
  return {
    sessionId: sub,
    organizationId: org,
    keyId: key,
    type: typ,
    origin: origin ?? null,
    expiresAt: new Date(exp * 1000),
  };
}

/** Check signature, issuer, audience and expiry. Never throws for a bad token. */
export async function verifySessionToken(token: string | undefined): Promise<TokenVerdict> {
  if (!token || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'invalid' };
  const secret = await sessionVerifyKey();
  try {
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ['HS256'],
      issuer: SESSION_TOKEN_ISSUER,
      audience: SESSION_TOKEN_AUDIENCE,
      requiredClaims: ['sub', 'exp'],
    });
    const claims = claimsOf(payload);
    return claims ? { ok: true, claims } : { ok: false, reason: 'invalid' };
  } catch (error) {
    // jose authenticates the token before validating claims, so an expired token is a real one.
    if (error instanceof errors.JWTExpired) {
      const claims = claimsOf(error.payload);
      if (claims && error.payload.iss === SESSION_TOKEN_ISSUER && error.payload.aud === SESSION_TOKEN_AUDIENCE) {
        return { ok: false, reason: 'expired', claims };
      }
    }
    return { ok: false, reason: 'invalid' };
  }
}

/** A verdict as the contract's error, for callers that only need a live token. */
export function requireLiveToken(verdict: TokenVerdict): SessionClaims {
  if (verdict.ok) return verdict.claims;
  throw new ApiError(verdict.reason === 'expired' ? 'SESSION_ENDED' : 'INVALID_TOKEN');
}
