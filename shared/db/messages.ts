// Messages of sessions and conversations, in the messages table (pk `sessionId`, sk `id`). Message
// ids sort by creation time (timeOrderedId), so a session's history is one ascending Query.
// A turn (the user's message and the assistant's reply) is written only once the reply is complete,
// in one transaction: history never holds a question without its answer, and a failed reply leaves
// nothing behind.
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import { db, transactWrite } from './client.ts';
import type { SessionItem } from './sessions.ts';

export type MessageRole = 'user' | 'assistant';

export interface MessageItem {
  sessionId: string;
  id: string;
  organizationId: string;
  keyId: string;
  role: MessageRole;
  content: string;
  createdAt: string;
  ttl: number;
  /** Assistant messages: the reply's tokens (docs/upstreams.md), estimated when `usageEstimated`. */
  inputTokens?: number;
  outputTokens?: number;
  usageEstimated?: boolean;
}

export interface MessageView {
  id: string;
  role: MessageRole;
  content: string;
  createdAt: string;
}

export function messageView(item: MessageItem): MessageView {
  return { id: item.id, role: item.role, content: item.content, createdAt: item.createdAt };
}

function live(item: MessageItem, now: Date): boolean {
  return typeof item.ttl !== 'number' || item.ttl > epochSeconds(now);
}

export interface TurnExtras {
  /** A conversation's first turn creates its item. */
  newConversation?: SessionItem;
  /** A put that must happen with the turn or not at all (the reply kept for its Idempotency-Key). */
  record?: { Put: { TableName: string; Item: Record<string, unknown> } };
  /** Writes that count the turn (the reply's tokens per day), in the same transaction. */
  counters?: readonly { Update: Record<string, unknown> }[];
  /** A stateless reply (the OpenAI-compatible route): everything but the two messages. */
  withoutMessages?: boolean;
}

/**
 * Store a turn (and its extras) in one transaction. Two first uses of one conversation id at once
 * both try to create it; the one that loses stores its turn in the conversation the other created
 * (same stored id, so same scope), so both end up in one conversation.
 */
export async function saveTurn(user: MessageItem, assistant: MessageItem, extras: TurnExtras = {}): Promise<void> {
  const messages = tableName('messages');
  const { newConversation, record, counters = [], withoutMessages = false } = extras;
  const items = [
    ...(newConversation
      ? [{ Put: { TableName: tableName('sessions'), Item: newConversation, ConditionExpression: 'attribute_not_exists(id)' } }]
      : []),
    ...(withoutMessages
      ? []
      : [
          { Put: { TableName: messages, Item: user, ConditionExpression: 'attribute_not_exists(id)' } },
          { Put: { TableName: messages, Item: assistant, ConditionExpression: 'attribute_not_exists(id)' } },
        ]),
    ...(record ? [record] : []),
    ...counters,
  ];
  if (items.length === 0) return;
  const result = await transactWrite({ TransactItems: items as Parameters<typeof transactWrite>[0]['TransactItems'] });
  if (result.ok) return;
  if (newConversation && result.reasons[0]?.Code === 'ConditionalCheckFailed') return saveTurn(user, assistant, { ...(record ? { record } : {}), counters });
  throw new Error(`turn not stored: ${result.reasons.map((r) => r.Code).join(',')}`);
}

/** Up to `limit` of a session's messages (read consistently) in one direction, without the expired ones. */
async function liveMessages(
  sessionId: string,
  read: { forward: boolean; limit: number; afterId: string | undefined },
  now: Date,
): Promise<MessageItem[]> {
  const page = await db.send(
    new QueryCommand({
      TableName: tableName('messages'),
      KeyConditionExpression: 'sessionId = :s',
      ExpressionAttributeValues: { ':s': sessionId },
      ScanIndexForward: read.forward,
      ConsistentRead: true,
      Limit: read.limit,
      ...(read.afterId ? { ExclusiveStartKey: { sessionId, id: read.afterId } } : {}),
    }),
  );
  return ((page.Items ?? []) as MessageItem[]).filter((m) => live(m, now));
}

/** One page of a session's history, oldest first, after message `afterId` if given. */
export async function listHistory(
  sessionId: string,
  limit: number,
  afterId: string | undefined,
  now: Date,
): Promise<{ items: MessageItem[]; more: boolean }> {
  // One extra item tells whether another page exists, so the last page has no dangling cursor.
  const items = await liveMessages(sessionId, { forward: true, limit: limit + 1, afterId }, now);
  return { items: items.slice(0, limit), more: items.length > limit };
}

/** The last `count` messages of a session, oldest first: the context a reply is generated from. */
export async function recentMessages(sessionId: string, count: number, now: Date): Promise<MessageItem[]> {
  return (await liveMessages(sessionId, { forward: false, limit: count, afterId: undefined }, now)).reverse();
}
