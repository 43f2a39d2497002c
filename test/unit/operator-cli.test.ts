// The operator CLI's pure parts: what `keys find` makes of its input, and which Keygate a command
// reaches (a deployed stage's table names come from its stack outputs, never guessed).
import { describe, expect, it } from 'vitest';
import { resolveTarget } from '../../cli/target.ts';
import { generateKey, hashKey, keyIdFromHash, DEFAULT_PREFIXES } from '../../shared/domain/api-key.ts';
import { keyQueryOf, mentionsKey } from '../../shared/domain/key-query.ts';
import { TABLES, tableOutputId, type TableKey } from '../../shared/tables.ts';

describe('keys find input', () => {
  it('hashes a well-formed key to its id, and keeps nothing else of it', () => {
    const key = generateKey('secret');
    const query = keyQueryOf(`  ${key}\n`, DEFAULT_PREFIXES);
    expect(query).toEqual({ kind: 'plaintext', keyId: keyIdFromHash(hashKey(key)) });
    expect(JSON.stringify(query)).not.toContain(key.slice(3));
  });

  it('takes a key id as is', () => {
    expect(keyQueryOf('key_0123456789abcdef01234567', DEFAULT_PREFIXES)).toEqual({ kind: 'id', keyId: 'key_0123456789abcdef01234567' });
  });

  it('turns a display prefix, masked or not, into the display key the portal shows', () => {
    const expected = { kind: 'display', displayKey: 'sk_AbCdE\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022' };
    for (const input of ['sk_AbCdE', 'sk_AbCdE\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022', 'sk_AbCdE...', 'sk_AbCdE\u2026', 'sk_AbCdEfghij']) {
      expect(keyQueryOf(input, DEFAULT_PREFIXES)).toEqual(expected);
    }
    expect(keyQueryOf('pk_12345', DEFAULT_PREFIXES)).toEqual({ kind: 'display', displayKey: 'pk_12345\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022' });
  });

  it('refuses what names no key, never echoing it', () => {
    for (const input of ['hello', 'sk_Xy', 'sk_Xy cd', '', 'key_123']) {
      const query = keyQueryOf(input, DEFAULT_PREFIXES);
      expect(query.kind).toBe('invalid');
      if (input.length > 3) expect(JSON.stringify(query)).not.toContain(input);
    }
  });

  it('refuses a display prefix when the key prefix fills all eight visible characters', () => {
    const prefixes = { secret: 'keygate_live_', publishable: 'keygate_pub_' };
    expect(keyQueryOf('keygate_live_\u2022\u2022', prefixes)).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/no random characters/) });
    const key = generateKey('secret', prefixes);
    expect(keyQueryOf(key, prefixes).kind).toBe('plaintext');
  });
});

describe('revoke reasons', () => {
  it('are refused when they hold a key, or nearly one (a typo), and accepted otherwise', () => {
    const key = generateKey('secret');
    expect(mentionsKey(`leaked: ${key}.`, DEFAULT_PREFIXES)).toBe(true);
    expect(mentionsKey(`leaked ${key.slice(0, -1)}X`, DEFAULT_PREFIXES)).toBe(true);
    expect(mentionsKey(`widget ${generateKey('publishable')}`, DEFAULT_PREFIXES)).toBe(true);
    expect(mentionsKey('posted in a public repository (sk_AbCdE, ticket 42)', DEFAULT_PREFIXES)).toBe(false);
    expect(mentionsKey('key_0123456789abcdef01234567 leaked', DEFAULT_PREFIXES)).toBe(false);
  });
});

describe('the target', () => {
  const noStack = async () => {
    throw new Error('no AWS call expected');
  };

  it('is the DynamoDB in DYNAMODB_ENDPOINT, with the stage table names', async () => {
    const target = await resolveTarget({ stage: 'test' }, { DYNAMODB_ENDPOINT: 'http://127.0.0.1:8001' }, noStack);
    expect(target.env).toMatchObject({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:8001', API_KEYS_TABLE: 'keygate-test-api-keys', USAGE_TABLE: 'keygate-test-usage' });
    expect((await resolveTarget({}, { DYNAMODB_ENDPOINT: 'http://x:1' }, noStack)).env.ORGANIZATIONS_TABLE).toBe('keygate-local-organizations');
  });

  it('is a deployed stage with --stage: every table name from the outputs of Keygate-<stage>', async () => {
    const asked: unknown[] = [];
    // What the stack outputs: one <Table>TableName per table of shared/tables.ts, and others.
    const outputs: Record<string, string> = { ApiUrl: 'https://example' };
    for (const key of Object.keys(TABLES) as TableKey[]) outputs[tableOutputId(key)] = `${key}-physical`;
    expect(outputs.ApiKeysTableName).toBe('apiKeys-physical');
    const target = await resolveTarget({ stage: 'prod', region: 'eu-west-1' }, {}, async (stack, region) => {
      asked.push([stack, region]);
      return outputs;
    });
    expect(asked).toEqual([['Keygate-prod', 'eu-west-1']]);
    expect(target.env).toMatchObject({ API_KEYS_TABLE: 'apiKeys-physical', MESSAGES_TABLE: 'messages-physical', AWS_REGION: 'eu-west-1' });
    expect(target.env.DYNAMODB_ENDPOINT).toBeUndefined();
    expect(target.description).toBe('stage prod (stack Keygate-prod)');
  });

  it('says which output is missing or that the stack is not there', async () => {
    await expect(resolveTarget({ stage: 'prod' }, {}, async () => ({ ApiKeysTableName: 'k' }))).rejects.toThrow(/no output OrganizationsTableName/);
    const missing = Object.assign(new Error('Stack with id Keygate-prod does not exist'), { name: 'ValidationError' });
    await expect(resolveTarget({ stage: 'prod' }, {}, async () => Promise.reject(missing))).rejects.toThrow('stack Keygate-prod not found in this account and region');
    await expect(resolveTarget({ stage: 'Prod!' }, {}, noStack)).rejects.toMatchObject({ exitCode: 2 });
  });
});
