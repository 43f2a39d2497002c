// Secrets the local runtime generates once and keeps under .keygate/ (git-ignored): the portal
// issuer's signing key pair and the session-token secret. In AWS these are Cognito's keys and a
// Secrets Manager secret.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface LocalSecrets {
  portalPrivateJwk: JWK;
  portalPublicJwk: JWK;
  sessionSecret: string;
}

async function generate(): Promise<LocalSecrets> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomBytes(8).toString('hex');
  return {
    portalPrivateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
    portalPublicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' },
    sessionSecret: randomBytes(48).toString('base64url'),
  };
}

/** Load the secrets from `dir`, creating them on first use; without `dir`, fresh ones in memory. */
export async function loadLocalSecrets(dir?: string): Promise<LocalSecrets> {
  if (!dir) return generate();
  const file = join(dir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as LocalSecrets;
  const secrets = await generate();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
