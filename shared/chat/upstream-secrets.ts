// An upstream's secret (an OpenAI-compatible API key, an http upstream's signing secret). Locally it
// is written in KEYGATE_UPSTREAMS; in AWS it is a Secrets Manager secret named in the configuration,
// read on first use and kept for at most 5 minutes per execution environment, so a rotated secret
// takes effect without a deploy and a reply never waits for Secrets Manager when the cache is warm.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export const SECRET_CACHE_MS = 5 * 60_000;

let client: SecretsManagerClient | undefined;
const cache = new Map<string, { value: Promise<string>; until: number }>();

async function fetchSecret(secretId: string): Promise<string> {
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  client ??= new SecretsManagerClient({ maxAttempts: 3 });
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!SecretString) throw new Error('The upstream secret has no string value');
  return SecretString;
}

/** The secret stored under `secretId` (name or ARN), cached for at most SECRET_CACHE_MS. */
export function managedSecret(secretId: string, now = Date.now()): Promise<string> {
  const hit = cache.get(secretId);
  if (hit && hit.until > now) return hit.value;
  const value = fetchSecret(secretId);
  cache.set(secretId, { value, until: now + SECRET_CACHE_MS });
  // A failed read is not kept: the next reply tries again.
  value.catch(() => {
    if (cache.get(secretId)?.value === value) cache.delete(secretId);
  });
  return value;
}

/** Tests: forget cached secrets and use this client. */
export function resetUpstreamSecrets(testClient?: SecretsManagerClient): void {
  cache.clear();
  client = testClient;
}
