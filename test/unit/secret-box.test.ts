// Webhook secrets sealed with KMS in AWS (shared/webhooks/secret-box.ts), the KMS client mocked.
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, expect, it } from 'vitest';
import { openSecret, sealSecret } from '../../shared/webhooks/secret-box.ts';

const kms = mockClient(KMSClient);
afterEach(() => kms.reset());

const owner = { organizationId: 'org_1', webhookId: 'wh_1' };
const env = { WEBHOOK_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/abc' };

it('seals with KMS Encrypt under the webhook key, bound to the organization and webhook', async () => {
  kms.on(EncryptCommand).resolves({ CiphertextBlob: Buffer.from('ciphertext') });
  expect(await sealSecret('whsec_plain', owner, env)).toBe(`kms:${Buffer.from('ciphertext').toString('base64')}`);
  const [call] = kms.commandCalls(EncryptCommand);
  expect(call!.args[0].input).toEqual({
    KeyId: env.WEBHOOK_KMS_KEY_ID,
    Plaintext: Buffer.from('whsec_plain'),
    EncryptionContext: { organizationId: 'org_1', webhookId: 'wh_1' },
  });
});

it('opens a kms: secret with KMS Decrypt under the same encryption context', async () => {
  kms.on(DecryptCommand).resolves({ Plaintext: Buffer.from('whsec_plain') });
  expect(await openSecret(`kms:${Buffer.from('ciphertext').toString('base64')}`, owner, env)).toBe('whsec_plain');
  const [call] = kms.commandCalls(DecryptCommand);
  expect(call!.args[0].input).toEqual({ CiphertextBlob: Buffer.from('ciphertext'), EncryptionContext: { organizationId: 'org_1', webhookId: 'wh_1' } });
});
