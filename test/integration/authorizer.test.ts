// The Lambda authorizer against DynamoDB Local: each outcome, and how many DynamoDB calls it makes.
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_AUDIT } from '../support/audit.ts';
import { newKeySettings } from '../support/keys.ts';
import { handler } from '../../functions/authorizer.ts';
import { checksum, generateKey } from '../../shared/domain/api-key.ts';
import { fromAuthorizerContext } from '../../shared/domain/key-identity.ts';
import { mintKey, type NewKey } from '../../shared/domain/key-mint.ts';
import { putNewKey, revokeKey } from '../../shared/db/api-keys.ts';
import { db } from '../../shared/db/client.ts';
import { keyLookupClient } from '../../shared/db/key-lookup.ts';
import { createOrganization } from '../../shared/db/organizations.ts';
import { tableName } from '../../shared/tables.ts';

let dynamoCalls = 0;
keyLookupClient.middlewareStack.add(
  (next) => async (args) => {
    dynamoCalls++;
    return next(args);
  },
  { step: 'initialize', name: 'countCalls' },
);
afterEach(() => {
  dynamoCalls = 0;
});

const ARN = 'arn:aws:execute-api:eu-west-1:123456789012:api/dev/GET/v1/auth/whoami';

function event(headers: Record<string, string>, resource = '/v1/auth/whoami', method = 'GET'): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: ARN,
    resource,
    path: resource,
    httpMethod: method,
    headers,
    multiValueHeaders: {},
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

let orgId: string;
async function newKey(overrides: Partial<NewKey> = {}) {
  const input = newKeySettings({ organizationId: orgId, scopes: ['chat', 'export'], expiresInDays: 365, ...overrides });
  const minted = mintKey(input, { secret: 'sk_', publishable: 'pk_' }, new Date());
  await putNewKey(minted.item, TEST_AUDIT, new Date());
  return minted;
}

beforeAll(async () => {
  orgId = (await createOrganization('Authorizer Co', 'owner-1', 100, TEST_AUDIT, new Date())).id;
});

describe('keys that never reach DynamoDB', () => {
  const valid = generateKey('secret');
  const badChecksum = valid.slice(0, -6) + (checksum('x') === valid.slice(-6) ? '000001' : checksum('x'));
  it.each([
    ['no key at all', {}],
    ['an empty X-API-Key', { 'x-api-key': '' }],
    ['a key with an unknown prefix', { 'x-api-key': 'xx_' + valid.slice(3) }],
    ['a key that is too short', { 'x-api-key': valid.slice(0, 20) }],
    ['a key with a bad checksum', { 'x-api-key': badChecksum }],
    ['a key with a non-base62 character', { 'x-api-key': valid.slice(0, 10) + '-' + valid.slice(11) }],
    ['a unicode key', { 'x-api-key': 'sk_' + 'é'.repeat(38) }],
    ['a Basic Authorization header', { authorization: 'Basic ' + valid }],
    ['a huge header', { 'x-api-key': 'sk_' + 'a'.repeat(100_000) }],
  ])('%s: 401 with zero DynamoDB calls', async (_, headers) => {
    await expect(handler(event(headers))).rejects.toThrow('Unauthorized');
    expect(dynamoCalls).toBe(0);
  });
});

describe('keys that are looked up: exactly one DynamoDB read', () => {
  it('allows an active secret key from X-API-Key and passes its identity', async () => {
    const { item, plaintext } = await newKey();
    const result = await handler(event({ 'X-API-Key': plaintext }));
    expect(dynamoCalls).toBe(1);
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow', Resource: ARN });
    expect(result.principalId).toBe(item.id);
    expect(fromAuthorizerContext(result.context)).toMatchObject({
      keyId: item.id,
      organizationId: orgId,
      type: 'secret',
      scopes: ['chat', 'export'],
      origin: null,
      rejection: null,
    });
  });

  it('accepts Authorization: Bearer <key>', async () => {
    const { plaintext } = await newKey();
    const result = await handler(event({ Authorization: `Bearer ${plaintext}` }));
    expect(result.policyDocument.Statement[0]!.Effect).toBe('Allow');
    expect(dynamoCalls).toBe(1);
  });

  it('refuses a well-formed key that does not exist (401)', async () => {
    await expect(handler(event({ 'x-api-key': generateKey('secret') }))).rejects.toThrow('Unauthorized');
    expect(dynamoCalls).toBe(1);
  });

  it('refuses a revoked key on the very next request (401)', async () => {
    const { item, plaintext } = await newKey();
    await handler(event({ 'x-api-key': plaintext }));
    await revokeKey(orgId, item.id, TEST_AUDIT, new Date());
    await expect(handler(event({ 'x-api-key': plaintext }))).rejects.toThrow('Unauthorized');
  });

  it('lets the function answer 401 API_KEY_DISABLED for a disabled key', async () => {
    const { item, plaintext } = await newKey();
    await db.send(new UpdateCommand({ TableName: tableName('apiKeys'), Key: { id: item.id }, UpdateExpression: 'SET #s = :d', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':d': 'disabled' } }));
    const result = await handler(event({ 'x-api-key': plaintext }));
    expect(fromAuthorizerContext(result.context)?.rejection).toBe('API_KEY_DISABLED');
  });

  it('judges expiry at read time (API_KEY_EXPIRED), whatever TTL has not yet deleted', async () => {
    const { item, plaintext } = await newKey();
    await db.send(new UpdateCommand({ TableName: tableName('apiKeys'), Key: { id: item.id }, UpdateExpression: 'SET expiresAt = :past', ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() } }));
    const result = await handler(event({ 'x-api-key': plaintext }));
    expect(fromAuthorizerContext(result.context)?.rejection).toBe('API_KEY_EXPIRED');
  });

  it('denies a secret key without the route scope at the gateway (403 INSUFFICIENT_PERMISSIONS)', async () => {
    const { plaintext } = await newKey({ scopes: ['chat'] });
    const result = await handler(event({ 'x-api-key': plaintext }, '/api/export'));
    expect(result.policyDocument.Statement[0]!.Effect).toBe('Deny');
    expect(result.context).toEqual({
      denyError: 'forbidden',
      denyMessage: 'API key does not have access to this resource',
      denyCode: 'INSUFFICIENT_PERMISSIONS',
    });
  });

  it('lets the function answer a refused real origin (403 CORS_ORIGIN_NOT_ALLOWED the page can read)', async () => {
    const { plaintext } = await newKey({ type: 'publishable', scopes: ['chat'], allowedDomains: ['mysite.com'] });
    for (const origin of ['https://evilmysite.com', 'https://mysite.com.evil.com']) {
      const result = await handler(event({ 'x-api-key': plaintext, origin }));
      expect(result.policyDocument.Statement[0]!.Effect).toBe('Allow');
      expect(fromAuthorizerContext(result.context)).toMatchObject({ origin, rejection: 'CORS_ORIGIN_NOT_ALLOWED' });
    }
  });

  it('denies a publishable key without a real Origin at the gateway (403 CORS_ORIGIN_NOT_ALLOWED)', async () => {
    const { plaintext } = await newKey({ type: 'publishable', scopes: ['chat'], allowedDomains: ['mysite.com'] });
    const nullOrigin = await handler(event({ 'x-api-key': plaintext, origin: 'null' }));
    expect(nullOrigin.policyDocument.Statement[0]!.Effect).toBe('Deny');
    expect(nullOrigin.context?.denyCode).toBe('CORS_ORIGIN_NOT_ALLOWED');
    const noOrigin = await handler(event({ 'x-api-key': plaintext }));
    expect(noOrigin.policyDocument.Statement[0]!.Effect).toBe('Deny');
    expect(noOrigin.context?.denyCode).toBe('CORS_ORIGIN_NOT_ALLOWED');
  });

  it('allows a publishable key from a subdomain of an allowed domain and from localhost', async () => {
    const { plaintext } = await newKey({ type: 'publishable', scopes: ['chat'], allowedDomains: ['mysite.com'] });
    for (const origin of ['https://staging.mysite.com', 'https://a.b.mysite.com', 'http://localhost:5173', 'http://127.0.0.1:8080']) {
      const result = await handler(event({ 'x-api-key': plaintext, origin }));
      expect(result.policyDocument.Statement[0]!.Effect).toBe('Allow');
      expect(fromAuthorizerContext(result.context)).toMatchObject({ origin, rejection: null });
    }
  });

  it('lets the function answer a publishable key lacking the scope, so the allowed page can read it', async () => {
    const { plaintext } = await newKey({ type: 'publishable', scopes: ['chat'], allowedDomains: ['mysite.com'] });
    const result = await handler(event({ 'x-api-key': plaintext, origin: 'https://mysite.com' }, '/api/export'));
    expect(result.policyDocument.Statement[0]!.Effect).toBe('Allow');
    expect(fromAuthorizerContext(result.context)?.rejection).toBe('INSUFFICIENT_PERMISSIONS');
  });

  it('refuses a database-scoped key naming another database', async () => {
    const { plaintext } = await newKey({ type: 'publishable', scopes: ['chat'], allowedDomains: ['mysite.com'], databaseId: 'db_A' });
    const other = await handler(event({ 'x-api-key': plaintext, origin: 'https://mysite.com', 'x-database-id': 'db_B' }));
    expect(fromAuthorizerContext(other.context)?.rejection).toBe('INSUFFICIENT_PERMISSIONS');
    const same = await handler(event({ 'x-api-key': plaintext, origin: 'https://mysite.com', 'x-database-id': 'db_A' }));
    expect(fromAuthorizerContext(same.context)).toMatchObject({ databaseId: 'db_A', rejection: null });
  });
});
