// How a Chat Completions request becomes a reply request (shared/chat/completions.ts): the client's
// own system prompt, the turns, the caps a key may lower and the temperature only a secret key sets;
// and how a started reply is streamed as OpenAI's chunks.
import { describe, expect, it } from 'vitest';
import { conversationOf, effectiveAssistant, finishReason, pumpCompletion } from '../../shared/chat/completions.ts';
import type { StartedReply } from '../../shared/chat/reply.ts';
import type { EventSink } from '../../shared/chat/sse.ts';
import { parseCompletionRequest } from '../../shared/chat/openai-wire.ts';
import type { Assistant } from '../../shared/domain/assistants.ts';

const assistant: Assistant = {
  id: 'asst_1',
  organizationId: 'org_1',
  name: 'Support',
  upstream: 'echo',
  model: null,
  instructions: 'Be kind.',
  maxInputTokens: 8000,
  maxOutputTokens: 500,
  temperature: 0.2,
  createdAt: '2026-12-01T00:00:00.000Z',
};

const request = (body: Record<string, unknown>) =>
  parseCompletionRequest({ model: 'Support', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], ...body });

describe('conversationOf', () => {
  it('separates system and developer messages from the turns', () => {
    const parsed = request({ messages: [{ role: 'developer', content: 'A' }, { role: 'user', content: 'q1' }, { role: 'assistant', content: 'a1' }, { role: 'system', content: 'B' }, { role: 'user', content: 'q2' }] });
    expect(conversationOf(parsed)).toEqual({
      system: ['A', 'B'],
      turns: [{ role: 'user', content: 'q1' }, { role: 'assistant', content: 'a1' }, { role: 'user', content: 'q2' }],
    });
  });

  it.each([
    ['ends with the assistant', [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }]],
    ['has only a system prompt', [{ role: 'system', content: 's' }]],
  ])('400 on messages when the conversation %s', (_, messages) => {
    expect(() => conversationOf(request({ messages }))).toThrow(expect.objectContaining({ code: 'VALIDATION_ERROR', extra: { details: [{ field: 'messages', message: 'must end with a user message' }] } }));
  });
});

describe('effectiveAssistant', () => {
  it("a secret key: its system prompt after the assistant's, its temperature, a cap never above the assistant's", () => {
    expect(effectiveAssistant(assistant, request({ temperature: 1.5, max_tokens: 9000 }), ['Be brief.'], 'secret')).toMatchObject({
      instructions: 'Be kind.\n\nBe brief.',
      temperature: 1.5,
      maxOutputTokens: 500,
    });
    expect(effectiveAssistant(assistant, request({ max_completion_tokens: 100, max_tokens: 300 }), [], 'secret').maxOutputTokens).toBe(100);
    expect(effectiveAssistant({ ...assistant, instructions: '' }, request({}), ['Only mine.'], 'secret').instructions).toBe('Only mine.');
  });

  it("a publishable key: the assistant's instructions and temperature, only a lower cap", () => {
    expect(effectiveAssistant(assistant, request({ temperature: 2, max_tokens: 50 }), [], 'publishable')).toMatchObject({
      instructions: 'Be kind.',
      temperature: 0.2,
      maxOutputTokens: 50,
    });
  });
});

describe('finishReason', () => {
  it('length when the reply used its whole cap, else stop', () => {
    expect(finishReason(500, 500)).toBe('length');
    expect(finishReason(499, 500)).toBe('stop');
    expect(finishReason(undefined, 500)).toBe('stop');
  });
});

describe('pumpCompletion', () => {
  /** A started reply of two deltas, and a sink, both logging what happens in order. */
  function recorded() {
    const log: string[] = [];
    const reply: StartedReply = {
      userMessageId: 'msg_1',
      threadId: 'cmpl_1',
      replayed: false,
      contentField: 'messages',
      first: 'Hello',
      async *rest() {
        log.push('upstream: next delta');
        yield ' there';
      },
      async complete() {
        log.push('complete');
        return { messageId: 'msg_2', content: 'Hello there', credits: 1 };
      },
      async fail() {
        log.push('fail');
      },
      async delivered() {
        log.push('delivered');
      },
      cancel() {},
      usage: () => ({ inputTokens: 3, outputTokens: 2, estimated: false }),
    };
    const sink: EventSink = {
      async send() {},
      async write(text) {
        const chunk = text.startsWith('data: {') ? JSON.parse(text.slice(6)) : text.trim();
        log.push(typeof chunk === 'string' ? chunk : `chunk ${JSON.stringify(chunk.choices[0]?.delta ?? 'usage')}`);
      },
      end() {
        log.push('end');
      },
    };
    return { log, reply, sink };
  }

  it('marks the hold delivered once the first content reached the caller (a function that dies after pays the hold)', async () => {
    const { log, reply, sink } = recorded();
    await pumpCompletion(reply, sink, { id: 'chatcmpl-1', created: 1, model: 'Support' }, true, 500);
    expect(log).toEqual([
      'chunk {"role":"assistant","content":""}',
      'chunk {"content":"Hello"}',
      'delivered',
      'upstream: next delta',
      'chunk {"content":" there"}',
      'complete',
      'chunk {}',
      'chunk "usage"',
      'data: [DONE]',
      'end',
    ]);
  });
});
