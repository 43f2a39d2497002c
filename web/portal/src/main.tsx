// The Keygate portal: loads /config.json, signs the user in (authorization code + PKCE), then
// renders the pages for the selected organization.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Auth, CALLBACK_PATH, type SignedInUser } from './auth.ts';
import { loadConfig, type PortalConfig } from './config.ts';
import { navigate } from './router.tsx';
import { SessionProvider } from './session.tsx';
import { Shell } from './shell.tsx';
import { ErrorAlert, ErrorBoundary } from './ui.tsx';
import './styles.css';

type Boot =
  | { kind: 'loading' }
  | { kind: 'failed'; error: unknown; auth?: Auth }
  | { kind: 'signed-out'; auth: Auth }
  | { kind: 'signed-in'; config: PortalConfig; auth: Auth; user: SignedInUser };

async function boot(): Promise<Boot> {
  const config = await loadConfig();
  const auth = new Auth(config);
  if (window.location.pathname === CALLBACK_PATH) {
    try {
      const { user, returnTo } = await auth.completeSignIn();
      navigate(returnTo, { replace: true }); // drops ?code&state from the address bar
      return { kind: 'signed-in', config, auth, user };
    } catch (error) {
      navigate('/', { replace: true });
      return { kind: 'failed', error: new Error(`Signing in did not complete: ${(error as Error).message}`), auth };
    }
  }
  const user = await auth.current();
  return user ? { kind: 'signed-in', config, auth, user } : { kind: 'signed-out', auth };
}

function SignedOut(props: { auth?: Auth; error?: unknown }) {
  return (
    <main class="page narrow" id="main">
      <h1>Keygate portal</h1>
      <p>Create and manage API keys, widget keys, members and usage for your organizations.</p>
      <ErrorAlert error={props.error} />
      {props.auth ? (
        <button
          type="button"
          class="primary"
          onClick={() => void props.auth!.signIn(window.location.pathname === '/' ? '/organization/api-key' : window.location.pathname)}
        >
          Sign in
        </button>
      ) : null}
    </main>
  );
}

function Root() {
  const [state, setState] = useState<Boot>({ kind: 'loading' });
  useEffect(() => {
    boot().then(setState, (error: unknown) => setState({ kind: 'failed', error }));
  }, []);
  switch (state.kind) {
    case 'loading':
      return <p role="status">Loading…</p>;
    case 'failed':
      return <SignedOut error={state.error} {...(state.auth ? { auth: state.auth } : {})} />;
    case 'signed-out':
      return <SignedOut auth={state.auth} />;
    case 'signed-in':
      return (
        <SessionProvider config={state.config} auth={state.auth} user={state.user}>
          <Shell />
        </SessionProvider>
      );
  }
}

render(
  <ErrorBoundary>
    <Root />
  </ErrorBoundary>,
  document.getElementById('app')!,
);
