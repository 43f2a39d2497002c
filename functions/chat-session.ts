// Session API (session tokens, verified in this function by the session authenticator with one
// DynamoDB read): a session's history and ending it.
// Event: API Gateway REST proxy (APIGatewayProxyEvent); these routes have no API Gateway authorizer.
import { admit } from '../shared/db/rate-limits.ts';
import { listHistory, messageView } from '../shared/db/messages.ts';
import { endSession } from '../shared/db/sessions.ts';
import { parseInput } from '../shared/domain/validation.ts';
import { decodeCursor, encodeCursor } from '../shared/domain/cursor.ts';
import { historyQuery } from '../shared/chat/schemas.ts';
import { authenticateSession, sessionOf } from '../shared/chat/session-auth.ts';
import { createApiHandler, type ApiRequest, type RouteHandler } from '../shared/http/pipeline.ts';
import { json } from '../shared/http/response.ts';
import { SESSION, type RouteKey } from '../shared/routes.ts';

async function getHistory(req: ApiRequest) {
  const session = sessionOf(req);
  const query = parseInput(historyQuery(), req.query);
  const after = query.cursor ? decodeCursor(query.cursor, ['id'], (p) => p.id.startsWith('msg_')).id : undefined;
  const { items, more } = await listHistory(session.id, query.limit, after, new Date());
  const last = items.at(-1);
  return json(200, {
    items: items.map(messageView),
    nextCursor: more && last ? encodeCursor({ id: last.id }) : null,
  });
}

async function postEnd(req: ApiRequest) {
  const session = sessionOf(req);
  await endSession(session.id, new Date());
  return json(200, { sessionId: session.id, status: 'ended' });
}

export const routes = {
  [`GET ${SESSION}/messages`]: getHistory,
  [`POST ${SESSION}/end`]: postEnd,
} satisfies Record<RouteKey<'chatSession'>, RouteHandler>;

export const handler = createApiHandler('chatSession', routes, { authenticateSession, admit });
