// POST /_dev/token: the local stand-in for signing in to the portal. It signs a token shaped like a
// Cognito ID token with the local issuer's key. Local runtime only: never part of the CDK stack.
import { SignJWT, importJWK, type JWK } from 'jose';
import { z } from 'zod';
import { objectBody, parseInput } from '../../shared/domain/validation.ts';

export const LOCAL_ISSUER = 'https://keygate.local/portal';
export const LOCAL_CLIENT_ID = 'keygate-local';
const TOKEN_LIFETIME = '12h';

const tokenRequest = objectBody({
  sub: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(128).regex(/^[\w@.:+-]+$/, 'must be a user id'),
  email: z.email({ error: 'must be an email address' }).max(254).optional(),
  groups: z.array(z.string().min(1).max(64), { error: 'must be an array of group names' }).max(20).optional(),
});

export async function issueDevToken(body: unknown, privateJwk: JWK): Promise<{ token: string }> {
  const input = parseInput(tokenRequest, body);
  const key = await importJWK(privateJwk, 'ES256');
  const token = await new SignJWT({
    token_use: 'id',
    ...(input.email ? { email: input.email } : {}),
    'cognito:groups': input.groups ?? [],
  })
    .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid! })
    .setIssuer(LOCAL_ISSUER)
    .setAudience(LOCAL_CLIENT_ID)
    .setSubject(input.sub)
    .setIssuedAt()
    .setExpirationTime(TOKEN_LIFETIME)
    .sign(key);
  return { token };
}
