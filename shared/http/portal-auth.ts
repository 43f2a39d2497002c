// Portal tokens: user-pool JWTs (Cognito in AWS, the local issuer in the local runtime), verified
// with jose. In AWS the keys come from the pool's JWKS; locally PORTAL_JWKS holds the public key set.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ApiError } from '../domain/errors.ts';
import { OPERATORS_GROUP } from '../domain/roles.ts';

export interface PortalUser {
  userId: string;
  email?: string;
  isOperator: boolean;
}

let keySet: JWTVerifyGetKey | undefined;

function keys(env: NodeJS.ProcessEnv): JWTVerifyGetKey {
  if (!keySet) {
    keySet = env.PORTAL_JWKS
      ? createLocalJWKSet(JSON.parse(env.PORTAL_JWKS))
      : createRemoteJWKSet(new URL(`${requiredEnv(env, 'PORTAL_ISSUER')}/.well-known/jwks.json`));
  }
  return keySet;
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
    }));
  } catch (error) {
    if (error instanceof Error && /fetch|network|ECONN/i.test(error.message)) {
      throw new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' });
    }
    throw new ApiError('INVALID_TOKEN');
  }
  // Cognito ID tokens name the app client in `aud`, access tokens in `client_id`.
  const clientId = requiredEnv(env, 'PORTAL_CLIENT_ID');
  const audience = payload.aud ?? payload.client_id;
  const audiences = Array.isArray(audience) ? audience : [audience];
  if (!audiences.includes(clientId) || typeof payload.sub !== 'string' || payload.sub === '') {
    throw new ApiError('INVALID_TOKEN');
  }
  const groups = payload['cognito:groups'];
  return {
    userId: payload.sub,
    ...(typeof payload.email === 'string' ? { email: payload.email } : {}),
    isOperator: Array.isArray(groups) && groups.includes(OPERATORS_GROUP),
  };
}
