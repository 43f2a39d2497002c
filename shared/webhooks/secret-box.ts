// Webhook signing secrets at rest. In AWS they are encrypted with the stack's KMS key
// (WEBHOOK_KMS_KEY_ID): the management function may only Encrypt, the delivery function only
// Decrypt, so nothing but signing can read a secret back. The encryption context binds each
// ciphertext to its organization and webhook. Locally the same interface uses AES-256-GCM with the
// local runtime's generated key (WEBHOOK_SECRET_KEY, kept in .keygate/secrets.json).
// The KMS client is loaded on first use, not when the management function starts (docs/benchmarks.md, figure 4).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';

export interface SecretOwner {
  organizationId: string;
  webhookId: string;
}

let kms: KMSClient | undefined;
const loadKms = () => import('@aws-sdk/client-kms');
const kmsClient = async () => (kms ??= new (await loadKms()).KMSClient({}));

const context = (owner: SecretOwner) => ({ organizationId: owner.organizationId, webhookId: owner.webhookId });

function localKey(env: NodeJS.ProcessEnv): Buffer {
  const key = Buffer.from(env.WEBHOOK_SECRET_KEY ?? '', 'base64');
  if (key.length !== 32) throw new Error('Missing WEBHOOK_KMS_KEY_ID (AWS) or a 32-byte WEBHOOK_SECRET_KEY (local)');
  return key;
}

/** Encrypt a secret for storage: `kms:<base64>` in AWS, `local:<iv>.<tag>.<ciphertext>` locally. */
export async function sealSecret(secret: string, owner: SecretOwner, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.WEBHOOK_KMS_KEY_ID) {
    const { EncryptCommand } = await loadKms();
    const { CiphertextBlob } = await (await kmsClient()).send(
      new EncryptCommand({ KeyId: env.WEBHOOK_KMS_KEY_ID, Plaintext: Buffer.from(secret), EncryptionContext: context(owner) }),
    );
    return `kms:${Buffer.from(CiphertextBlob!).toString('base64')}`;
  }
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', localKey(env), iv);
  cipher.setAAD(Buffer.from(`${owner.organizationId}/${owner.webhookId}`));
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return `local:${iv.toString('base64')}.${cipher.getAuthTag().toString('base64')}.${sealed.toString('base64')}`;
}

/** The plaintext secret, for signing only. */
export async function openSecret(sealed: string, owner: SecretOwner, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (sealed.startsWith('kms:')) {
    const { DecryptCommand } = await loadKms();
    const { Plaintext } = await (await kmsClient()).send(
      new DecryptCommand({ CiphertextBlob: Buffer.from(sealed.slice(4), 'base64'), EncryptionContext: context(owner) }),
    );
    return Buffer.from(Plaintext!).toString('utf8');
  }
  const [iv, tag, data] = sealed.replace(/^local:/, '').split('.').map((part) => Buffer.from(part, 'base64'));
  const decipher = createDecipheriv('aes-256-gcm', localKey(env), iv!);
  decipher.setAAD(Buffer.from(`${owner.organizationId}/${owner.webhookId}`));
  decipher.setAuthTag(tag!);
  return Buffer.concat([decipher.update(data!), decipher.final()]).toString('utf8');
}
