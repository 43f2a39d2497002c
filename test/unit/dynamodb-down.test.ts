// When DynamoDB fails, requests fail closed with 503 SERVICE_UNAVAILABLE, never a 500 or a stack
// trace (AWS SDK mocked with aws-sdk-client-mock; the real outage is in the reliability tests).
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { SignJWT, importJWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localEnvironment } from '../../infra/local/environment.ts';
import { LOCAL_CLIENT_ID, LOCAL_ISSUER } from '../../infra/local/dev-token.ts';
import { loadLocalSecrets, type LocalSecrets } from '../../infra/local/local-secrets.ts';
import { generateKey } from '../../shared/domain/api-key.ts';

let secrets: LocalSecrets;
const dynamo = mockClient(DynamoDBClient);
const documents = mockClient(DynamoDBDocumentClient);

beforeAll(async () => {
  secrets = await loadLocalSecrets();
  Object.assign(process.env, localEnvironment({ dynamodbEndpoint: 'http://127.0.0.1:9', secrets, stage: 'unit' }), {
    LOG_LEVEL: 'SILENT',
  });
});

afterEach(() => {
  dynamo.reset();
  documents.reset();
});

function timeout(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { name: 'TimeoutError', code: 'ECONNREFUSED' });
}

async function portalToken(sub: string): Promise<string> {
  return new SignJWT({ 'cognito:groups': [], token_use: 'id' })
    .setProtectedHeader({ alg: secrets.portalPrivateJwk.alg!, kid: secrets.portalPrivateJwk.kid! })
    .setIssuer(LOCAL_ISSUER)
    .setAudience(LOCAL_CLIENT_ID)
    .setSubject(sub)
    .setExpirationTime('5m')
    .sign(await importJWK(secrets.portalPrivateJwk, secrets.portalPrivateJwk.alg!));
}

function proxyEvent(method: string, resource: string, path: string, headers: Record<string, string>, body?: unknown): APIGatewayProxyEvent {
  const orgId = path.split('/')[3];
  return {
    resource,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: orgId ? { orgId } : null,
    stageVariables: null,
    body: body === undefined ? null : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: { requestId: 'req-1' } as APIGatewayProxyEvent['requestContext'],
  };
}

describe('DynamoDB unavailable', () => {
  it('the authorizer throws (API Gateway answers 503) and allows nothing', async () => {
    dynamo.on(GetItemCommand).rejects(timeout());
    const { handler } = await import('../../functions/authorizer.ts');
    const event = {
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:r:1:a/s/GET/v1/auth/whoami',
      resource: '/v1/auth/whoami',
      httpMethod: 'GET',
      headers: { 'X-API-Key': generateKey('secret') },
    } as unknown as APIGatewayRequestAuthorizerEvent;
    const outcome = await handler(event).then(
      () => 'allowed',
      (error: Error) => error.message,
    );
    expect(outcome).not.toBe('allowed');
    expect(outcome).not.toBe('Unauthorized');
    expect(dynamo.commandCalls(GetItemCommand)).toHaveLength(1);
  });

  /** The management function answering GET /v1/organizations/org_1 for this portal user. */
  async function readOrganizationAs(userId: string) {
    const { handler } = await import('../../functions/management.ts');
    return handler(
      proxyEvent('GET', '/v1/organizations/{orgId}', '/v1/organizations/org_1', { Authorization: `Bearer ${await portalToken(userId)}` }),
      {} as never,
    );
  }

  it('a management read answers 503 SERVICE_UNAVAILABLE with Retry-After', async () => {
    documents.on(GetCommand).rejects(timeout());
    const res = await readOrganizationAs('u1');
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toEqual({ error: 'service_unavailable', message: 'A dependency is unavailable, try again shortly', code: 'SERVICE_UNAVAILABLE' });
    expect(res.headers?.['Retry-After']).toBe('1');
  });

  it('a failed write is a 503 too, and nothing else is attempted', async () => {
    // The one read before the write (how many organizations the user created: none) answers as
    // DynamoDB does for a missing item; the write then fails.
    documents.on(GetCommand).resolves({});
    documents.on(TransactWriteCommand).rejects(timeout());
    const { handler } = await import('../../functions/management.ts');
    const res = await handler(
      proxyEvent('POST', '/v1/organizations', '/v1/organizations', { Authorization: `Bearer ${await portalToken('u2')}` }, { name: 'Acme' }),
      {} as never,
    );
    expect(res.statusCode).toBe(503);
    expect(documents.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(documents.commandCalls(GetCommand)).toHaveLength(1);
    expect(documents.calls()).toHaveLength(2);
  });

  it('an unexpected error is a 500 with a request id and no stack trace', async () => {
    documents.on(GetCommand).rejects(new TypeError('boom at secret place'));
    const res = await readOrganizationAs('u3');
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ error: 'internal_error', message: 'Internal server error', code: 'INTERNAL_ERROR', requestId: 'req-1' });
    expect(res.body).not.toContain('boom');
  });
});
