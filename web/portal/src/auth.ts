// Sign-in with oidc-client-ts: authorization code + PKCE against the issuer config.json names
// (Cognito managed login in AWS, the local runtime's stand-in locally). Tokens live in
// sessionStorage (oidc-client-ts's default): they are not API keys, and they end with the tab.
import { UserManager, type User } from 'oidc-client-ts';
import type { PortalConfig } from './config.ts';
import { safeReturnPath } from './return-path.ts';

export const CALLBACK_PATH = '/callback';
const OPERATORS_GROUP = 'operators';

export interface SignedInUser {
  /** The ID token: what the management API verifies (docs/api.md "Authentication"). */
  token: string;
  userId: string;
  email: string | undefined;
  isOperator: boolean;
  expiresAt: number | undefined;
}

export class Auth {
  private readonly manager: UserManager;
  private readonly config: PortalConfig;

  constructor(config: PortalConfig) {
    this.config = config;
    const origin = window.location.origin;
    this.manager = new UserManager({
      authority: config.authority,
      client_id: config.clientId,
      redirect_uri: origin + CALLBACK_PATH,
      post_logout_redirect_uri: origin + '/',
      response_type: 'code',
      scope: config.scope ?? 'openid email profile',
      loadUserInfo: false,
      automaticSilentRenew: false,
    });
  }

  async current(): Promise<SignedInUser | undefined> {
    const user = await this.manager.getUser();
    if (!user || user.expired || !user.id_token) return undefined;
    return toSignedIn(user);
  }

  /** Leaves the page for the provider's sign-in; comes back at /callback. */
  signIn(returnTo: string): Promise<void> {
    return this.manager.signinRedirect({ state: { returnTo } });
  }

  /** Completes the code exchange (PKCE verifier from sessionStorage); returns where to go next. */
  async completeSignIn(): Promise<{ user: SignedInUser; returnTo: string }> {
    const user = await this.manager.signinRedirectCallback();
    const state = user.state as { returnTo?: string } | undefined;
    const returnTo = safeReturnPath(state?.returnTo);
    return { user: toSignedIn(user), returnTo };
  }

  /** Forgets the tokens here, then ends the provider's session (Cognito's /logout takes these two parameters). */
  async signOut(): Promise<void> {
    await this.manager.removeUser();
    const url = new URL(this.config.signOutUrl);
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('logout_uri', window.location.origin + '/');
    window.location.assign(url.toString());
  }
}

function toSignedIn(user: User): SignedInUser {
  const groups = user.profile['cognito:groups'];
  return {
    token: user.id_token!,
    userId: user.profile.sub,
    email: typeof user.profile.email === 'string' ? user.profile.email : undefined,
    isOperator: Array.isArray(groups) && groups.includes(OPERATORS_GROUP),
    expiresAt: user.expires_at,
  };
}
