// The local runtime and the stack answer the gateway's own responses alike: for every Gateway
// Response in the synthesized template, what API Gateway would send (its template with `$context`
// substituted, its header mappings applied) equals what the local runtime renders.
import { describe, expect, it } from 'vitest';
import { GATEWAY_RESPONSES, renderGatewayResponse, type GatewayResponseType } from '../../shared/gateway-responses.ts';
import { ofType, synthBeforeAll, type CfnResource } from '../support/stack.ts';

const context = {
  requestId: 'req-123',
  origin: 'https://shop.example',
  authorizer: { denyError: 'forbidden', denyMessage: 'Origin is not allowed for this API key', denyCode: 'CORS_ORIGIN_NOT_ALLOWED' },
};

/** API Gateway's behaviour for a gateway response, from the template alone. */
function asApiGatewayWould(resource: CfnResource) {
  const props = resource.Properties!;
  const body = (props.ResponseTemplates['application/json'] as string).replace(/\$context\.([A-Za-z.]+)/g, (_, name: string) =>
    name === 'requestId' ? context.requestId : name.startsWith('authorizer.') ? (context.authorizer as Record<string, string>)[name.slice(11)] ?? '' : '',
  );
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(props.ResponseParameters as Record<string, string>)) {
    const name = key.replace('gatewayresponse.header.', '');
    headers[name] = value === 'method.request.header.Origin' ? context.origin : value.replace(/^'|'$/g, '');
  }
  return { status: Number(props.StatusCode), headers, body };
}

describe('local gateway responses equal the stack', () => {
  const s = synthBeforeAll();

  it.each(GATEWAY_RESPONSES.map((r) => r.type))('%s', (type) => {
    const [, resource] = ofType(s.resources, 'AWS::ApiGateway::GatewayResponse').find(([, r]) => r.Properties!.ResponseType === type)!;
    const local = renderGatewayResponse(type as GatewayResponseType, context);
    expect(local).toEqual(asApiGatewayWould(resource));
    if (type !== 'ACCESS_DENIED') expect(() => JSON.parse(local.body)).not.toThrow();
  });

  it('the ACCESS_DENIED body is the contract error, built from the authorizer context', () => {
    const local = renderGatewayResponse('ACCESS_DENIED', context);
    expect(JSON.parse(local.body)).toEqual({
      error: 'forbidden',
      message: 'Origin is not allowed for this API key',
      code: 'CORS_ORIGIN_NOT_ALLOWED',
    });
    expect(local.headers['Access-Control-Allow-Origin']).toBeUndefined();
  });
});
