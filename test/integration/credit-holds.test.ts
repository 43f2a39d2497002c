// Hold and settle against DynamoDB Local (docs/limits.md "Credits"): replies billed by tokens hold
// their worst case before the upstream is called and settle to what they used. Concurrent streamed
// replies whose caps exceed the balance never take it below zero and are charged exactly what left
// it; a failed reply returns its hold; an aborted stream pays for what was produced; the sweep
// settles a hold whose function died; concurrent replies on the last credits get a reply or a 402.
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatBackend } from '../../shared/chat/backend.ts';
import { setChatBackend } from '../../shared/chat/backends.ts';
import { builtinAssistant, pumpReply, startReply } from '../../shared/chat/reply.ts';
import { trimTurns } from '../../shared/domain/assistants.ts';
import type { EventSink } from '../../shared/chat/sse.ts';
import { db } from '../../shared/db/client.ts';
import { holdCredits, markDelivered, reservationKey, reserveCredit, settleCredits, sweepHolds } from '../../shared/db/credits.ts';
import { createOrganization, getOrganization } from '../../shared/db/organizations.ts';
import { admit } from '../../shared/db/rate-limits.ts';
import type { Billing } from '../../shared/domain/billing.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import { tableName } from '../../shared/tables.ts';
import { TEST_AUDIT } from '../support/audit.ts';
import { widenDbPools } from '../support/db-pool.ts';

const T = new Date('2031-07-08T12:00:00.000Z');

/** Many concurrent replies stand for as many Lambdas: give this one process a connection pool that wide. */
beforeAll(() => widenDbPools());
afterAll(() => setChatBackend(undefined));

async function newOrg(credits: number, billing?: Billing): Promise<string> {
  const { id } = await createOrganization('Holds Inc', 'owner', credits, TEST_AUDIT, T);
  if (billing) {
    await db.send(new UpdateCommand({ TableName: tableName('organizations'), Key: { id }, UpdateExpression: 'SET billing = :b, billingRev = :one', ExpressionAttributeValues: { ':b': billing, ':one': 1 } }));
  }
  return id;
}

const account = async (id: string) => {
  const org = (await getOrganization(id))!;
  return { credits: org.credits, held: org.creditsHeld ?? 0 };
};
const keyId = () => `key_${newId('req').slice(4)}`;

/** One admitted request at an enterprise minute limit (15,000): the organization's credits go through shared batches from then on. */
const onHighVolumePath = (orgId: string, key: string, now: Date) => admit({ organizationId: orgId, keyId: key, orgLimits: { perMinute: 15_000, perDay: 100_000 }, keyLimits: null }, now);
/** Both credit paths, as [name, whether on the high-volume path]. */
const BOTH_PATHS = [
  ['the balance path', false],
  ['the high-volume path', true],
] as const;

async function reservation(orgId: string, requestKey: string) {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: reservationKey(orgId, requestKey), ConsistentRead: true }));
  return Item;
}

/** An upstream that streams `words` deltas (never more than its output cap) and reports its tokens. */
function wordsBackend(words: number, { delayMs = 0, failAfter }: { delayMs?: number; failAfter?: number } = {}): ChatBackend & { caps: number[] } {
  const caps: number[] = [];
  return {
    kind: 'words',
    caps,
    async *reply({ assistant, signal }) {
      caps.push(assistant.maxOutputTokens);
      const n = Math.min(words, assistant.maxOutputTokens);
      for (let i = 0; i < n; i++) {
        if (i === failAfter) throw new Error('upstream broke');
        if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (signal.aborted) return;
        yield 'word ';
      }
      return { inputTokens: 40, outputTokens: n };
    },
  };
}

/** A sink that records events, and goes away (as a client closing the stream) after `closeAfter` deltas. */
function recordingSink(closeAfter = Infinity) {
  const events: [string, unknown][] = [];
  let gone: (() => void) | undefined;
  const sink: EventSink = {
    async send(name, data) {
      events.push([name, data]);
      if (name === 'message.delta' && events.length >= closeAfter) gone?.();
    },
    async write() {},
    end() {},
    onClose(listener) {
      gone = listener;
    },
  };
  return { sink, events };
}

const tokens = (inputPer1k: number, outputPer1k: number): Billing => ({ mode: 'tokens', inputPer1k, outputPer1k });

function replyInput(orgId: string, key: string, maxOutputTokens: number) {
  return {
    organizationId: orgId,
    keyId: key,
    threadId: `ses_${newId('req').slice(4)}`,
    content: 'Tell me about hold and settle 🙂',
    ttl: 4_000_000_000,
    requestId: 'req-holds',
    assistant: { ...builtinAssistant(orgId), maxOutputTokens },
  };
}

describe('hold and settle on the reply path', () => {
  it('50 concurrent streamed replies whose caps exceed the balance: never below zero, charged exactly what left it', { timeout: 120_000 }, async () => {
    const B = 100;
    const orgId = await newOrg(B, tokens(10, 100));
    const backend = wordsBackend(60);
    setChatBackend(backend);
    const key = keyId();
    // Each reply's worst case (2,000 output tokens at 100 per 1,000: 200 credits) exceeds the balance.
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, async (): Promise<{ charged: number } | { refused: string }> => {
        try {
          const reply = await startReply(replyInput(orgId, key, 2_000));
          const { sink, events } = recordingSink();
          await pumpReply(reply, sink);
          const completed = events.find(([name]) => name === 'message.completed');
          return { charged: (completed![1] as { usage: { credits: number } }).usage.credits };
        } catch (error) {
          return { refused: (error as ApiError).code };
        }
      }),
    );
    const charged = outcomes.flatMap((o) => ('charged' in o ? [o.charged] : []));
    const refused = outcomes.flatMap((o) => ('refused' in o ? [o.refused] : []));
    expect(refused.every((code) => code === 'INSUFFICIENT_CREDITS')).toBe(true);
    expect(charged.length).toBeGreaterThan(0);
    // Each reply used 40 input and 60 output tokens: ceil((40 × 10 + 60 × 100) / 1000) = 7 credits.
    expect(charged.every((c) => c === 7)).toBe(true);
    const after = await account(orgId);
    expect(after.credits).toBeGreaterThanOrEqual(0);
    expect(after.held).toBe(0);
    expect(charged.reduce((a, b) => a + b, 0)).toBe(B - after.credits);
    // The cap passed to the upstream was what the hold could pay for, never the assistant's 2,000.
    expect(Math.max(...backend.caps)).toBeLessThan(2_000);
  });

  it('a failed reply returns its whole hold', { timeout: 30_000 }, async () => {
    const orgId = await newOrg(500, tokens(10, 100));
    setChatBackend(wordsBackend(60, { failAfter: 5 }));
    const reply = await startReply(replyInput(orgId, keyId(), 1_000));
    const during = await account(orgId);
    expect(during.held).toBeGreaterThan(0);
    expect(during.credits + during.held).toBe(500);
    const { sink, events } = recordingSink();
    await pumpReply(reply, sink);
    expect(events.at(-1)![0]).toBe('error');
    expect(await account(orgId)).toEqual({ credits: 500, held: 0 });
    expect(await reservation(orgId, reply.userMessageId)).toMatchObject({ state: 'refunded', charged: 0 });
  });

  it('an aborted stream is charged what the upstream produced until then, never more than its hold', { timeout: 30_000 }, async () => {
    const orgId = await newOrg(500, tokens(10, 100));
    setChatBackend(wordsBackend(200, { delayMs: 5 }));
    const reply = await startReply(replyInput(orgId, keyId(), 1_000));
    const { held } = await account(orgId);
    const { sink, events } = recordingSink(5);
    await pumpReply(reply, sink);
    const produced = events.filter(([name]) => name === 'message.delta').length;
    expect(produced).toBeLessThan(200);
    const stored = await reservation(orgId, reply.userMessageId);
    expect(stored).toMatchObject({ state: 'settled', settledBy: 'reply', delivered: true });
    const charged = Number(stored!.charged);
    expect(charged).toBeGreaterThan(0);
    expect(charged).toBeLessThan(held);
    // Estimated from what was produced (ceil(bytes / 4) per message): far below 200 words.
    expect(charged).toBeLessThanOrEqual(Math.ceil((40 * 10 + Math.ceil((produced + 2) * 5 / 4) * 100) / 1000));
    expect(await account(orgId)).toEqual({ credits: 500 - charged, held: 0 });
  });
});

describe('token windows in the hold', () => {
  it('lower the output cap to what the window holds, count what was used, and refuse (429) keeping nothing', { timeout: 30_000 }, async () => {
    const orgId = await newOrg(1_000);
    const key = keyId();
    const backend = wordsBackend(1_000);
    setChatBackend(backend);
    const rateSubject = { organizationId: orgId, keyId: key, orgLimits: { perMinute: 100, perDay: 1_000, tokensPerMinute: 300, tokensPerDay: 100_000 }, keyLimits: null };
    const input = { ...replyInput(orgId, key, 2_000), rateSubject };
    const bound = trimTurns(input.assistant.instructions, [{ role: 'user', content: input.content }], input.assistant.maxInputTokens).inputTokenBound;
    const first = await startReply(input);
    const { sink, events } = recordingSink();
    await pumpReply(first, sink);
    expect(events.at(-1)![0]).toBe('message.completed');
    // 300 tokens a minute: the input bound, and what is left of the window for output.
    expect(backend.caps).toEqual([300 - bound]);
    // Counted: 40 input and 300 - bound output tokens; what is left cannot hold another input bound plus 16.
    const refused = await startReply({ ...input, threadId: `ses_${newId('req').slice(4)}` }).catch((error: unknown) => error as ApiError);
    expect(refused).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', status: 429 });
    expect(backend.caps).toHaveLength(1);
    // The refused reply keeps no credit; the first paid one.
    expect(await account(orgId)).toEqual({ credits: 999, held: 0 });
  });
});

describe('the sweep', () => {
  // Two days before the real clock, so the local runtime's own sweeps (other test files) see these
  // holds as due too, no hold of another file (real time, or 2031) is due for this one, and their
  // items are within their TTL (DynamoDB Local deletes expired items).
  const DEAD = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 2 * 86_400_000);
  const SWEEP_AT = new Date(DEAD.getTime() + 10 * 60_000);

  it('settles holds whose function died: returned whole if nothing reached the caller, else charged in full', { timeout: 30_000 }, async () => {
    const orgId = await newOrg(1_000, tokens(10, 100));
    const key = keyId();
    const deadline = DEAD.getTime() + 60_000;
    const silent = await holdCredits(orgId, 'died-before-delta', key, { inputBound: 100, outputCap: 500 }, DEAD, deadline);
    const streaming = await holdCredits(orgId, 'died-mid-stream', key, { inputBound: 100, outputCap: 500 }, DEAD, deadline);
    if (silent.alreadyCharged || streaming.alreadyCharged) throw new Error('expected holds');
    await markDelivered(streaming.hold);
    expect(await account(orgId)).toEqual({ credits: 1_000 - 2 * 51, held: 2 * 51 });
    await sweepHolds(SWEEP_AT);
    expect(await reservation(orgId, 'died-before-delta')).toMatchObject({ state: 'refunded', charged: 0, settledBy: 'sweep' });
    expect(await reservation(orgId, 'died-mid-stream')).toMatchObject({ state: 'settled', charged: 51, settledBy: 'sweep' });
    expect(await reservation(orgId, 'died-mid-stream')).not.toHaveProperty('holdDue');
    expect(await account(orgId)).toEqual({ credits: 1_000 - 51, held: 0 });
    // A reply that comes back after the sweep settles nothing twice.
    expect(await settleCredits(silent.hold, { usage: { inputTokens: 1, outputTokens: 1 } }, SWEEP_AT)).toBe(0);
    expect(await account(orgId)).toEqual({ credits: 1_000 - 51, held: 0 });
  });

  it('leaves holds alone before their due time', async () => {
    const orgId = await newOrg(10);
    const held = await holdCredits(orgId, 'alive', keyId(), { inputBound: 0, outputCap: 0 }, T, T.getTime() + 60_000);
    await sweepHolds(SWEEP_AT);
    expect(await reservation(orgId, 'alive')).toMatchObject({ state: 'held' });
    if (!held.alreadyCharged) await settleCredits(held.hold, 'failed', T);
  });
});

describe('writes per reply', () => {
  /** The DynamoDB writes of `run` on the general client: each call, with the items of a transaction. */
  async function writesOf(run: () => Promise<void>): Promise<string[]> {
    const writes: string[] = [];
    const name = `countWrites${newId('req')}`;
    const short = (table: string | undefined) => (table ?? '').replace(/^keygate-[^-]+-/, '');
    db.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string; TransactItems?: Record<string, { TableName?: string }>[] };
        if (context.commandName === 'TransactWriteItemsCommand') {
          writes.push(`Transact[${(input.TransactItems ?? []).map((item) => `${Object.keys(item)[0]} ${short(Object.values(item)[0]!.TableName)}`).join(', ')}]`);
        } else if (/^(Put|Update|Delete)ItemCommand$/.test(context.commandName ?? '')) {
          writes.push(`${context.commandName!.replace('ItemCommand', '')} ${short(input.TableName)}`);
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      await run();
    } finally {
      db.middlewareStack.remove(name);
    }
    return writes;
  }

  const streamedReply = async (orgId: string, key: string) => {
    const reply = await startReply(replyInput(orgId, key, 100));
    await pumpReply(reply, recordingSink().sink);
  };

  it.each(BOTH_PATHS)('a streamed reply on %s: the hold, the delivered mark, the turn, the settle and the usage count', { timeout: 30_000 }, async (_, highVolume) => {
    const orgId = await newOrg(1_000);
    const key = keyId();
    setChatBackend(wordsBackend(20));
    if (highVolume) {
      await onHighVolumePath(orgId, key, new Date());
      await streamedReply(orgId, key); // opens this environment's batch, so the reply measured holds from it
    }
    const writes = await writesOf(() => streamedReply(orgId, key));
    console.info(`writes per streamed reply, ${highVolume ? 'high-volume' : 'balance'} path:\n  ${writes.join('\n  ')}`);
    expect(writes[0]).toBe(highVolume ? 'Transact[Put usage, Update usage]' : 'Transact[Put usage, Update organizations]');
    expect(writes).toContain('Update usage'); // the delivered mark
    expect(writes).toContain(highVolume ? 'Update usage' : 'Transact[Update usage, Update organizations]'); // the settle
  });
});

describe('the last credits under concurrency', () => {
  it.each(BOTH_PATHS)('200 concurrent replies on 100 credits (%s, in one process): 100 replies and 100 × 402, no 503', { timeout: 120_000 }, async (_, highVolume) => {
    const orgId = await newOrg(100);
    const key = keyId();
    if (highVolume) await onHighVolumePath(orgId, key, T);
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => reserveCredit(orgId, `last-${i}`, key, T)));
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'served' : (r.reason as ApiError).code));
    const counts = Object.fromEntries([...new Set(codes)].map((c) => [c, codes.filter((x) => x === c).length]));
    expect(counts).toEqual({ served: 100, INSUFFICIENT_CREDITS: 100 });
  });
});
