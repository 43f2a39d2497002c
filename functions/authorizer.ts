// Lambda REQUEST authorizer for the public API (result caching off, so revocation is immediate
// and every request is judged). Event: APIGatewayRequestAuthorizerEvent.
// Malformed keys and bad checksums are refused before any I/O; otherwise exactly one DynamoDB read.
// A DynamoDB failure throws, which API Gateway answers with 503 SERVICE_UNAVAILABLE: fail closed.
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { hashKey, keyIdFromHash, parseKey, prefixesFromEnv } from '../shared/domain/api-key.ts';
import { gatewayAction, judge, presentedKey, requestedDatabase, unknownKeyRejection } from '../shared/domain/authorize.ts';
import { ERRORS } from '../shared/domain/errors.ts';
import { toAuthorizerContext } from '../shared/domain/key-identity.ts';
import { findStoredKey } from '../shared/db/key-lookup.ts';
import { DENY_CONTEXT } from '../shared/gateway-responses.ts';
import { findRoute, speaksOpenAi } from '../shared/routes.ts';
import { metricsDisabled, refusalOutcome, type RequestOutcome } from '../shared/metrics/catalog.ts';
import { emfDocument, writeEmf } from '../shared/metrics/emf.ts';

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

/**
 * One structured line per refusal, for operators asking "why was this request refused?". Ids and
 * codes only, never the key; plain JSON on stdout so the authorizer bundle stays minimal.
 * Allowed requests are not logged (a line per request would cost more than the request).
 */
const logRefusals = !['WARN', 'ERROR', 'SILENT'].includes((process.env.LOG_LEVEL ?? 'INFO').toUpperCase());
function logRefusal(event: APIGatewayRequestAuthorizerEvent, code: string, keyId?: string): void {
  if (!logRefusals) return;
  const requestId = event.requestContext?.requestId;
  console.log(JSON.stringify({ level: 'INFO', message: 'api key refused', code, keyId, requestId, resource: event.resource }));
}

/**
 * Every refusal the authorizer decides counts in the Requests metric by outcome (a flood of garbage
 * keys shows as `invalid_key`); requests it lets through are counted by their function once admitted.
 */
const countRefusals = !metricsDisabled();
const stage = process.env.STAGE ?? 'local';
function refuse(event: APIGatewayRequestAuthorizerEvent, outcome: RequestOutcome, code: string, keyId?: string): void {
  if (countRefusals) writeEmf(emfDocument('Requests', 1, stage, outcome));
  logRefusal(event, code, keyId);
}

export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const headers = lowerCase(event.headers);
  const key = presentedKey(headers);
  const route = findRoute(event.httpMethod, event.resource);
  if (!parseKey(key, prefixes)) {
    refuse(event, 'invalid_key', key ? 'MALFORMED_API_KEY' : 'MISSING_API_KEY');
    // The OpenAI-compatible routes render this 401 themselves (OpenAI's body).
    if (speaksOpenAi(route)) return policy('Allow', 'anonymous', event.methodArn, toAuthorizerContext(unknownKeyRejection(headers.origin)));
    throw new Error('Unauthorized');
  }
  const keyHash = hashKey(key!);
  const keyId = keyIdFromHash(keyHash);
  const stored = await findStoredKey(keyId);
  const origin = headers.origin;
  const verdict = judge(
    stored,
    {
      keyHash,
      origin,
      database: requestedDatabase(headers, event.queryStringParameters),
      route,
    },
    new Date(),
  );
  const action = gatewayAction(verdict, stored, origin, route);
  switch (action.action) {
    case 'unauthorized':
      refuse(event, 'invalid_key', 'INVALID_API_KEY', keyId);
      throw new Error('Unauthorized');
    case 'deny': {
      refuse(event, refusalOutcome(action.code), action.code, keyId);
      const { error, message } = ERRORS[action.code];
      return policy('Deny', stored!.id, event.methodArn, {
        [DENY_CONTEXT.error]: error,
        [DENY_CONTEXT.message]: message,
        [DENY_CONTEXT.code]: action.code,
      });
    }
    case 'allow':
      // The function answers these (docs/api.md "Errors"), but the authorizer decided them.
      if (action.identity.rejection) refuse(event, refusalOutcome(action.identity.rejection), action.identity.rejection, keyId);
      return policy('Allow', action.identity.keyId || 'anonymous', event.methodArn, toAuthorizerContext(action.identity));
  }
}
