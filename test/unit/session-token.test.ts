// Session tokens: HS256 JWTs verified without I/O; the secret from SESSION_SECRET locally and from
// Secrets Manager (once per cold start) in AWS.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  resetSessionSigningKey,
  sessionSigningKey,
  signSessionToken,
  verifySessionToken,
  type SessionClaims,
} from '../../shared/chat/session-token.ts';

const SECRET = 'unit-test-session-secret-0123456789abcdef';

function claims(overrides: Partial<SessionClaims> = {}): SessionClaims {
  return {
    sessionId: 'ses_abc',
    organizationId: 'org_1',
    keyId: 'key_1',
    type: 'chat',
    origin: null,
    expiresAt: new Date(Date.now() + 60_000),
    ...overrides,
  };
}

const savedEnv = { ...process.env };

beforeEach(() => {
  process.env.SESSION_SECRET = SECRET;
  delete process.env.SESSION_SECRET_ARN;
  resetSessionSigningKey();
});

afterEach(() => {
  process.env = { ...savedEnv };
  resetSessionSigningKey();
});

describe('signing and verifying', () => {
  it('round-trips the claims, origin included', async () => {
    const original = claims({ origin: 'https://app.example.com', type: 'voice' });
    const token = await signSessionToken(original);
    const verdict = await verifySessionToken(token);
    expect(verdict).toEqual({
      ok: true,
      claims: { ...original, expiresAt: new Date(Math.floor(original.expiresAt.getTime() / 1000) * 1000) },
    });
  });

  it('calls an authentic but expired token expired (the session ended), keeping its claims', async () => {
    const token = await signSessionToken(claims({ expiresAt: new Date(Date.now() - 5_000) }));
    const verdict = await verifySessionToken(token);
    expect(verdict).toMatchObject({ ok: false, reason: 'expired', claims: { sessionId: 'ses_abc' } });
  });

  it.each([
    ['no token', undefined],
    ['an empty token', ''],
    ['garbage', 'not-a-jwt'],
    ['an oversized token', 'a'.repeat(5000)],
  ])('refuses %s as invalid', async (_, token) => {
    expect(await verifySessionToken(token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a token whose payload was altered', async () => {
    const token = await signSessionToken(claims());
    const [header, payload, signature] = token.split('.');
    const altered = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    altered.sub = 'ses_other';
    const forged = [header, Buffer.from(JSON.stringify(altered)).toString('base64url'), signature].join('.');
    expect(await verifySessionToken(forged)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a token signed with another secret, even an expired one', async () => {
    const other = new TextEncoder().encode('another-secret-another-secret-another');
    const base = { org: 'org_1', key: 'key_1', typ: 'chat' };
    const live = await new SignJWT(base)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('keygate')
      .setAudience('keygate-session')
      .setSubject('ses_abc')
      .setExpirationTime('1h')
      .sign(other);
    const expired = await new SignJWT(base)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('keygate')
      .setAudience('keygate-session')
      .setSubject('ses_abc')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(other);
    expect(await verifySessionToken(live)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifySessionToken(expired)).toEqual({ ok: false, reason: 'invalid' });
  });

  /** A token signed with the real secret for session ses_abc, valid for an hour, with these claims. */
  const signedWithSecret = (payload: Record<string, string>, audience = 'keygate-session') =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('keygate')
      .setAudience(audience)
      .setSubject('ses_abc')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));

  it('refuses an unsigned (alg none) token', async () => {
    const token = new UnsecuredJWT({ org: 'org_1', key: 'key_1', typ: 'chat' })
      .setIssuer('keygate')
      .setAudience('keygate-session')
      .setSubject('ses_abc')
      .setExpirationTime('1h')
      .encode();
    expect(await verifySessionToken(token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a token for another audience (e.g. a portal-like token signed with the same secret)', async () => {
    const token = await signedWithSecret({ org: 'org_1', key: 'key_1', typ: 'chat' }, 'something-else');
    expect(await verifySessionToken(token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a token with a missing or odd claim', async () => {
    const token = await signedWithSecret({ org: 'org_1', typ: 'text' });
    expect(await verifySessionToken(token)).toEqual({ ok: false, reason: 'invalid' });
  });
});

describe('the signing secret in AWS', () => {
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keygate/test/session-signing-secret-AbCdEf';

  it('is fetched from Secrets Manager once per cold start and cached', async () => {
    delete process.env.SESSION_SECRET;
    process.env.SESSION_SECRET_ARN = arn;
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const sm = mockClient(client);
    sm.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: 'from-secrets-manager-0123456789' });
    resetSessionSigningKey(client);
    const token = await signSessionToken(claims());
    expect((await verifySessionToken(token)).ok).toBe(true);
    await sessionSigningKey();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(new TextDecoder().decode(await sessionSigningKey())).toBe('from-secrets-manager-0123456789');
  });

  it('is fetched again on the next request after a failed fetch', async () => {
    delete process.env.SESSION_SECRET;
    process.env.SESSION_SECRET_ARN = arn;
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const sm = mockClient(client);
    sm.on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }))
      .resolves({ SecretString: 'second-time-lucky-0123456789' });
    resetSessionSigningKey(client);
    await expect(sessionSigningKey()).rejects.toThrow('throttled');
    await new Promise((r) => setImmediate(r));
    expect(new TextDecoder().decode(await sessionSigningKey())).toBe('second-time-lucky-0123456789');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('fails loudly when neither SESSION_SECRET nor SESSION_SECRET_ARN is set', async () => {
    delete process.env.SESSION_SECRET;
    await expect(sessionSigningKey()).rejects.toThrow(/SESSION_SECRET_ARN/);
  });
});
