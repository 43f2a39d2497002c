// Portal tokens of the local runtime, shaped like Cognito's (docs/api.md "Authentication") and signed with
// the local issuer's key, which the management function verifies through PORTAL_JWKS.
// POST /_dev/token hands one out directly; the stand-in sign-in (identity-provider.ts) issues the
// same tokens through the authorization-code flow. Local runtime only: never part of the CDK stack.
// A token with a verified email registers that email for that sub in the local user directory
// (shared/users/local-directory.ts), so owners can add the user as a member by email. A token with
// `email_verified: false` is what a user who changed their email in Cognito holds until they enter
// the code: the pool keeps their original email, so the directory records nothing for the new one.
import { SignJWT, importJWK, type JWK, type JWTPayload } from 'jose';
import { parseInput } from '../../shared/domain/validation.ts';
import { devTokenBody } from '../../shared/users/dev-token-body.ts';
import { normalizeEmail } from '../../shared/users/directory.ts';

export const LOCAL_ISSUER = 'https://keygate.local/portal';
export const LOCAL_CLIENT_ID = 'keygate-local';
export const TOKEN_LIFETIME_SECONDS = 12 * 60 * 60;

export interface PortalIdentity {
  sub: string;
  email?: string;
  /** Default true, as for an invited user (the invitation went to that address). */
  emailVerified?: boolean;
  groups?: string[];
}

/**
 * A token as Cognito would issue it: an ID token (`aud` is the client id) or an access token
 * (`client_id` names the client). `extra` adds claims such as the OIDC `nonce`.
 */
export async function signPortalToken(
  identity: PortalIdentity,
  privateJwk: JWK,
  use: 'id' | 'access' = 'id',
  extra: JWTPayload = {},
): Promise<string> {
  const alg = privateJwk.alg ?? 'RS256';
  const key = await importJWK(privateJwk, alg);
  const jwt = new SignJWT({
    ...extra,
    token_use: use,
    ...(use === 'id' && identity.email ? { email: identity.email, email_verified: identity.emailVerified ?? true } : {}),
    ...(use === 'access' ? { client_id: LOCAL_CLIENT_ID } : {}),
    'cognito:groups': identity.groups ?? [],
  })
    .setProtectedHeader({ alg, kid: privateJwk.kid! })
    .setIssuer(LOCAL_ISSUER)
    .setSubject(identity.sub)
    .setIssuedAt()
    .setExpirationTime(`${TOKEN_LIFETIME_SECONDS}s`);
  if (use === 'id') jwt.setAudience(LOCAL_CLIENT_ID);
  return jwt.sign(key);
}

export async function issueDevToken(body: unknown, privateJwk: JWK): Promise<{ token: string }> {
  const input = parseInput(devTokenBody, body);
  const email = input.email ? normalizeEmail(input.email) : undefined;
  const emailVerified = input.email_verified ?? true;
  if (email && emailVerified) {
    // Loaded on use: the directory's DynamoDB client must see the environment the runtime sets up.
    const { localUserDirectory } = await import('../../shared/users/local-directory.ts');
    await localUserDirectory().register({ userId: input.sub, email });
  }
  const identity: PortalIdentity = {
    sub: input.sub,
    ...(input.groups ? { groups: input.groups } : {}),
    ...(email ? { email, emailVerified } : {}),
  };
  return { token: await signPortalToken(identity, privateJwk) };
}
