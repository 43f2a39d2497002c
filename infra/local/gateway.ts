// What API Gateway does in front of the functions, emulated for the local runtime: it builds the
// REST proxy event, runs the Lambda REQUEST authorizer and turns its verdict into either the
// integration call or one of the Gateway Responses of shared/gateway-responses.ts.
import { randomUUID } from 'node:crypto';
import type {
  APIGatewayProxyEvent,
  APIGatewayRequestAuthorizerEvent,
  APIGatewayAuthorizerResult,
} from 'aws-lambda';
import { renderGatewayResponse, type RenderedResponse } from '../../shared/gateway-responses.ts';
import type { RouteDefinition } from '../../shared/routes.ts';

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_API_ID = 'local';
export const LOCAL_STAGE = 'local';

export interface IncomingRequest {
  method: string;
  path: string;
  /** The last value of each header, and all of them (API Gateway's headers / multiValueHeaders). */
  headers: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  /** Likewise for the query string. */
  query: Record<string, string>;
  multiValueQuery?: Record<string, string[]>;
  body: string | null;
  sourceIp: string;
}

export function methodArn(route: Pick<RouteDefinition, 'method' | 'path'>, path: string): string {
  return `arn:aws:execute-api:local:${LOCAL_ACCOUNT}:${LOCAL_API_ID}/${LOCAL_STAGE}/${route.method}${path}`;
}

export function buildProxyEvent(
  request: IncomingRequest,
  route: RouteDefinition,
  params: Record<string, string>,
  requestId = randomUUID(),
): APIGatewayProxyEvent {
  const hasQuery = Object.keys(request.query).length > 0;
  return {
    resource: route.path,
    path: request.path,
    httpMethod: request.method,
    headers: request.headers,
    multiValueHeaders: request.multiValueHeaders ?? Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: hasQuery ? request.query : null,
    multiValueQueryStringParameters: hasQuery
      ? (request.multiValueQuery ?? Object.fromEntries(Object.entries(request.query).map(([k, v]) => [k, [v]])))
      : null,
    pathParameters: Object.keys(params).length ? params : null,
    stageVariables: null,
    body: request.body,
    isBase64Encoded: false,
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: LOCAL_API_ID,
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: request.method,
      identity: { sourceIp: request.sourceIp, userAgent: request.headers['user-agent'] ?? null } as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/${LOCAL_STAGE}${request.path}`,
      stage: LOCAL_STAGE,
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: route.path,
      resourcePath: route.path,
    },
  };
}

export function buildAuthorizerEvent(event: APIGatewayProxyEvent, route: RouteDefinition): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: methodArn(route, event.path),
    resource: event.resource,
    path: event.path,
    httpMethod: event.httpMethod,
    headers: event.headers as Record<string, string>,
    multiValueHeaders: event.multiValueHeaders as Record<string, string[]>,
    pathParameters: event.pathParameters,
    queryStringParameters: event.queryStringParameters,
    multiValueQueryStringParameters: event.multiValueQueryStringParameters,
    stageVariables: null,
    requestContext: event.requestContext as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

export type AuthorizerFn = (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;

export type GatewayVerdict =
  | { kind: 'allow'; context: Record<string, string> }
  | { kind: 'respond'; response: RenderedResponse };

function allows(result: APIGatewayAuthorizerResult, arn: string): boolean {
  const statements = result.policyDocument?.Statement ?? [];
  const matches = (resource: unknown) => {
    const list = Array.isArray(resource) ? resource : [resource];
    return list.some((r) => typeof r === 'string' && new RegExp(`^${r.split('*').map(escape).join('.*')}$`).test(arn));
  };
  const relevant = statements.filter((s) => 'Resource' in s && matches(s.Resource));
  return relevant.some((s) => s.Effect === 'Allow') && !relevant.some((s) => s.Effect === 'Deny');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Run the authorizer the way API Gateway does: a thrown "Unauthorized" is the 401 response, any
 * other failure is AUTHORIZER_FAILURE, a policy that does not allow this method is ACCESS_DENIED
 * (with the authorizer's context in the body), and only an allowing policy reaches the function.
 */
export async function runAuthorizer(
  authorizer: AuthorizerFn,
  event: APIGatewayProxyEvent,
  route: RouteDefinition,
): Promise<GatewayVerdict> {
  const authEvent = buildAuthorizerEvent(event, route);
  const respond = (type: Parameters<typeof renderGatewayResponse>[0], authorizerContext?: Record<string, string>) => ({
    kind: 'respond' as const,
    response: renderGatewayResponse(type, {
      requestId: event.requestContext.requestId,
      ...(event.headers.origin ? { origin: event.headers.origin } : {}),
      ...(authorizerContext ? { authorizer: authorizerContext } : {}),
    }),
  });
  let result: APIGatewayAuthorizerResult;
  try {
    result = await authorizer(authEvent);
  } catch (error) {
    return respond(error instanceof Error && error.message === 'Unauthorized' ? 'UNAUTHORIZED' : 'AUTHORIZER_FAILURE');
  }
  const context = Object.fromEntries(
    Object.entries(result.context ?? {}).map(([k, v]) => [k, String(v)]),
  );
  if (!allows(result, authEvent.methodArn)) return respond('ACCESS_DENIED', context);
  return { kind: 'allow', context: { ...context, principalId: result.principalId } };
}
