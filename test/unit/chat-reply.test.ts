// The reply flow shared by streaming and one-shot messages, with credits, storage and the backend
// mocked: a hold is taken before generating, returned whole when the reply fails at any point, and
// the turn is stored only when the reply completes.
import { beforeEach, describe, expect, it, vi } from 'vitest';

const { credits, messages, heldReply } = await vi.hoisted(() => import('../support/reply-store-mocks.ts'));
const replies = vi.hoisted(() => ({
  storedReply: vi.fn(async () => undefined as unknown),
  replyRecordPut: vi.fn((...args: unknown[]) => ({ Put: { TableName: 'usage', Item: { args } } })),
}));

vi.mock('../../shared/db/credits.ts', () => credits);
vi.mock('../../shared/db/replies.ts', () => replies);
vi.mock('../../shared/db/messages.ts', () => messages);

import { ReplyError, type ChatBackend, type ChatTurn } from '../../shared/chat/backend.ts';
import { setChatBackend } from '../../shared/chat/backends.ts';
import { collectReply, pumpReply, startReply, streamErrorPayload, type ReplyInput } from '../../shared/chat/reply.ts';
import { bufferSink } from '../../shared/chat/sse.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import type { SessionItem } from '../../shared/db/sessions.ts';

function scripted(deltas: string[], failAt?: number, failure: Error = new ReplyError('SERVICE_UNAVAILABLE', 'down')): ChatBackend & { seen: ChatTurn[][] } {
  const seen: ChatTurn[][] = [];
  return {
    kind: 'scripted',
    seen,
    async *reply({ turns }) {
      seen.push([...turns]);
      for (let i = 0; i < deltas.length; i++) {
        if (i === failAt) throw failure;
        yield deltas[i]!;
      }
      if (failAt === deltas.length) throw failure;
    },
  };
}

const input: ReplyInput = {
  organizationId: 'org_1',
  keyId: 'key_1',
  threadId: 'ses_1',
  content: 'Hello?',
  ttl: 2_000_000_000,
  requestId: 'req-1',
};

/** The settles that returned a whole hold (a failed reply). */
const refunds = () => credits.settleCredits.mock.calls.filter((call) => call[1] === 'failed');

beforeEach(() => {
  vi.clearAllMocks();
  credits.holdCredits.mockImplementation(async (...args: unknown[]) => heldReply(String(args[1])));
  messages.recentMessages.mockResolvedValue([]);
});

describe('a reply that completes', () => {
  it('reserves one credit keyed by the new user message, sees the history, and stores both messages', async () => {
    const backend = scripted(['Hi', ' there']);
    setChatBackend(backend);
    messages.recentMessages.mockResolvedValue([
      { role: 'user', content: 'before' },
      { role: 'assistant', content: 'reply before' },
    ]);
    const reply = await startReply(input);
    expect(credits.holdCredits).toHaveBeenCalledWith('org_1', reply.userMessageId, 'key_1', { inputBound: expect.any(Number), outputCap: expect.any(Number) }, expect.any(Date), expect.any(Number));
    const done = await collectReply(reply, 'req-1');
    expect(done.content).toBe('Hi there');
    expect(backend.seen[0]).toEqual([
      { role: 'user', content: 'before' },
      { role: 'assistant', content: 'reply before' },
      { role: 'user', content: 'Hello?' },
    ]);
    const [user, assistant] = messages.saveTurn.mock.calls[0] as unknown as [any, any];
    expect(user).toMatchObject({ id: reply.userMessageId, sessionId: 'ses_1', role: 'user', content: 'Hello?', ttl: 2_000_000_000 });
    // No usage reported: estimated per message, ceil(bytes / 4) at least 1, and marked.
    expect(assistant).toMatchObject({ id: done.messageId, role: 'assistant', content: 'Hi there', organizationId: 'org_1', inputTokens: 2 + 3 + 2, outputTokens: 2, usageEstimated: true });
    expect(assistant.id > user.id).toBe(true);
    expect(Date.parse(assistant.createdAt)).toBeGreaterThan(Date.parse(user.createdAt));
    expect(refunds()).toHaveLength(0);
  });

  it('keys the credit by API key, scope and Idempotency-Key, and keeps the reply with the turn', async () => {
    setChatBackend(scripted(['o', 'k']));
    const reply = await startReply({ ...input, idempotency: { key: 'abc', scope: 'session#ses_1', request: { content: 'Hello?' } } });
    expect(credits.holdCredits).toHaveBeenCalledWith('org_1', 'key#key_1#session#ses_1#abc', 'key_1', expect.any(Object), expect.any(Date), expect.any(Number));
    const done = await collectReply(reply, 'req-1');
    expect(replies.replyRecordPut).toHaveBeenCalledWith(
      'key_1',
      'key#key_1#session#ses_1#abc',
      { threadId: 'ses_1', userMessageId: reply.userMessageId, messageId: done.messageId, content: 'ok', fingerprint: expect.any(String), credits: 1 },
      expect.any(Date),
    );
    const extras = (messages.saveTurn.mock.calls[0] as unknown as [unknown, unknown, { record: unknown }])[2];
    expect(extras.record).toBe(replies.replyRecordPut.mock.results[0]!.value);
  });

  it('keeps nothing for a retry without an Idempotency-Key', async () => {
    setChatBackend(scripted(['ok']));
    await collectReply(await startReply(input), 'req-1');
    expect(replies.replyRecordPut).not.toHaveBeenCalled();
  });

  it('loads no history for a new conversation', async () => {
    setChatBackend(scripted(['ok']));
    const conversation = { id: 'conv#org#org_1#conv-abc', type: 'conversation' } as SessionItem;
    await collectReply(await startReply({ ...input, newConversation: conversation }), 'req-1');
    expect(messages.recentMessages).not.toHaveBeenCalled();
    // The conversation's item is stored with its first turn.
    expect(messages.saveTurn).toHaveBeenCalledWith(expect.objectContaining({ role: 'user' }), expect.objectContaining({ role: 'assistant' }), {
      newConversation: conversation,
      record: undefined,
      counters: expect.any(Array),
    });
  });

  it('stateless (the OpenAI-compatible route): the client\'s turns as sent, no history, no message stored, the usage kept for a replay', async () => {
    const backend = scripted(['ok']);
    setChatBackend(backend);
    const turns: ChatTurn[] = [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'Hello?' },
    ];
    const reply = await startReply({ ...input, statelessTurns: turns, idempotency: { key: 'k', scope: 'completion', request: {} } });
    await collectReply(reply, 'req-1');
    expect(messages.recentMessages).not.toHaveBeenCalled();
    expect(backend.seen[0]).toEqual(turns);
    const extras = (messages.saveTurn.mock.calls[0] as unknown as [unknown, unknown, Record<string, unknown>])[2];
    expect(extras).toMatchObject({ withoutMessages: true, counters: expect.any(Array) });
    expect(replies.replyRecordPut.mock.calls[0]![2]).toMatchObject({ usage: { inputTokens: reply.usage()!.inputTokens, outputTokens: 1 } });
  });

  it('stores the tokens the upstream reported, unmarked, and adds them to the key’s and the organization’s day in the same transaction', async () => {
    setChatBackend({
      kind: 'scripted',
      async *reply() {
        yield 'ok';
        return { inputTokens: 120, outputTokens: 7 };
      },
    });
    await collectReply(await startReply(input), 'req-1');
    const [, assistant, extras] = messages.saveTurn.mock.calls[0] as unknown as [unknown, Record<string, unknown>, { counters: { Update: any }[] }];
    expect(assistant).toMatchObject({ inputTokens: 120, outputTokens: 7 });
    expect(assistant).not.toHaveProperty('usageEstimated');
    expect(extras.counters.map((c) => [c.Update.Key.pk, c.Update.ExpressionAttributeValues[':i'], c.Update.ExpressionAttributeValues[':o']])).toEqual([
      ['usage#key#key_1#tokens', 120, 7],
      [expect.stringMatching(/^usage#org#org_1#tokens#[0-3]$/), 120, 7],
    ]);
  });

  it('streams deltas then message.completed with the stored message id and one credit', async () => {
    setChatBackend(scripted(['a', 'b', 'c']));
    const sink = bufferSink();
    await pumpReply(await startReply(input), sink);
    const events = sink.body().trim().split('\n\n').map((block) => {
      const [event, data] = block.split('\n');
      return [event!.slice(7), JSON.parse(data!.slice(6))];
    });
    expect(events.slice(0, 3)).toEqual([
      ['message.delta', { content: 'a' }],
      ['message.delta', { content: 'b' }],
      ['message.delta', { content: 'c' }],
    ]);
    expect(events[3]).toEqual(['message.completed', { messageId: expect.stringMatching(/^msg_/), content: 'abc', usage: { credits: 1 } }]);
    expect(events).toHaveLength(4);
  });
});

describe('the credit hold', () => {
  it('passes the held output cap to the upstream, marks the stream delivered after its first delta, and charges what it settled', async () => {
    const caps: number[] = [];
    setChatBackend({
      kind: 'capped',
      async *reply({ assistant }) {
        caps.push(assistant.maxOutputTokens);
        yield 'a';
        yield 'b';
        return { inputTokens: 10, outputTokens: 2 };
      },
    });
    credits.holdCredits.mockImplementation(async (...args: unknown[]) => ({ ...heldReply(String(args[1]), 37), hold: { ...heldReply(String(args[1]), 37).hold, held: 9, billing: { mode: 'tokens', inputPer1k: 1000, outputPer1k: 1000 } } }) as never);
    credits.settleCredits.mockImplementation(async (_hold: unknown, outcome: unknown) => (outcome === 'failed' ? 0 : 9));
    const reply = await startReply(input);
    const sink = bufferSink();
    await pumpReply(reply, sink);
    expect(caps).toEqual([37]);
    expect(credits.markDelivered).toHaveBeenCalledTimes(1);
    expect(credits.settleCredits).toHaveBeenCalledWith(expect.objectContaining({ held: 9 }), { usage: { inputTokens: 10, outputTokens: 2, estimated: false } }, expect.any(Date));
    // 12 tokens at 1 credit each, at most the hold of 9.
    expect(sink.body()).toContain('"usage":{"credits":9}');
  });

  it('a JSON reply is never marked delivered (the sweep returns a dead function\'s hold whole)', async () => {
    setChatBackend(scripted(['a', 'b']));
    await collectReply(await startReply(input), 'req-1');
    expect(credits.markDelivered).not.toHaveBeenCalled();
  });
});

describe('a reply that fails', () => {
  it('before the first delta: refunded, nothing stored, a JSON-able ApiError with Retry-After', async () => {
    setChatBackend(scripted(['never'], 0));
    const error = await startReply(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, headers: { 'Retry-After': '1' } });
    expect(refunds()).toHaveLength(1);
    expect(refunds()[0]![0]).toMatchObject({ requestKey: credits.holdCredits.mock.calls[0]![1] });
    expect(messages.saveTurn).not.toHaveBeenCalled();
  });

  it('because the model rejected the conversation: a 400 naming content', async () => {
    setChatBackend(scripted([], 0, new ReplyError('VALIDATION_ERROR', 'The model could not process this conversation')));
    await expect(startReply(input)).rejects.toMatchObject({ code: 'VALIDATION_ERROR', status: 400, extra: { details: [{ field: 'content' }] } });
    expect(refunds()).toHaveLength(1);
  });

  it('with an empty reply: refunded', async () => {
    setChatBackend(scripted([]));
    await expect(startReply(input)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(refunds()).toHaveLength(1);
  });

  it('midstream: deltas, then an error event; refunded once, nothing stored', async () => {
    setChatBackend(scripted(['a', 'b', 'c'], 2));
    const sink = bufferSink();
    await pumpReply(await startReply(input), sink);
    expect(sink.body()).toBe(
      'event: message.delta\ndata: {"content":"a"}\n\n' +
        'event: message.delta\ndata: {"content":"b"}\n\n' +
        'event: error\ndata: {"code":"SERVICE_UNAVAILABLE","message":"down"}\n\n',
    );
    expect(refunds()).toHaveLength(1);
    expect(messages.saveTurn).not.toHaveBeenCalled();
  });

  it('when storing the turn fails: an error event, refunded', async () => {
    setChatBackend(scripted(['a']));
    messages.saveTurn.mockRejectedValueOnce(Object.assign(new Error('down'), { name: 'ServiceUnavailable' }));
    const sink = bufferSink();
    await pumpReply(await startReply(input), sink);
    expect(sink.body()).toContain('event: error\ndata: {"code":"SERVICE_UNAVAILABLE"');
    expect(refunds()).toHaveLength(1);
  });

  it('one-shot: refunded, a backend failure rethrown as its ApiError', async () => {
    setChatBackend(scripted(['a', 'b'], 1));
    await expect(collectReply(await startReply(input), 'req-1')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    expect(refunds()).toHaveLength(1);
  });

  it('one-shot: refunded, an unexpected error rethrown as is (the pipeline answers 500 and logs it)', async () => {
    setChatBackend(scripted(['a', 'b'], 1, new Error('unexpected')));
    await expect(collectReply(await startReply(input), 'req-1')).rejects.toThrow('unexpected');
    expect(refunds()).toHaveLength(1);
  });

  it('never leaks an unexpected error message into the stream', () => {
    expect(streamErrorPayload(new Error('secret internals'))).toEqual({ code: 'INTERNAL_ERROR', message: 'The reply could not be generated' });
  });

  describe('a retry of an Idempotency-Key already charged', () => {
    const idempotency = { key: 'dup', scope: 'message', request: { message: 'Hello?' } };

    /** The record the original request kept, as the reply module wrote it. */
    async function original() {
      setChatBackend(scripted(['Hi', ' there']));
      await collectReply(await startReply({ ...input, idempotency }), 'req-1');
      const [, , record] = replies.replyRecordPut.mock.calls[0] as unknown as [string, string, Record<string, unknown>];
      vi.clearAllMocks();
      credits.holdCredits.mockResolvedValue({ alreadyCharged: true });
      return record;
    }

    it('replays the stored reply: no generation, no charge, no refund, nothing stored again', async () => {
      const record = await original();
      replies.storedReply.mockResolvedValueOnce(record);
      const backend = scripted(['never']);
      setChatBackend(backend);
      const reply = await startReply({ ...input, threadId: 'conv#org#org_1#conv_new', idempotency });
      expect(reply).toMatchObject({ replayed: true, threadId: 'ses_1' });
      expect(await collectReply(reply, 'req-2')).toEqual({ messageId: record.messageId, content: 'Hi there', credits: 1 });
      expect(backend.seen).toHaveLength(0);
      expect(refunds()).toHaveLength(0);
      expect(messages.saveTurn).not.toHaveBeenCalled();
    });

    it('409 when it came with another request', async () => {
      replies.storedReply.mockResolvedValueOnce(await original());
      const error = await startReply({ ...input, idempotency: { ...idempotency, request: { message: 'Other?' } } }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CONFLICT', status: 409, message: 'This Idempotency-Key was used with another request' });
    });

    it('409 with Retry-After while the original is still in flight', async () => {
      await original();
      replies.storedReply.mockResolvedValueOnce(undefined);
      const error = (await startReply({ ...input, idempotency }).catch((e: unknown) => e)) as ApiError;
      expect(error).toMatchObject({ code: 'CONFLICT', status: 409 });
      expect(error.headers).toEqual({ 'Retry-After': '1' });
      expect(refunds()).toHaveLength(0);
    });
  });

  it('passes INSUFFICIENT_CREDITS through untouched, generating nothing', async () => {
    const backend = scripted(['a']);
    setChatBackend(backend);
    credits.holdCredits.mockRejectedValueOnce(new ApiError('INSUFFICIENT_CREDITS'));
    await expect(startReply(input)).rejects.toMatchObject({ code: 'INSUFFICIENT_CREDITS', status: 402 });
    expect(backend.seen).toHaveLength(0);
    expect(refunds()).toHaveLength(0);
  });
});
