// Public API (API keys, verified by the Lambda authorizer before this function runs): whoami,
// chat and voice session creation, and one-shot chat messages.
// Event: API Gateway REST proxy (APIGatewayProxyEvent) with the authorizer's context.
import { hasCredits } from '../shared/db/credits.ts';
import { admit } from '../shared/db/rate-limits.ts';
import { getSessionItem, putSession, retentionTtl, sessionStatus, type SessionItem } from '../shared/db/sessions.ts';
import { conversationScope, publicConversationId, storedConversationId } from '../shared/domain/conversations.ts';
import { requestedDatabase } from '../shared/domain/authorize.ts';
import { ApiError, validationError } from '../shared/domain/errors.ts';
import { resolveAssistant } from '../shared/chat/assistants.ts';
import { newId } from '../shared/domain/ids.ts';
import { addDays, iso } from '../shared/domain/time.ts';
import { collectReply, CREDITS_PER_REPLY, REPLAYED_HEADER, startReply } from '../shared/chat/reply.ts';
import { idempotencyKey, parseCreateSession, parseOneShot } from '../shared/chat/schemas.ts';
import { signSessionToken, type SessionKind } from '../shared/chat/session-token.ts';
import { createApiHandler, type ApiRequest, type RouteHandler } from '../shared/http/pipeline.ts';
import { json } from '../shared/http/response.ts';
import type { RouteKey } from '../shared/routes.ts';

/** How long a chat or voice session (and its token) lives; never beyond its key's expiry. */
export const SESSION_LIFETIME_MS = 60 * 60 * 1000;
/** How long a one-shot conversation can be continued after it starts. */
export const CONVERSATION_LIFETIME_DAYS = 30;

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
    const origin = key.type === 'publishable' ? key.origin : null;
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

/**
 * The conversation `id` names in the caller's scope (docs/api.md "Routes"): the live item, or
 * undefined when the id is not used yet in that scope (a new conversation starts under it).
 */
async function findConversation(storedId: string, now: Date): Promise<SessionItem | undefined> {
  const item = await getSessionItem(storedId);
  if (item && sessionStatus(item, now) !== 'active') {
    throw new ApiError('CONFLICT', `Conversation has expired (they last ${CONVERSATION_LIFETIME_DAYS} days); continue under a new conversation_id`);
  }
  return item;
}

async function oneShotMessage(req: ApiRequest) {
  const key = req.key!;
  const { message, conversation_id, assistant: requested } = parseOneShot(req.body);
  const idempotency = idempotencyKey(req.headers);
  const assistant = await resolveAssistant({ key, requested, database: requestedDatabase(req.headers, req.query) });
  const now = new Date();
  const conversationId = conversation_id ?? newId('conv');
  const storedId = storedConversationId(conversationScope(key), conversationId);
  const existing = conversation_id !== undefined ? await findConversation(storedId, now) : undefined;
  // A publishable key is public: a chosen (guessable) id would let one visitor continue another's
  // conversation, so with one only ids Keygate returned to this key are accepted.
  if (key.type === 'publishable' && conversation_id !== undefined && !existing) {
    throw validationError([{ field: 'conversation_id', message: 'with a publishable key, must be a conversation_id Keygate returned to this key' }]);
  }
  const expiresAt = addDays(now, CONVERSATION_LIFETIME_DAYS);
  const conversation: SessionItem = existing ?? {
    id: storedId,
    organizationId: key.organizationId,
    keyId: key.keyId,
    keyType: key.type,
    type: 'conversation',
    status: 'active',
    origin: key.type === 'publishable' ? key.origin : null,
    databaseId: key.databaseId,
    metadata: null,
    orgLimits: key.orgLimits,
    keyLimits: key.keyLimits,
    createdAt: iso(now),
    expiresAt: iso(expiresAt),
    ttl: retentionTtl(expiresAt),
  };
  const reply = await startReply({
    organizationId: key.organizationId,
    keyId: key.keyId,
    threadId: conversation.id,
    content: message,
    ttl: conversation.ttl,
    ...(idempotency ? { idempotency: { key: idempotency, scope: 'message', request: { message, conversation_id } } } : {}),
    // A new conversation exists only once its first reply is stored, in the same transaction.
    ...(!existing ? { newConversation: conversation } : {}),
    contentField: 'message',
    assistant,
    requestId: req.requestId,
    identity: {
      keyType: key.type,
      databaseId: key.databaseId,
      sessionId: null,
      conversationId: publicConversationId(conversation.id),
      origin: key.type === 'publishable' ? key.origin : null,
    },
  });
  const done = await collectReply(reply, req.requestId);
  return json(
    200,
    {
      // A replay answers with the original's conversation (a generated id is not generated again).
      conversation_id: publicConversationId(reply.threadId),
      message: { role: 'assistant', content: done.content },
      usage: { credits: CREDITS_PER_REPLY },
    },
    reply.replayed ? REPLAYED_HEADER : {},
  );
}

export const routes = {
  'GET /v1/auth/whoami': whoami,
  'POST /v1/chat/sessions': createSession('chat'),
  'POST /v1/chat/voice-sessions': createSession('voice'),
  'POST /v1/chat/message': oneShotMessage,
  'POST /api/v1/chat/message': oneShotMessage,
} satisfies Record<RouteKey<'publicApi'>, RouteHandler>;

export const handler = createApiHandler('publicApi', routes, { admit });
