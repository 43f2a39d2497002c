// Public API (API keys, verified by the Lambda authorizer before this function runs): whoami, chat
// and voice session creation. One-shot messages wait for a reply: they are the reply function's
// (functions/chat-stream.ts), on the streaming integration.
// Event: API Gateway REST proxy (APIGatewayProxyEvent) with the authorizer's context.
import { hasCredits } from '../shared/db/credits.ts';
import { admit } from '../shared/db/rate-limits.ts';
import { putSession, retentionTtl, type SessionItem } from '../shared/db/sessions.ts';
import { requestedDatabase } from '../shared/domain/authorize.ts';
import { ApiError } from '../shared/domain/errors.ts';
import { resolveAssistant } from '../shared/chat/assistants.ts';
import { listModels } from '../shared/chat/models.ts';
import { newId } from '../shared/domain/ids.ts';
import { checkedOrigin } from '../shared/domain/key-identity.ts';
import { iso } from '../shared/domain/time.ts';
import { parseCreateSession } from '../shared/chat/schemas.ts';
import { signSessionToken, type SessionKind } from '../shared/chat/session-token.ts';
import { createApiHandler, type ApiRequest, type RouteHandler } from '../shared/http/pipeline.ts';
import { json } from '../shared/http/response.ts';
import type { RouteKey } from '../shared/routes.ts';

/** How long a chat or voice session (and its token) lives; never beyond its key's expiry. */
export const SESSION_LIFETIME_MS = 60 * 60 * 1000;

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

function createSession(type: SessionKind) {
  return async (req: ApiRequest) => {
    const key = req.key!;
    const { metadata, assistant: requested } = parseCreateSession(req.body);
    // The authorizer has checked a publishable key's Origin; a session is bound to that Origin.
    const origin = checkedOrigin(key);
    if (key.type === 'publishable' && !origin) throw new ApiError('CORS_ORIGIN_NOT_ALLOWED');
    const [assistant, credits] = await Promise.all([
      resolveAssistant({ key, requested, database: requestedDatabase(req.headers, req.query) }),
      hasCredits(key.organizationId),
    ]);
    if (!credits) throw new ApiError('INSUFFICIENT_CREDITS');
    const now = new Date();
    const keyExpiry = Date.parse(key.expiresAt);
    const expiresAt = new Date(Math.min(now.getTime() + SESSION_LIFETIME_MS, Number.isNaN(keyExpiry) ? Infinity : keyExpiry));
    const item: SessionItem = {
      id: newId('ses'),
      organizationId: key.organizationId,
      keyId: key.keyId,
      keyType: key.type,
      type,
      status: 'active',
      origin,
      databaseId: key.databaseId,
      metadata,
      orgLimits: key.orgLimits,
      keyLimits: key.keyLimits,
      assistant,
      createdAt: iso(now),
      expiresAt: iso(expiresAt),
      ttl: retentionTtl(expiresAt),
    };
    // Signed before the write: a signing failure leaves no orphan session behind.
    const token = await signSessionToken({
      sessionId: item.id,
      organizationId: item.organizationId,
      keyId: item.keyId,
      type,
      origin,
      expiresAt,
    });
    await putSession(item);
    return json(201, { sessionId: item.id, token, type, expiresAt: item.expiresAt, assistant: { id: assistant.id, name: assistant.name } });
  };
}

export const routes = {
  'GET /v1/auth/whoami': whoami,
  'POST /v1/chat/sessions': createSession('chat'),
  'POST /v1/chat/voice-sessions': createSession('voice'),
  'GET /v1/models': listModels,
} satisfies Record<RouteKey<'publicApi'>, RouteHandler>;

export const handler = createApiHandler('publicApi', routes, { admit });
