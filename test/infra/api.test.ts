import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYED_ROUTES } from '../../infra/constructs/api.ts';
import { CORS_ALLOW_HEADERS, CORS_MAX_AGE_SECONDS } from '../../shared/http/cors.ts';
import { FUNCTION_SPECS } from '../../infra/constructs/function-specs.ts';
import { tableOutputId } from '../../infra/stack.ts';
import { GATEWAY_RESPONSES } from '../../shared/gateway-responses.ts';
import { isBrowserFacing, ROUTES, routeKey, speaksOpenAi } from '../../shared/routes.ts';
import { TABLES, type TableKey } from '../../shared/tables.ts';
import {
  findMethod,
  functionByName,
  ofType,
  referencedIds,
  resourcePaths,
  single,
  synthBeforeAll,
  tableLogicalId,
} from '../support/stack.ts';

describe('REST API', () => {
  const s = synthBeforeAll();
  let authorizerId: string;
  beforeAll(() => {
    [authorizerId] = single(s.resources, 'AWS::ApiGateway::Authorizer');
  });

  describe('the API key authorizer', () => {
    it('is a REQUEST authorizer with caching off and no identity source', () => {
      const props = s.resources[authorizerId]!.Properties!;
      expect(props.Type).toBe('REQUEST');
      expect(props.AuthorizerResultTtlInSeconds).toBe(0);
      expect(props).not.toHaveProperty('IdentitySource');
      expect(referencedIds(props.AuthorizerUri)).toEqual(new Set([functionByName(s, 'authorizer')[0]]));
    });

    it('is the only authorizer', () => {
      expect(ofType(s.resources, 'AWS::ApiGateway::Authorizer')).toHaveLength(1);
    });
  });

  describe.each(DEPLOYED_ROUTES.map((route) => [routeKey(route), route] as const))('%s', (_, route) => {
    const method = () => {
      const found = findMethod(s, route.method, route.path);
      if (!found) throw new Error(`no method for ${routeKey(route)}`);
      return found.Properties!;
    };

    it(`is a Lambda proxy integration of ${route.function}`, () => {
      expect(method().Integration.Type).toBe('AWS_PROXY');
      expect(referencedIds(method().Integration.Uri)).toEqual(new Set([functionByName(s, route.function)[0]]));
    });

    if (route.auth === 'apiKey') {
      it('is guarded by the API key authorizer', () => {
        expect(method().AuthorizationType).toBe('CUSTOM');
        expect(method().AuthorizerId).toEqual({ Ref: authorizerId });
      });
    } else {
      it(`has no API Gateway authorizer (the ${route.auth} token is verified in the function)`, () => {
        expect(method().AuthorizationType).toBe('NONE');
        expect(method().AuthorizerId).toBeUndefined();
      });
    }

    if (route.stream) {
      it('streams the response, with a timeout above the function timeout', () => {
        const integration = method().Integration;
        expect(integration.ResponseTransferMode).toBe('STREAM');
        expect(JSON.stringify(integration.Uri)).toContain('/response-streaming-invocations');
        expect(integration.TimeoutInMillis).toBeGreaterThan(FUNCTION_SPECS[route.function as 'chatStream'].timeout.toMilliseconds());
      });
    } else {
      it('buffers the response', () => {
        expect(method().Integration.ResponseTransferMode ?? 'BUFFERED').toBe('BUFFERED');
      });
    }
  });

  it('has no resource or method for local-only routes', () => {
    const paths = [...resourcePaths(s).values()];
    for (const route of ROUTES.filter((r) => r.localOnly)) {
      expect(paths).not.toContain(route.path);
      expect(findMethod(s, route.method, route.path)).toBeUndefined();
    }
    expect(paths.some((path) => path.startsWith('/_dev'))).toBe(false);
  });

  it('has no method beyond the route table and the preflights', () => {
    const browserPaths = new Set(DEPLOYED_ROUTES.filter(isBrowserFacing).map((r) => r.path));
    const portalPaths = new Set(DEPLOYED_ROUTES.filter((r) => r.auth === 'portal').map((r) => r.path));
    expect(ofType(s.resources, 'AWS::ApiGateway::Method')).toHaveLength(DEPLOYED_ROUTES.length + browserPaths.size + portalPaths.size);
  });

  describe('CORS preflight', () => {
    const paths = [...new Set(DEPLOYED_ROUTES.filter(isBrowserFacing).map((r) => r.path))];

    it.each(paths)('OPTIONS %s answers 204 echoing the Origin, without a key', (path) => {
      const method = findMethod(s, 'OPTIONS', path)?.Properties;
      expect(method).toBeDefined();
      expect(method!.AuthorizationType).toBe('NONE');
      expect(method!.Integration.Type).toBe('MOCK');
      const methods = [...DEPLOYED_ROUTES.filter((r) => r.path === path).map((r) => r.method), 'OPTIONS'];
      const [response] = method!.Integration.IntegrationResponses;
      expect(response.StatusCode).toBe('204');
      expect(response.ResponseParameters).toEqual({
        'method.response.header.Access-Control-Allow-Origin': 'method.request.header.Origin',
        'method.response.header.Access-Control-Allow-Methods': `'${methods.join(',')}'`,
        // The OpenAI-compatible routes echo what the preflight asks for (the SDKs' own headers).
        'method.response.header.Access-Control-Allow-Headers': DEPLOYED_ROUTES.some((r) => r.path === path && speaksOpenAi(r))
          ? 'method.request.header.Access-Control-Request-Headers'
          : `'${CORS_ALLOW_HEADERS}'`,
        'method.response.header.Access-Control-Max-Age': `'${CORS_MAX_AGE_SECONDS}'`,
        'method.response.header.Vary': "'Origin'",
      });
      expect(method!.MethodResponses).toEqual([
        {
          StatusCode: '204',
          ResponseParameters: Object.fromEntries(Object.keys(response.ResponseParameters).map((k) => [k, true])),
        },
      ]);
    });

    it('allows the headers the contract names', () => {
      for (const header of ['Content-Type', 'X-API-Key', 'Authorization']) expect(CORS_ALLOW_HEADERS).toContain(header);
    });

    it('on management-only paths answers for the portal origin only (the distribution), never echoing the Origin', () => {
      const managementPaths = new Set(DEPLOYED_ROUTES.filter((r) => r.auth === 'portal').map((r) => r.path));
      const [distributionId] = single(s.resources, 'AWS::CloudFront::Distribution');
      for (const path of managementPaths) {
        const method = findMethod(s, 'OPTIONS', path)?.Properties;
        expect(method, path).toBeDefined();
        const params = method!.Integration.IntegrationResponses[0].ResponseParameters;
        expect(params['method.response.header.Access-Control-Allow-Origin']).toEqual({
          'Fn::Join': ['', ["'https://", { 'Fn::GetAtt': [distributionId, 'DomainName'] }, "'"]],
        });
        expect(params['method.response.header.Access-Control-Allow-Headers']).toBe("'Content-Type, Authorization'");
      }
    });
  });

  describe.each(GATEWAY_RESPONSES.map((def) => [def.type, def] as const))('gateway response %s', (type, def) => {
    it(`answers ${def.status} with the shared template and headers`, () => {
      const found = ofType(s.resources, 'AWS::ApiGateway::GatewayResponse').filter(([, r]) => r.Properties!.ResponseType === type);
      expect(found).toHaveLength(1);
      const props = found[0]![1].Properties!;
      const headers: Record<string, string> = { 'gatewayresponse.header.Content-Type': "'application/json'" };
      for (const [name, value] of Object.entries(def.headers ?? {})) headers[`gatewayresponse.header.${name}`] = `'${value}'`;
      if (def.echoOrigin) {
        headers['gatewayresponse.header.Access-Control-Allow-Origin'] = 'method.request.header.Origin';
        headers['gatewayresponse.header.Access-Control-Expose-Headers'] =
          "'X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, Idempotent-Replayed'";
        headers['gatewayresponse.header.Vary'] = "'Origin'";
      }
      expect(props.StatusCode).toBe(String(def.status));
      expect(props.ResponseTemplates).toEqual({ 'application/json': def.template });
      expect(props.ResponseParameters).toEqual(headers);
    });
  });

  it('has no gateway response beyond the shared ones', () => {
    expect(ofType(s.resources, 'AWS::ApiGateway::GatewayResponse')).toHaveLength(GATEWAY_RESPONSES.length);
  });

  it('deploys a regional stage named after the stage, traced, throttled and access-logged', () => {
    const [, api] = single(s.resources, 'AWS::ApiGateway::RestApi');
    expect(api.Properties!.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
    const [, stage] = single(s.resources, 'AWS::ApiGateway::Stage');
    expect(stage.Properties!).toMatchObject({ StageName: 'dev', TracingEnabled: true });
    expect(stage.Properties!.MethodSettings[0]).toMatchObject({ HttpMethod: '*', ResourcePath: '/*' });
    // The default throttle; context apiThrottleRate/apiThrottleBurst set it (test/infra/operations.test.ts).
    expect(stage.Properties!.MethodSettings[0]).toMatchObject({ ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 });
    const logGroupId = stage.Properties!.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
    expect(s.resources[logGroupId]!.Properties!.RetentionInDays).toBe(30);
    const format = JSON.parse(stage.Properties!.AccessLogSetting.Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', authorizerError: '$context.authorizer.error' });
    // Headers (keys, tokens) never go to the access log.
    expect(stage.Properties!.AccessLogSetting.Format).not.toMatch(/header|Authorization|X-API-Key/i);
  });

  it('lets API Gateway invoke each route function and the authorizer, and Cognito only its token trigger', () => {
    const permissions = ofType(s.resources, 'AWS::Lambda::Permission').map(([, p]) => {
      expect(p.Properties!.Action).toBe('lambda:InvokeFunction');
      return { principal: p.Properties!.Principal as string, fn: [...referencedIds(p.Properties!.FunctionName)][0] };
    });
    const invokedByApi = permissions.filter((p) => p.principal === 'apigateway.amazonaws.com').map((p) => p.fn);
    const expected = [...new Set([...DEPLOYED_ROUTES.map((r) => r.function), 'authorizer'])].map((name) => functionByName(s, name)[0]);
    expect(invokedByApi.sort()).toEqual(expected.sort());
    // The user pool's pre-token-generation trigger (operators keep their group only with TOTP MFA).
    const others = permissions.filter((p) => p.principal !== 'apigateway.amazonaws.com');
    expect(others).toHaveLength(1);
    expect(others[0]!.principal).toBe('cognito-idp.amazonaws.com');
    expect(others[0]!.fn).toMatch(/OperatorTokens/);
  });

  describe('portal user pool', () => {
    it('takes no self sign-up, signs in by email, has a strong password policy and optional TOTP MFA', () => {
      const [, pool] = single(s.resources, 'AWS::Cognito::UserPool');
      expect(pool.Properties!.AdminCreateUserConfig).toMatchObject({ AllowAdminCreateUserOnly: true });
      expect(pool.Properties!.UsernameAttributes).toEqual(['email']);
      expect(pool.Properties!.Policies.PasswordPolicy).toMatchObject({
        MinimumLength: 12,
        RequireLowercase: true,
        RequireUppercase: true,
        RequireNumbers: true,
        RequireSymbols: true,
      });
      expect(pool.Properties!.MfaConfiguration).toBe('OPTIONAL');
      expect(pool.Properties!.EnabledMfas).toEqual(['SOFTWARE_TOKEN_MFA']);
      expect(pool.DeletionPolicy).toBe('RetainExceptOnCreate');
    });

    it('has a public SRP client and the operators group', () => {
      const [, client] = single(s.resources, 'AWS::Cognito::UserPoolClient');
      expect(client.Properties!.GenerateSecret).toBe(false);
      expect(client.Properties!.ExplicitAuthFlows).toContain('ALLOW_USER_SRP_AUTH');
      expect(client.Properties!.ExplicitAuthFlows).not.toContain('ALLOW_USER_PASSWORD_AUTH');
      const groups = ofType(s.resources, 'AWS::Cognito::UserPoolGroup').map(([, g]) => g.Properties!.GroupName);
      expect(groups).toEqual(['operators']);
    });
  });

  it('generates a 64-character session signing secret without punctuation', () => {
    const [, secret] = single(s.resources, 'AWS::SecretsManager::Secret');
    expect(secret.Properties!.GenerateSecretString).toMatchObject({ PasswordLength: 64, ExcludePunctuation: true });
  });

  describe('outputs', () => {
    it('gives the API URL, user pool and client ids', () => {
      const outputs = s.template.toJSON().Outputs;
      const [poolId] = single(s.resources, 'AWS::Cognito::UserPool');
      const [clientId] = single(s.resources, 'AWS::Cognito::UserPoolClient');
      expect(JSON.stringify(outputs.ApiUrl.Value)).toContain('.execute-api.');
      expect(outputs.UserPoolId.Value).toEqual({ Ref: poolId });
      expect(outputs.UserPoolClientId.Value).toEqual({ Ref: clientId });
    });

    it.each(Object.keys(TABLES) as TableKey[])('gives the %s table name', (key) => {
      expect(s.template.toJSON().Outputs[tableOutputId(key)].Value).toEqual({ Ref: tableLogicalId(s, key) });
    });
  });
});
