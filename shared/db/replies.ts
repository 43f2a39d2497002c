// Replies kept for their Idempotency-Key (docs/api.md "Rate limits and credits"), so a retry gets the original reply
// back, as Stripe does, instead of a second charge. One item per (API key, request key) in the usage
// table, pk `reply#key#<keyId>`, sk the request key (which carries the session for session
// messages), written in the same transaction as the turn it records: a reply is either stored and
// replayable, or not stored at all. Kept as long as the credit reservation remembers the request
// key (RESERVATION_RETENTION_DAYS); an older record is ignored at read time.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { epochSeconds } from '../domain/time.ts';
import { reservationTtl } from '../limits/windows.ts';
import { tableName } from '../tables.ts';
import { db } from './client.ts';

export interface StoredReply {
  /** The stored id of the session or conversation the turn went to. */
  threadId: string;
  userMessageId: string;
  messageId: string;
  content: string;
  /** What the request asked (a hash): the same key with another request is refused. */
  fingerprint: string;
  /** Stateless replies (nothing else keeps their tokens): what the original used, given back on a replay. */
  usage?: { inputTokens: number; outputTokens: number };
  /** Credits the reply was charged (absent on replies stored before holds: one). */
  credits?: number;
}

function replyKey(keyId: string, requestKey: string): { pk: string; sk: string } {
  return { pk: `reply#key#${keyId}`, sk: requestKey };
}

/** The Put that records a reply, for the turn's transaction. */
export function replyRecordPut(keyId: string, requestKey: string, reply: StoredReply, now: Date) {
  return { Put: { TableName: tableName('usage'), Item: { ...replyKey(keyId, requestKey), ...reply, ttl: reservationTtl(now) } } };
}

export async function storedReply(keyId: string, requestKey: string, now: Date): Promise<StoredReply | undefined> {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: replyKey(keyId, requestKey), ConsistentRead: true }));
  if (!Item || Number(Item.ttl) <= epochSeconds(now)) return undefined;
  const { threadId, userMessageId, messageId, content, fingerprint, usage, credits } = Item as StoredReply;
  return { threadId, userMessageId, messageId, content, fingerprint, ...(usage ? { usage } : {}), ...(credits !== undefined ? { credits: Number(credits) } : {}) };
}
