// Portal tokens: user-pool JWTs (Cognito in AWS, the local issuer in the local runtime), verified
// with jose. In AWS the keys come from the pool's JWKS; locally PORTAL_JWKS holds the public key set.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ApiError } from '../domain/errors.ts';
import { OPERATORS_GROUP } from '../domain/roles.ts';

export interface PortalUser {
  userId: string;
  /** The token's `email` claim, only when `email_verified` is true. */
  email?: string;
  isOperator: boolean;
}

/** The key set, built once per configuration (a warm Lambda reuses it and its JWKS cache). */
let keySet: { source: string; get: JWTVerifyGetKey } | undefined;

function keys(env: NodeJS.ProcessEnv): JWTVerifyGetKey {
  const source = env.PORTAL_JWKS ?? requiredEnv(env, 'PORTAL_ISSUER');
  if (keySet?.source !== source) {
    keySet = {
      source,
      get: env.PORTAL_JWKS
        ? createLocalJWKSet(JSON.parse(env.PORTAL_JWKS))
        : createRemoteJWKSet(new URL(`${source}/.well-known/jwks.json`), { timeoutDuration: 3_000 }),
    };
  }
  return keySet.get;
}

function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`Missing environment variable ${name}`);
  return value;
}

export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}

/**
 * The user pool's key set could not be fetched (timeout, network, non-200): a dependency is down,
 * which is a 503, not the caller's fault. A key set without the token's key is a bad token.
 */
function isKeySetUnavailable(error: unknown): boolean {
  if (error instanceof TypeError) return true; // fetch failed
  const e = error as { code?: string; message?: string };
  return e?.code === 'ERR_JWKS_TIMEOUT' || (e?.code === 'ERR_JOSE_GENERIC' && /Expected 200 OK/.test(e.message ?? ''));
}

/** The signed-in portal user, or INVALID_TOKEN. */
export async function verifyPortalToken(
  authorization: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PortalUser> {
  const token = bearerToken(authorization);
  if (!token || token.length > 8192) throw new ApiError('INVALID_TOKEN');
  let payload;
  try {
    ({ payload } = await jwtVerify(token, keys(env), {
      issuer: requiredEnv(env, 'PORTAL_ISSUER'),
      algorithms: ['RS256', 'ES256'],
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    if (isKeySetUnavailable(error)) throw new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' });
    throw new ApiError('INVALID_TOKEN');
  }
  if (payload.token_use !== 'id' && payload.token_use !== 'access') throw new ApiError('INVALID_TOKEN');
  // Cognito ID tokens name the app client in `aud`, access tokens in `client_id`.
  const clientId = requiredEnv(env, 'PORTAL_CLIENT_ID');
  const audience = payload.aud ?? payload.client_id;
  const audiences = Array.isArray(audience) ? audience : [audience];
  if (!audiences.includes(clientId) || typeof payload.sub !== 'string' || payload.sub === '') {
    throw new ApiError('INVALID_TOKEN');
  }
  const groups = payload['cognito:groups'];
  // An email counts only once verified: an unverified one may be anybody's (docs/api.md "Authentication").
  const verified = payload.email_verified === true || payload.email_verified === 'true';
  return {
    userId: payload.sub,
    ...(typeof payload.email === 'string' && verified ? { email: payload.email } : {}),
    isOperator: Array.isArray(groups) && groups.includes(OPERATORS_GROUP),
  };
}
