// Secrets the local runtime generates once and keeps under .keygate/ (git-ignored): the portal
// issuer's signing key pair (RS256, as Cognito signs) and the session-token secret. In AWS these are Cognito's keys and a
// Secrets Manager secret.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface LocalSecrets {
  portalPrivateJwk: JWK;
  portalPublicJwk: JWK;
  sessionSecret: string;
  /** AES-256-GCM key sealing webhook secrets locally (KMS does it in AWS). */
  webhookSecretKey: string;
}

async function generate(): Promise<LocalSecrets> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  return {
    portalPrivateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256' },
    portalPublicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256' },
    sessionSecret: randomBytes(48).toString('base64url'),
    webhookSecretKey: randomBytes(32).toString('base64'),
  };
}

/** Load the secrets from `dir`, creating them on first use; without `dir`, fresh ones in memory. */
export async function loadLocalSecrets(dir?: string): Promise<LocalSecrets> {
  if (!dir) return generate();
  const file = join(dir, 'secrets.json');
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as LocalSecrets;
    if (stored.webhookSecretKey) return stored;
    // Kept from before webhooks existed: add the webhook key, keep the rest.
    const upgraded = { ...stored, webhookSecretKey: randomBytes(32).toString('base64') };
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  const secrets = await generate();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
