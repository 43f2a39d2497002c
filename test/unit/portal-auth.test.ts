// Portal token verification: what counts as a user-pool token, and what is a 401 vs a 503.
import { SignJWT, importJWK, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from '../../infra/local/dev-token.ts';
import { loadLocalSecrets, type LocalSecrets } from '../../infra/local/local-secrets.ts';
import { verifyPortalToken } from '../../shared/http/portal-auth.ts';

let secrets: LocalSecrets;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  secrets = await loadLocalSecrets();
  env = { PORTAL_ISSUER: LOCAL_ISSUER, PORTAL_CLIENT_ID: LOCAL_CLIENT_ID, PORTAL_JWKS: JSON.stringify({ keys: [secrets.portalPublicJwk] }) };
});

async function token(claims: JWTPayload, options: { exp?: string | false; iss?: string; aud?: string } = {}): Promise<string> {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: secrets.portalPrivateJwk.alg!, kid: secrets.portalPrivateJwk.kid! })
    .setIssuer(options.iss ?? LOCAL_ISSUER)
    .setAudience(options.aud ?? LOCAL_CLIENT_ID)
    .setSubject('user-1');
  if (options.exp !== false) jwt = jwt.setExpirationTime(options.exp ?? '5m');
  return jwt.sign(await importJWK(secrets.portalPrivateJwk, secrets.portalPrivateJwk.alg!));
}

const code = (promise: Promise<unknown>) => promise.then(() => 'ok', (e: { code?: string }) => e.code);

describe('verifyPortalToken', () => {
  it('accepts an ID token and reads operators from cognito:groups', async () => {
    const user = await verifyPortalToken(`Bearer ${await token({ token_use: 'id', 'cognito:groups': ['operators'] })}`, env);
    expect(user).toEqual({ userId: 'user-1', isOperator: true });
  });

  it('uses the email claim only when email_verified is true', async () => {
    const email = 'cfo@victim.example';
    expect((await verifyPortalToken(`Bearer ${await token({ token_use: 'id', email, email_verified: true })}`, env)).email).toBe(email);
    expect((await verifyPortalToken(`Bearer ${await token({ token_use: 'id', email, email_verified: 'true' })}`, env)).email).toBe(email);
    for (const claims of [{ email }, { email, email_verified: false }, { email, email_verified: 'false' }]) {
      const user = await verifyPortalToken(`Bearer ${await token({ token_use: 'id', ...claims })}`, env);
      expect(user, JSON.stringify(claims)).toEqual({ userId: 'user-1', isOperator: false });
    }
  });

  it('accepts an access token naming the app client in client_id', async () => {
    const jwt = await new SignJWT({ token_use: 'access', client_id: LOCAL_CLIENT_ID })
      .setProtectedHeader({ alg: secrets.portalPrivateJwk.alg!, kid: secrets.portalPrivateJwk.kid! })
      .setIssuer(LOCAL_ISSUER)
      .setSubject('user-2')
      .setExpirationTime('5m')
      .sign(await importJWK(secrets.portalPrivateJwk, secrets.portalPrivateJwk.alg!));
    expect((await verifyPortalToken(`Bearer ${jwt}`, env)).userId).toBe('user-2');
  });

  it.each([
    ['no token_use', () => token({})],
    ['a refresh-like token_use', () => token({ token_use: 'refresh' })],
    ['no exp', () => token({ token_use: 'id' }, { exp: false })],
    ['an expired token', () => token({ token_use: 'id' }, { exp: '-1m' })],
    ['another issuer', () => token({ token_use: 'id' }, { iss: 'https://evil.example' })],
    ['another app client', () => token({ token_use: 'id' }, { aud: 'other-client' })],
    ['an unsigned token', async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`],
  ])('refuses %s with INVALID_TOKEN', async (_, make) => {
    expect(await code(verifyPortalToken(`Bearer ${await make()}`, env))).toBe('INVALID_TOKEN');
  });

  it('answers 503 when the user pool key set cannot be fetched', async () => {
    const down = { PORTAL_ISSUER: 'http://127.0.0.1:9/pool', PORTAL_CLIENT_ID: LOCAL_CLIENT_ID };
    expect(await code(verifyPortalToken(`Bearer ${await token({ token_use: 'id' })}`, down))).toBe('SERVICE_UNAVAILABLE');
  });
});
