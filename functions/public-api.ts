// Public API (API keys, verified by the Lambda authorizer before this function runs).
// Event: API Gateway REST proxy (APIGatewayProxyEvent) with the authorizer's context.
import { createApiHandler, type ApiRequest } from '../shared/http/pipeline.ts';
import { json } from '../shared/http/response.ts';

async function whoami(req: ApiRequest) {
  const key = req.key!;
  return json(200, {
    keyId: key.keyId,
    organizationId: key.organizationId,
    type: key.type,
    scopes: key.scopes,
    databaseId: key.databaseId,
    expiresAt: key.expiresAt,
  });
}

async function notYetBuilt(): Promise<never> {
  throw new Error('route not built yet');
}

export const routes = {
  'GET /v1/auth/whoami': whoami,
  'POST /v1/chat/sessions': notYetBuilt,
  'POST /v1/chat/voice-sessions': notYetBuilt,
  'POST /v1/chat/message': notYetBuilt,
  'POST /api/v1/chat/message': notYetBuilt,
};

export const handler = createApiHandler('publicApi', routes);
