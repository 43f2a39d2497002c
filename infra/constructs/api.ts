// The REST API, built from the shared route table (shared/routes.ts) and the shared Gateway
// Responses (shared/gateway-responses.ts), the same data the local runtime serves.
//
// Authentication per route kind:
// - apiKey:  the Lambda REQUEST authorizer, result caching off (a revoke is immediate, every request
//            is counted) and no identity source (the key may come in X-API-Key or Authorization; with
//            an identity source API Gateway itself answers 401 when that one header is missing).
// - portal, session: no API Gateway authorizer; the function verifies the JWT. API Gateway has one
//            UNAUTHORIZED Gateway Response for every authorizer, and it must carry the API-key body
//            (INVALID_API_KEY), while portal and session 401s must say INVALID_TOKEN / SESSION_ENDED.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { GATEWAY_RESPONSES, type GatewayResponseDefinition } from '../../shared/gateway-responses.ts';
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS } from '../../shared/http/cors.ts';
import { isBrowserFacing, ROUTES, speaksOpenAi, type RouteDefinition } from '../../shared/routes.ts';
import type { DeployedFunctionName } from './function-specs.ts';
import { acknowledge, type NagAcknowledgement } from './nag.ts';

/** Just above the stream function's own timeout, so the function ends the stream, not the gateway. */
export const STREAM_INTEGRATION_TIMEOUT = Duration.seconds(125);

/** Routes that exist in AWS: everything but the local-only ones. */
export const DEPLOYED_ROUTES: readonly RouteDefinition[] = ROUTES.filter((route) => !route.localOnly);

/** What the portal sends to management routes (its token and JSON bodies). */
export const PORTAL_CORS_ALLOW_HEADERS = 'Content-Type, Authorization';

function methodsByPath(routes: readonly RouteDefinition[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const route of routes) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route.method]);
  return byPath;
}

const JWT_IN_FUNCTION =
  'The function verifies the JWT itself (jose): API Gateway gives every authorizer failure the one UNAUTHORIZED ' +
  'Gateway Response, which must carry the API-key body INVALID_API_KEY, while portal and session 401s must say ' +
  'INVALID_TOKEN or SESSION_ENDED (docs/api.md "Errors").';

const METHOD_ACKNOWLEDGEMENTS: Record<RouteDefinition['auth'], NagAcknowledgement[]> = {
  apiKey: [
    {
      id: 'AwsSolutions-COG4',
      reason:
        'Public routes take API keys, not user-pool tokens; the Lambda REQUEST authorizer verifies the key, its ' +
        'scope and its origin allow-list on every request (no caching).',
    },
  ],
  portal: [
    { id: 'AwsSolutions-APIG4', reason: `Portal route with a user-pool token. ${JWT_IN_FUNCTION}` },
    { id: 'AwsSolutions-COG4', reason: `Portal route with a user-pool token. ${JWT_IN_FUNCTION}` },
  ],
  session: [
    {
      id: 'AwsSolutions-APIG4',
      reason: `Session route with a session token (our own JWT, one DynamoDB read for revocation). ${JWT_IN_FUNCTION}`,
    },
    {
      id: 'AwsSolutions-COG4',
      reason: `Session tokens are minted by Keygate, not by the user pool, so a Cognito authorizer cannot check them. ${JWT_IN_FUNCTION}`,
    },
  ],
  public: [
    { id: 'AwsSolutions-APIG4', reason: 'GET /openapi.json is the public API description, readable without credentials by design.' },
    { id: 'AwsSolutions-COG4', reason: 'GET /openapi.json is the public API description, readable without credentials by design.' },
  ],
  none: [],
};

/** The stage's default steady rate (requests/s); the account's regional API Gateway quota is 10,000. */
export const DEFAULT_API_THROTTLE_RATE = 200;

export interface KeygateApiProps {
  stage: string;
  functions: Record<DeployedFunctionName, lambda.IFunction>;
  /**
   * Create the account's API Gateway CloudWatch Logs role (AWS::ApiGateway::Account), kept when the stack
   * is deleted. Off when the account already has one managed elsewhere (`npm run preflight` checks it).
   */
  cloudWatchRole: boolean;
  /** The stage's throttle (requests/s and burst): a ceiling for the whole stage, above the busiest expected load. */
  throttle: { rate: number; burst: number };
  /** Integration timeout of the streaming routes (default STREAM_INTEGRATION_TIMEOUT): just above the stream function's timeout. */
  streamTimeout?: Duration;
}

export class KeygateApi extends Construct {
  readonly restApi: apigateway.RestApi;
  readonly authorizer: apigateway.RequestAuthorizer;
  readonly accessLogs: logs.LogGroup;
  private readonly integrations = new Map<string, apigateway.LambdaIntegration>();
  private readonly streamTimeout: Duration;

  constructor(scope: Construct, id: string, props: KeygateApiProps) {
    super(scope, id);
    this.streamTimeout = props.streamTimeout ?? STREAM_INTEGRATION_TIMEOUT;

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      logGroupName: `/keygate/${props.stage}/api-access`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      restApiName: `keygate-${props.stage}`,
      description: 'Keygate: API keys in front of a chat API',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // Access logs need the region's account-wide API Gateway CloudWatch Logs role: without one the stage
      // fails to create. CDK makes the stage depend on the AWS::ApiGateway::Account setting it. The role is
      // retained: the account setting keeps pointing at it after this stack is gone (other APIs use it too).
      cloudWatchRole: props.cloudWatchRole,
      ...(props.cloudWatchRole ? { cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN } : {}),
      deployOptions: {
        stageName: props.stage,
        tracingEnabled: true,
        metricsEnabled: true,
        // A ceiling for the whole stage; per-organization limits are enforced by the functions.
        throttlingRateLimit: props.throttle.rate,
        throttlingBurstLimit: props.throttle.burst,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: accessLogFormat(),
      },
    });
    const cloudWatchRole = this.restApi.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      acknowledge(cloudWatchRole, {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'The account-wide role API Gateway itself assumes to write the logs of every API in the region; the AWS ' +
          'managed policy is the documented one and follows new log actions API Gateway needs.',
      });
    }
    acknowledge(this.restApi.node.defaultChild!, {
      id: 'AwsSolutions-APIG2',
      reason:
        'Every body, query and path is validated in the functions (zod), which answer the contract\'s 400 ' +
        'VALIDATION_ERROR with field details; an API Gateway validator would answer a different body.',
    });
    acknowledge(
      this.restApi.deploymentStage.node.defaultChild!,
      {
        id: 'AwsSolutions-APIG6',
        reason:
          'Execution logs would go to a log group API Gateway creates itself, without retention, and repeat what ' +
          'the JSON access logs already record for every request (authorizer and integration errors, latency).',
      },
    );

    this.authorizer = new apigateway.RequestAuthorizer(this, 'ApiKeyAuthorizer', {
      authorizerName: `keygate-${props.stage}-api-key`,
      handler: props.functions.authorizer,
      identitySources: [],
      resultsCacheTtl: Duration.seconds(0),
    });
    // CDK renders an empty identity source as ""; CloudFormation must get none at all.
    (this.authorizer.node.defaultChild as apigateway.CfnAuthorizer).addPropertyDeletionOverride('IdentitySource');

    for (const route of DEPLOYED_ROUTES) this.addRoute(route, props.functions);
    this.addPreflights();
    for (const def of GATEWAY_RESPONSES) this.addGatewayResponse(def);
  }

  private addRoute(route: RouteDefinition, functions: Record<DeployedFunctionName, lambda.IFunction>): void {
    if (route.function === 'dev' || route.auth === 'none') {
      throw new Error(`${route.method} ${route.path} is local-only and must be marked localOnly`);
    }
    const resource = this.restApi.root.resourceForPath(route.path);
    const method = resource.addMethod(
      route.method,
      this.integration(functions[route.function], route.function, route.stream === true),
      route.auth === 'apiKey'
        ? { authorizationType: apigateway.AuthorizationType.CUSTOM, authorizer: this.authorizer }
        : { authorizationType: apigateway.AuthorizationType.NONE },
    );
    acknowledge(method, ...METHOD_ACKNOWLEDGEMENTS[route.auth]);
  }

  /** One Lambda proxy integration per function (and transfer mode), one invoke permission per function. */
  private integration(fn: lambda.IFunction, name: string, stream: boolean): apigateway.LambdaIntegration {
    const key = `${name}:${stream ? 'stream' : 'buffered'}`;
    let integration = this.integrations.get(key);
    if (!integration) {
      integration = new apigateway.LambdaIntegration(fn, {
        proxy: true,
        // Many routes share a function: one API-wide permission keeps its resource policy small.
        scopePermissionToMethod: false,
        ...(stream
          ? { responseTransferMode: apigateway.ResponseTransferMode.STREAM, timeout: this.streamTimeout }
          : {}),
      });
      this.integrations.set(key, integration);
    }
    return integration;
  }

  /**
   * OPTIONS on every path with a public or session route: 204 echoing the request's Origin, without a key
   * (docs/api.md "CORS on public and session routes").
   */
  private addPreflights(): void {
    const browserFacing = DEPLOYED_ROUTES.filter(isBrowserFacing);
    for (const [path, methods] of methodsByPath(browserFacing)) {
      // The OpenAI SDKs send headers of their own: those paths allow what the preflight asks for.
      const echo = browserFacing.some((r) => r.path === path && speaksOpenAi(r));
      this.addPreflight(path, methods, 'method.request.header.Origin', echo ? 'method.request.header.Access-Control-Request-Headers' : `'${CORS_ALLOW_HEADERS}'`);
    }
  }

  /**
   * OPTIONS on every management path, answering for the portal's origin only (the management
   * function adds the same origin to its responses, PORTAL_ORIGINS): a page elsewhere cannot call it.
   */
  allowPortalPreflights(portalOrigin: string): void {
    const portalPaths = DEPLOYED_ROUTES.filter((r) => r.auth === 'portal');
    for (const [path, methods] of methodsByPath(portalPaths)) {
      this.addPreflight(path, methods, `'${portalOrigin}'`, `'${PORTAL_CORS_ALLOW_HEADERS}'`);
    }
  }

  /** A mock 204 with the CORS headers; `allowOrigin` and `allowHeaders` are mapping expressions or quoted literals. */
  private addPreflight(path: string, methods: string[], allowOrigin: string, allowHeaders: string): void {
    const headers: Record<string, string> = {
      'Access-Control-Allow-Origin': allowOrigin,
      'Access-Control-Allow-Methods': `'${[...methods, 'OPTIONS'].join(',')}'`,
      'Access-Control-Allow-Headers': allowHeaders,
      'Access-Control-Max-Age': `'${CORS_MAX_AGE_SECONDS}'`,
      Vary: "'Origin'",
    };
    const responseParameters = Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [`method.response.header.${name}`, value]),
    );
    this.restApi.root.resourceForPath(path).addMethod(
      'OPTIONS',
      new apigateway.MockIntegration({
        requestTemplates: { 'application/json': '{"statusCode": 204}' },
        passthroughBehavior: apigateway.PassthroughBehavior.WHEN_NO_MATCH,
        integrationResponses: [{ statusCode: '204', responseParameters }],
      }),
      {
        authorizationType: apigateway.AuthorizationType.NONE,
        requestParameters: {
          'method.request.header.Origin': false,
          ...(allowHeaders.startsWith('method.request.') ? { [allowHeaders]: false } : {}),
        },
        methodResponses: [
          {
            statusCode: '204',
            responseParameters: Object.fromEntries(Object.keys(responseParameters).map((name) => [name, true])),
          },
        ],
      },
    );
  }

  private addGatewayResponse(def: GatewayResponseDefinition): void {
    const responseHeaders: Record<string, string> = { 'Content-Type': "'application/json'" };
    for (const [name, value] of Object.entries(def.headers ?? {})) responseHeaders[name] = `'${value}'`;
    if (def.echoOrigin) {
      responseHeaders['Access-Control-Allow-Origin'] = 'method.request.header.Origin';
      responseHeaders['Access-Control-Expose-Headers'] = `'${CORS_EXPOSE_HEADERS}'`;
      responseHeaders['Vary'] = "'Origin'";
    }
    this.restApi.addGatewayResponse(def.type, {
      type: apigateway.ResponseType.of(def.type),
      statusCode: String(def.status),
      templates: { 'application/json': def.template },
      responseHeaders,
    });
  }
}

/**
 * One JSON line per request. No request header and no `$context.identity.apiKey` (API Gateway's own
 * usage-plan key) appear in it, so no key or token can reach the logs; the key is identified by its
 * id, which the authorizer returns as principalId for allowed and denied requests alike.
 */
function accessLogFormat(): apigateway.AccessLogFormat {
  const fields: Record<string, string> = {
    requestId: '$context.requestId',
    route: '$context.httpMethod $context.resourcePath',
    keyId: '$context.authorizer.principalId',
    organizationId: '$context.authorizer.organizationId',
    extendedRequestId: '$context.extendedRequestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    httpMethod: '$context.httpMethod',
    resourcePath: '$context.resourcePath',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    authorizerStatus: '$context.authorizer.status',
    authorizerLatency: '$context.authorizer.latency',
    authorizerError: '$context.authorizer.error',
    integrationStatus: '$context.integration.status',
    integrationLatency: '$context.integration.latency',
    integrationError: '$context.integration.error',
    errorResponseType: '$context.error.responseType',
    errorMessage: '$context.error.message',
    xrayTraceId: '$context.xrayTraceId',
  };
  return apigateway.AccessLogFormat.custom(JSON.stringify(fields));
}
