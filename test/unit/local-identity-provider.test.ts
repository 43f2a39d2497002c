// The local stand-in sign-in (docs/api.md "Portal (web)"): the authorization-code flow with PKCE, and
// tokens the management function's own verifier accepts.
import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyPortalToken } from '../../shared/http/portal-auth.ts';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from '../../infra/local/dev-token.ts';
import { createLocalIdentityProvider, localUserIdFor, type IdpResponse } from '../../infra/local/identity-provider.ts';
import { loadLocalSecrets, type LocalSecrets } from '../../infra/local/local-secrets.ts';

const ORIGIN = 'http://localhost:4321';
const REDIRECT = `${ORIGIN}/callback`;

let secrets: LocalSecrets;
let idp: ReturnType<typeof createLocalIdentityProvider>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  secrets = await loadLocalSecrets();
  idp = createLocalIdentityProvider({ privateJwk: secrets.portalPrivateJwk, publicJwk: secrets.portalPublicJwk });
  env = { PORTAL_ISSUER: LOCAL_ISSUER, PORTAL_CLIENT_ID: LOCAL_CLIENT_ID, PORTAL_JWKS: JSON.stringify({ keys: [secrets.portalPublicJwk] }) };
});

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function call(method: string, path: string, body = ''): Promise<IdpResponse> {
  const answer = await idp.handle({ method, url: new URL(path, ORIGIN), origin: ORIGIN, headers: {}, body });
  if (!answer) throw new Error(`no answer for ${method} ${path}`);
  return answer;
}

function authorizeParams(challenge: string, extra: Record<string, string> = {}) {
  return new URLSearchParams({
    response_type: 'code',
    client_id: LOCAL_CLIENT_ID,
    redirect_uri: REDIRECT,
    state: 'state-1',
    nonce: 'nonce-1',
    scope: 'openid email profile',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
}

/** Submits the sign-in form; returns the code from the redirect. */
async function signIn(challenge: string, email: string, operator: boolean): Promise<string> {
  const form = authorizeParams(challenge, { email, ...(operator ? { operator: 'on' } : {}) });
  const res = await call('POST', '/oauth2/authorize', form.toString());
  expect(res.status).toBe(302);
  const location = new URL(res.headers.Location!);
  expect(location.origin + location.pathname).toBe(REDIRECT);
  expect(location.searchParams.get('state')).toBe('state-1');
  return location.searchParams.get('code')!;
}

function exchange(code: string, verifier: string, redirectUri = REDIRECT) {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: LOCAL_CLIENT_ID, code_verifier: verifier });
  return call('POST', '/oauth2/token', form.toString());
}

describe('local identity provider', () => {
  it('discovery names its endpoints on the origin it was reached at', async () => {
    const res = await call('GET', '/.well-known/openid-configuration');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body as string)).toMatchObject({
      issuer: LOCAL_ISSUER,
      authorization_endpoint: `${ORIGIN}/oauth2/authorize`,
      token_endpoint: `${ORIGIN}/oauth2/token`,
      jwks_uri: `${ORIGIN}/.well-known/jwks.json`,
      end_session_endpoint: `${ORIGIN}/logout`,
      code_challenge_methods_supported: ['S256'],
    });
    const jwks = JSON.parse((await call('GET', '/.well-known/jwks.json')).body as string);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0].d).toBeUndefined(); // never the private part
  });

  it('the sign-in page has the Email textbox, Operator checkbox and Sign in button, and keeps the request', async () => {
    const { challenge } = pkce();
    const res = await call('GET', `/oauth2/authorize?${authorizeParams(challenge)}`);
    expect(res.status).toBe(200);
    expect(res.headers['Content-Type']).toContain('text/html');
    const html = res.body as string;
    expect(html).toMatch(/<label for="email">Email<\/label>\s*<input type="email" id="email" name="email"/);
    expect(html).toContain('<input type="checkbox" name="operator"> Operator</label>');
    expect(html).toContain('<button type="submit">Sign in</button>');
    expect(html).toContain(`name="code_challenge" value="${challenge}"`);
  });

  it('a code and its PKCE verifier give an ID token the management API accepts, once', async () => {
    const { verifier, challenge } = pkce();
    const code = await signIn(challenge, 'Ann@Example.com', true);
    const res = await exchange(code, verifier);
    expect(res.status).toBe(200);
    const tokens = JSON.parse(res.body as string);
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 43_200 });
    const user = await verifyPortalToken(`Bearer ${tokens.id_token}`, env);
    expect(user).toEqual({ userId: localUserIdFor('ann@example.com'), email: 'ann@example.com', isOperator: true });
    const payload = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString());
    expect(payload.nonce).toBe('nonce-1');
    expect((await verifyPortalToken(`Bearer ${tokens.access_token}`, env)).isOperator).toBe(true);

    const again = await exchange(code, verifier);
    expect(again.status).toBe(400);
    expect(JSON.parse(again.body as string).error).toBe('invalid_grant');
  });

  it('without the operator box the user is not an operator; the same email is the same user', async () => {
    const { verifier, challenge } = pkce();
    const tokens = JSON.parse((await exchange(await signIn(challenge, 'ann@example.com', false), verifier)).body as string);
    expect(await verifyPortalToken(`Bearer ${tokens.id_token}`, env)).toEqual({
      userId: localUserIdFor('ann@example.com'),
      email: 'ann@example.com',
      isOperator: false,
    });
  });

  it('a wrong verifier or redirect URI gets no tokens', async () => {
    const { verifier, challenge } = pkce();
    const wrongVerifier = await exchange(await signIn(challenge, 'bob@example.com', false), pkce().verifier);
    expect(wrongVerifier.status).toBe(400);
    expect(JSON.parse(wrongVerifier.body as string)).toMatchObject({ error: 'invalid_grant' });
    const wrongRedirect = await exchange(await signIn(challenge, 'bob@example.com', false), verifier, `${ORIGIN}/elsewhere`);
    expect(wrongRedirect.status).toBe(400);
  });

  it('refuses a request without PKCE, or redirecting to another origin, with a readable page', async () => {
    const noPkce = authorizeParams('x');
    noPkce.delete('code_challenge');
    const res = await call('GET', `/oauth2/authorize?${noPkce}`);
    expect(res.status).toBe(400);
    expect(res.body).toContain('role="alert"');
    const foreign = await call('GET', `/oauth2/authorize?${authorizeParams(pkce().challenge, { redirect_uri: 'https://evil.example/cb' })}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body).toContain(`redirect_uri must be on ${ORIGIN}`);
  });

  it('a bad email shows the form again with an alert, never a redirect', async () => {
    const res = await call('POST', '/oauth2/authorize', authorizeParams(pkce().challenge, { email: 'not-an-email' }).toString());
    expect(res.status).toBe(400);
    expect(res.body).toContain('role="alert"');
    expect(res.body).toContain('value="not-an-email"');
  });

  it('logout returns to the portal, and only to this origin', async () => {
    const ok = await call('GET', `/logout?client_id=${LOCAL_CLIENT_ID}&logout_uri=${encodeURIComponent(`${ORIGIN}/`)}`);
    expect(ok.status).toBe(302);
    expect(ok.headers.Location).toBe(`${ORIGIN}/`);
    const foreign = await call('GET', `/logout?client_id=${LOCAL_CLIENT_ID}&logout_uri=${encodeURIComponent('https://evil.example/')}`);
    expect(foreign.status).toBe(400);
  });
});
