// The local stand-in for Cognito managed login (docs/api.md "Portal (web)"): the same OIDC
// authorization-code flow with PKCE the portal runs against Cognito in AWS, so one code path
// serves `npm start`, the browser tests and a deployment. Any email signs in; a checkbox adds the
// operators group. Local runtime only: never part of the CDK stack.
//
//   GET  /.well-known/openid-configuration   discovery
//   GET  /.well-known/jwks.json               the public key the management function trusts
//   GET  /oauth2/authorize                    sign-in page (Email, Operator, Sign in)
//   POST /oauth2/authorize                    the form: redirects back with ?code&state
//   POST /oauth2/token                        code + PKCE verifier -> ID and access tokens
//   GET  /logout?client_id&logout_uri         ends the (stateless) session, back to logout_uri
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JWK } from 'jose';
import { z } from 'zod';
import { OPERATORS_GROUP } from '../../shared/domain/roles.ts';
import { localUserId } from '../../shared/users/directory.ts';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER, signPortalToken, TOKEN_LIFETIME_SECONDS } from './dev-token.ts';

/** Codes are single-use and short-lived, as Cognito's (5 minutes). */
const CODE_LIFETIME_MS = 5 * 60 * 1000;
const SCOPES = 'openid email profile';

export const IDP_PATHS = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/.well-known/jwks.json',
  authorize: '/oauth2/authorize',
  token: '/oauth2/token',
  logout: '/logout',
} as const;

/**
 * The user id a signed-in email gets: stable, so signing in again finds the same organizations.
 * The local user directory's derivation (an invited email signs in as the invited user).
 */
export function localUserIdFor(email: string): string {
  return localUserId(email);
}

/** Who an email signs in as: the local user directory (shared/users/local-directory.ts) in the runtime. */
export interface LocalSignIn {
  signIn(email: string): Promise<{ userId: string }>;
}

export interface IdpRequest {
  method: string;
  url: URL;
  /** The origin the browser used to reach the runtime (`http://localhost:3000`). */
  origin: string;
  headers: Record<string, string>;
  body: string;
}

export interface IdpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface PendingCode {
  sub: string;
  email: string;
  groups: string[];
  redirectUri: string;
  codeChallenge: string;
  nonce: string | undefined;
  scope: string;
  expiresAt: number;
}

const authorizeQuery = z.object({
  response_type: z.literal('code', { error: 'only the authorization code flow is supported' }),
  client_id: z.literal(LOCAL_CLIENT_ID, { error: `the local client id is ${LOCAL_CLIENT_ID}` }),
  redirect_uri: z.url({ error: 'must be a URL' }),
  state: z.string().max(2048).optional(),
  nonce: z.string().max(2048).optional(),
  scope: z.string().max(512).optional(),
  code_challenge: z.string({ error: 'PKCE is required' }).regex(/^[A-Za-z0-9_-]{43,128}$/, 'must be a base64url S256 challenge'),
  code_challenge_method: z.literal('S256', { error: 'must be S256' }),
});

const signInForm = authorizeQuery.extend({
  email: z.email({ error: 'Enter an email address, like you@example.com' }).max(254),
  operator: z.literal('on').optional(),
});

const tokenForm = z.object({
  grant_type: z.literal('authorization_code'),
  code: z.string().min(1).max(256),
  redirect_uri: z.string().min(1),
  client_id: z.literal(LOCAL_CLIENT_ID),
  code_verifier: z.string().regex(/^[A-Za-z0-9._~-]{43,128}$/),
});

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const PAGE_STYLE = `body{font-family:system-ui,sans-serif;margin:0;color:#111827;background:#f3f4f6;line-height:1.5}
main{max-width:24rem;margin:3rem auto;background:#fff;padding:1.5rem;border-radius:8px;border:1px solid #d1d5db}
label{display:block;margin:.75rem 0;font-weight:600}
input[type=email]{display:block;width:100%;box-sizing:border-box;font:inherit;padding:.4rem .5rem;margin-top:.25rem;border:1px solid #6b7280;border-radius:4px}
.check{display:flex;gap:.5rem;align-items:center;font-weight:400}
.check input{width:1.1rem;height:1.1rem}
button{font:inherit;padding:.5rem 1rem;border-radius:4px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.hint{color:#4b5563;font-size:.9rem}
.alert{border:2px solid #b91c1c;background:#fef2f2;color:#7f1d1d;padding:.5rem .75rem;border-radius:6px}
`;
/** The page's one inline style block, allowed by its hash (no 'unsafe-inline'). */
const STYLE_HASH = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`;

const HTML_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
};

function json(status: number, body: unknown, headers: Record<string, string> = {}): IdpResponse {
  return { status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers }, body: JSON.stringify(body) };
}

function page(status: number, title: string, content: string): IdpResponse {
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Keygate (local)</title>
<style>${PAGE_STYLE}</style>
</head>
<body><main>${content}</main></body>
</html>`;
  return { status, headers: HTML_HEADERS, body };
}

function errorPage(message: string): IdpResponse {
  return page(400, 'Sign-in error', `<h1>Sign-in error</h1><p role="alert" class="alert">${escapeHtml(message)}</p>`);
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'invalid request';
}

/** PKCE S256: BASE64URL(SHA-256(verifier)) must equal the challenge sent to /authorize. */
function pkceMatches(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

export interface LocalIdentityProvider {
  /** Answers the provider's paths; undefined for any other path. */
  handle(request: IdpRequest): Promise<IdpResponse | undefined>;
}

/** Without `users` (unit tests) an email signs in as `localUserIdFor(email)`, with no directory record. */
export function createLocalIdentityProvider(options: { privateJwk: JWK; publicJwk: JWK; users?: LocalSignIn }): LocalIdentityProvider {
  const codes = new Map<string, PendingCode>();

  function signInPage(query: z.infer<typeof authorizeQuery>, error?: string, email = ''): IdpResponse {
    const hidden = Object.entries(query)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(String(value))}">`)
      .join('\n');
    return page(
      error ? 400 : 200,
      'Sign in',
      `<h1>Sign in to Keygate</h1>
<p class="hint">Local sign-in: any email signs in, no password. In AWS this page is Cognito's managed login.</p>
${error ? `<p role="alert" class="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${IDP_PATHS.authorize}">
${hidden}
<label for="email">Email</label>
<input type="email" id="email" name="email" required autocomplete="email" autofocus value="${escapeHtml(email)}"${error ? ' aria-invalid="true"' : ''}>
<label class="check"><input type="checkbox" name="operator"> Operator</label>
<p class="hint">Operators are platform staff: they change plans and credits of any organization.</p>
<button type="submit">Sign in</button>
</form>`,
    );
  }

  /** Redirect URIs must point back at the runtime itself (the portal it serves), as Cognito allows only registered ones. */
  function checkRedirect(redirectUri: string, origin: string): string | undefined {
    return new URL(redirectUri).origin === origin ? undefined : `redirect_uri must be on ${origin}`;
  }

  async function token(request: IdpRequest): Promise<IdpResponse> {
    const parsed = tokenForm.safeParse(Object.fromEntries(new URLSearchParams(request.body)));
    if (!parsed.success) return json(400, { error: 'invalid_request', error_description: firstIssue(parsed.error) });
    const form = parsed.data;
    const pending = codes.get(form.code);
    codes.delete(form.code); // single use, whatever happens next
    if (!pending || pending.expiresAt < Date.now()) return json(400, { error: 'invalid_grant', error_description: 'unknown, used or expired code' });
    if (pending.redirectUri !== form.redirect_uri) return json(400, { error: 'invalid_grant', error_description: 'redirect_uri does not match' });
    if (!pkceMatches(form.code_verifier, pending.codeChallenge)) {
      return json(400, { error: 'invalid_grant', error_description: 'code_verifier does not match the code_challenge' });
    }
    // The stand-in's sign-in proves nothing about the email, but it stands for Cognito's, where an
    // invited user's email is verified (the invitation went to it).
    const identity = { sub: pending.sub, email: pending.email, emailVerified: true, groups: pending.groups };
    const authTime = Math.floor(Date.now() / 1000);
    const [idToken, accessToken] = await Promise.all([
      signPortalToken(identity, options.privateJwk, 'id', { auth_time: authTime, ...(pending.nonce ? { nonce: pending.nonce } : {}) }),
      signPortalToken(identity, options.privateJwk, 'access', { auth_time: authTime, scope: pending.scope }),
    ]);
    return json(200, { id_token: idToken, access_token: accessToken, token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS });
  }

  async function handle(request: IdpRequest): Promise<IdpResponse | undefined> {
    const { method, url, origin } = request;
    switch (`${method} ${url.pathname}`) {
      case `GET ${IDP_PATHS.discovery}`:
        return json(200, {
          // The tokens' `iss` is the fixed local issuer the management function trusts, whatever port serves it.
          issuer: LOCAL_ISSUER,
          authorization_endpoint: origin + IDP_PATHS.authorize,
          token_endpoint: origin + IDP_PATHS.token,
          jwks_uri: origin + IDP_PATHS.jwks,
          end_session_endpoint: origin + IDP_PATHS.logout,
          response_types_supported: ['code'],
          grant_types_supported: ['authorization_code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: [options.publicJwk.alg ?? 'RS256'],
          scopes_supported: SCOPES.split(' '),
          token_endpoint_auth_methods_supported: ['none'],
          code_challenge_methods_supported: ['S256'],
          claims_supported: ['sub', 'email', 'email_verified', 'cognito:groups', 'nonce'],
        });
      case `GET ${IDP_PATHS.jwks}`:
        return json(200, { keys: [options.publicJwk] }, { 'Cache-Control': 'public, max-age=300' });
      case `GET ${IDP_PATHS.authorize}`: {
        const query = authorizeQuery.safeParse(Object.fromEntries(url.searchParams));
        if (!query.success) return errorPage(firstIssue(query.error));
        const bad = checkRedirect(query.data.redirect_uri, origin);
        return bad ? errorPage(bad) : signInPage(query.data);
      }
      case `POST ${IDP_PATHS.authorize}`: {
        const fields = Object.fromEntries(new URLSearchParams(request.body));
        const query = authorizeQuery.safeParse(fields);
        if (!query.success) return errorPage(firstIssue(query.error));
        const bad = checkRedirect(query.data.redirect_uri, origin);
        if (bad) return errorPage(bad);
        const form = signInForm.safeParse(fields);
        if (!form.success) return signInPage(query.data, form.error.issues[0]?.message ?? 'Enter an email address', String(fields.email ?? ''));
        const email = form.data.email.trim().toLowerCase();
        const code = randomBytes(24).toString('base64url');
        codes.set(code, {
          sub: options.users ? (await options.users.signIn(email)).userId : localUserIdFor(email),
          email,
          groups: form.data.operator ? [OPERATORS_GROUP] : [],
          redirectUri: form.data.redirect_uri,
          codeChallenge: form.data.code_challenge,
          nonce: form.data.nonce,
          scope: form.data.scope ?? SCOPES,
          expiresAt: Date.now() + CODE_LIFETIME_MS,
        });
        const back = new URL(form.data.redirect_uri);
        back.searchParams.set('code', code);
        if (form.data.state !== undefined) back.searchParams.set('state', form.data.state);
        return { status: 302, headers: { Location: back.toString(), 'Cache-Control': 'no-store' }, body: '' };
      }
      case `POST ${IDP_PATHS.token}`:
        return token(request);
      case `GET ${IDP_PATHS.logout}`: {
        // Cognito's /logout: client_id and logout_uri (a registered sign-out URL) are required.
        const logoutUri = url.searchParams.get('logout_uri') ?? '';
        if (url.searchParams.get('client_id') !== LOCAL_CLIENT_ID) return errorPage(`client_id must be ${LOCAL_CLIENT_ID}`);
        if (!URL.canParse(logoutUri) || new URL(logoutUri).origin !== origin) return errorPage(`logout_uri must be on ${origin}`);
        return { status: 302, headers: { Location: logoutUri, 'Cache-Control': 'no-store' }, body: '' };
      }
      default:
        return undefined;
    }
  }

  return { handle };
}
