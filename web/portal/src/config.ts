// Runtime settings, read from /config.json so one build serves every stage: written by the CDK
// stack at deploy time (API URL, Cognito) and by the local runtime (itself as API and issuer).
export interface PortalConfig {
  /** Base URL of the Keygate API, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod/ */
  apiUrl: string;
  /** OIDC issuer whose discovery document the sign-in reads (Cognito, or the local stand-in). */
  authority: string;
  clientId: string;
  /** Where signing out ends the provider's session (Cognito's /logout, with client_id and logout_uri). */
  signOutUrl: string;
  /** OAuth scopes to ask for. */
  scope?: string;
}

export async function loadConfig(): Promise<PortalConfig> {
  let response: Response;
  try {
    response = await fetch('/config.json', { cache: 'no-store' });
  } catch {
    throw new Error('The portal settings (/config.json) could not be loaded. Check your connection and reload.');
  }
  if (!response.ok) throw new Error(`The portal settings (/config.json) answered ${response.status}.`);
  const config = (await response.json()) as Partial<PortalConfig>;
  for (const field of ['apiUrl', 'authority', 'clientId', 'signOutUrl'] as const) {
    if (typeof config[field] !== 'string' || config[field] === '') throw new Error(`The portal settings lack "${field}".`);
  }
  return config as PortalConfig;
}
