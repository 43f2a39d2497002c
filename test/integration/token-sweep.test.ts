// The credit sweep and token windows against DynamoDB Local: a reply whose function died holds
// tokens in its token windows as well as credits. The sweep returns them with the credits when it
// returns the hold whole (nothing reached the caller), keeps them when it charges in full, and a
// sweep racing the reply's own late settle returns them once, on the one-item and the
// high-volume path (the organization's token item, or one of its token shards).
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatBackend } from '../../shared/chat/backend.ts';
import { setChatBackend } from '../../shared/chat/backends.ts';
import { builtinAssistant, startReply, type StartedReply } from '../../shared/chat/reply.ts';
import { db } from '../../shared/db/client.ts';
import { reservationKey, sweepHolds } from '../../shared/db/credits.ts';
import { createOrganization, getOrganization } from '../../shared/db/organizations.ts';
import { tokenPartition } from '../../shared/db/token-windows.ts';
import { newId } from '../../shared/domain/ids.ts';
import { tableName } from '../../shared/tables.ts';
import { TEST_AUDIT } from '../support/audit.ts';
import { widenDbPools } from '../support/db-pool.ts';

beforeAll(() => widenDbPools());
afterAll(() => setChatBackend(undefined));

/** An upstream that sends one delta, then waits until it is stopped (its function "dies" meanwhile). */
const stalled: ChatBackend = {
  kind: 'stalled',
  async *reply({ signal }) {
    yield 'word ';
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    return { inputTokens: 10, outputTokens: 1 };
  },
};

async function newOrg(): Promise<string> {
  const { id } = await createOrganization('Swept Tokens Inc', 'owner', 1_000, TEST_AUDIT, new Date());
  await db.send(new UpdateCommand({
    TableName: tableName('organizations'),
    Key: { id },
    UpdateExpression: 'SET billing = :b, billingRev = :one',
    ExpressionAttributeValues: { ':b': { mode: 'tokens', inputPer1k: 10, outputPer1k: 100 }, ':one': 1 },
  }));
  return id;
}

const today = () => new Date().toISOString().slice(0, 10);

async function dayTokensOf(pk: string): Promise<number> {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: { pk, sk: today() }, ConsistentRead: true }));
  return Number(Item?.td ?? 0);
}

/** The key's token day window: what it counts now. */
const keyTokens = (keyId: string) => dayTokensOf(tokenPartition({ keyId }));

/** The organization's token day window: its item plus its 64 token shards. */
async function orgTokens(organizationId: string): Promise<number> {
  const counts = await Promise.all([undefined, ...Array.from({ length: 64 }, (_, shard) => shard)].map((shard) => dayTokensOf(tokenPartition(shard === undefined ? { organizationId } : { organizationId, shard }))));
  return counts.reduce((a, b) => a + b, 0);
}

async function reservation(orgId: string, requestKey: string) {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: reservationKey(orgId, requestKey), ConsistentRead: true }));
  return Item;
}

describe.each([
  ['one-item', 1_000],
  ['high-volume', 15_000],
])('the sweep returns a dead reply\'s tokens (%s path)', (_path, perMinute) => {
  /** A reply whose function dies after its first delta: its deadline is now, so the sweep may settle it 30 s on. */
  function deadReply(orgId: string, key: string): Promise<StartedReply> {
    return startReply({
      organizationId: orgId,
      keyId: key,
      threadId: `ses_${newId('req').slice(4)}`,
      content: 'hello',
      ttl: 4_000_000_000,
      requestId: 'req-token-sweep',
      assistant: { ...builtinAssistant(orgId), maxOutputTokens: 200 },
      stopBy: Date.now(),
      rateSubject: {
        organizationId: orgId,
        keyId: key,
        orgLimits: { perMinute, perDay: 1_000_000, tokensPerMinute: 1_000_000, tokensPerDay: 10_000_000 },
        keyLimits: { tokensPerDay: 1_000_000 },
      },
    });
  }
  // Past every dead reply's due time, the same UTC day (what the clock reads within 2 minutes).
  const sweepTime = () => new Date(Date.now() + 60_000);

  it('returned whole (nothing reached the caller): its tokens go back; charged in full: they stay', { timeout: 30_000 }, async () => {
    setChatBackend(stalled);
    const orgId = await newOrg();
    const key = `key_${newId('req').slice(4)}`;
    const silent = await deadReply(orgId, key);
    const streamed = await deadReply(orgId, key);
    await streamed.delivered();
    // The key's window and the organization's (its item, or its shards) each count both replies' holds, alike.
    const both = await keyTokens(key);
    expect(both).toBeGreaterThan(0);
    expect(await orgTokens(orgId)).toBe(both);
    await sweepHolds(sweepTime());
    expect(await reservation(orgId, silent.userMessageId)).toMatchObject({ state: 'refunded', settledBy: 'sweep' });
    expect(await reservation(orgId, streamed.userMessageId)).toMatchObject({ state: 'settled', settledBy: 'sweep' });
    // The silent reply's tokens are back; the streamed reply's, charged in full, stay counted.
    expect(await keyTokens(key)).toBe(both / 2);
    expect(await orgTokens(orgId)).toBe(both / 2);
    // The replies' functions come back late: settled already, they return nothing more.
    await silent.fail(new Error('late'));
    await streamed.fail(new Error('late'));
    expect(await keyTokens(key)).toBe(both / 2);
    expect(await orgTokens(orgId)).toBe(both / 2);
    expect((await getOrganization(orgId))!.creditsHeld ?? 0).toBe(0);
  });

  it('a sweep racing the reply\'s own late settle returns its tokens once', { timeout: 30_000 }, async () => {
    setChatBackend(stalled);
    const orgId = await newOrg();
    const key = `key_${newId('req').slice(4)}`;
    const replies = await Promise.all(Array.from({ length: 6 }, () => deadReply(orgId, key)));
    expect(await keyTokens(key)).toBeGreaterThan(0);
    await Promise.all([sweepHolds(sweepTime()), ...replies.map((r) => r.fail(new Error('late')))]);
    for (const r of replies) expect(await reservation(orgId, r.userMessageId)).toMatchObject({ state: 'refunded' });
    // Every token back exactly once: both windows at zero, not below.
    expect(await keyTokens(key)).toBe(0);
    expect(await orgTokens(orgId)).toBe(0);
  });
});
