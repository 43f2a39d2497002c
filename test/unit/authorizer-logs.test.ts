// The authorizer logs one structured line per refusal, with ids and codes, never the key.
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { generateKey, hashKey, keyIdFromHash } from '../../shared/domain/api-key.ts';

const dynamo = mockClient(DynamoDBClient);
const lines: string[] = [];
const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
  lines.push(String(line));
});
let handler: (event: APIGatewayRequestAuthorizerEvent) => Promise<unknown>;

beforeAll(async () => {
  Object.assign(process.env, { LOG_LEVEL: 'INFO', API_KEYS_TABLE: 'keys' });
  ({ handler } = await import('../../functions/authorizer.ts'));
});

afterAll(() => {
  spy.mockRestore();
});

const event = (headers: Record<string, string>) =>
  ({ type: 'REQUEST', methodArn: 'arn', resource: '/v1/auth/whoami', httpMethod: 'GET', headers, requestContext: { requestId: 'r1' } }) as unknown as APIGatewayRequestAuthorizerEvent;

it('logs malformed and unknown keys by code and key id, and never the key', async () => {
  dynamo.on(GetItemCommand).resolves({});
  const unknown = generateKey('secret');
  await expect(handler(event({ 'x-api-key': 'sk_short' }))).rejects.toThrow('Unauthorized');
  await expect(handler(event({ 'x-api-key': unknown }))).rejects.toThrow('Unauthorized');
  const logged = lines.map((l) => JSON.parse(l));
  expect(logged).toEqual([
    { level: 'INFO', message: 'api key refused', code: 'MALFORMED_API_KEY', requestId: 'r1', resource: '/v1/auth/whoami' },
    { level: 'INFO', message: 'api key refused', code: 'INVALID_API_KEY', keyId: keyIdFromHash(hashKey(unknown)), requestId: 'r1', resource: '/v1/auth/whoami' },
  ]);
  expect(lines.join('\n')).not.toContain(unknown);
  expect(lines.join('\n')).not.toContain('sk_short');
});
