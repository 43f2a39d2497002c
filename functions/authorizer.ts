// Lambda REQUEST authorizer for the public API (result caching off, so revocation is immediate
// and every request is judged). Event: APIGatewayRequestAuthorizerEvent.
// Malformed keys and bad checksums are refused before any I/O; otherwise exactly one DynamoDB read.
// A DynamoDB failure throws, which API Gateway answers with 503 SERVICE_UNAVAILABLE: fail closed.
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { hashKey, keyIdFromHash, parseKey, prefixesFromEnv } from '../shared/domain/api-key.ts';
import { gatewayAction, judge, presentedKey, requestedDatabase } from '../shared/domain/authorize.ts';
import { ERRORS } from '../shared/domain/errors.ts';
import { toAuthorizerContext } from '../shared/domain/key-identity.ts';
import { findStoredKey } from '../shared/db/key-lookup.ts';
import { DENY_CONTEXT } from '../shared/gateway-responses.ts';
import { findRoute } from '../shared/routes.ts';

const prefixes = prefixesFromEnv();

function lowerCase(headers: Record<string, string | undefined> | null): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

function policy(effect: 'Allow' | 'Deny', principalId: string, resource: string, context: Record<string, string>): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
    context,
  };
}

export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const headers = lowerCase(event.headers);
  const key = presentedKey(headers);
  if (!parseKey(key, prefixes)) throw new Error('Unauthorized');
  const keyHash = hashKey(key!);
  const stored = await findStoredKey(keyIdFromHash(keyHash));
  const origin = headers.origin;
  const verdict = judge(
    stored,
    {
      keyHash,
      origin,
      database: requestedDatabase(headers, event.queryStringParameters),
      route: findRoute(event.httpMethod, event.resource),
    },
    new Date(),
  );
  const action = gatewayAction(verdict, stored, origin);
  switch (action.action) {
    case 'unauthorized':
      throw new Error('Unauthorized');
    case 'deny': {
      const { error, message } = ERRORS[action.code];
      return policy('Deny', stored!.id, event.methodArn, {
        [DENY_CONTEXT.error]: error,
        [DENY_CONTEXT.message]: message,
        [DENY_CONTEXT.code]: action.code,
      });
    }
    case 'allow':
      return policy('Allow', action.identity.keyId, event.methodArn, toAuthorizerContext(action.identity));
  }
}
