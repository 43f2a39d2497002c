// A backend call as reply.ts makes it: an assistant, who is asking, and a live signal.
import type { ChatTurn, ReplyAssistant, ReplyIdentity, ReplyRequest, ReplyUsage } from '../../shared/chat/backend.ts';

export const TEST_ASSISTANT: ReplyAssistant = {
  id: 'asst_test',
  name: 'Support',
  model: 'test-model',
  instructions: 'Be brief.',
  maxOutputTokens: 256,
  temperature: null,
};

export const TEST_IDENTITY: ReplyIdentity = {
  organizationId: 'org_1',
  keyId: 'key_1',
  keyType: 'secret',
  databaseId: null,
  sessionId: 'ses_1',
  conversationId: null,
  origin: null,
};

export function replyRequest(
  turns: readonly ChatTurn[],
  overrides: { assistant?: Partial<ReplyAssistant>; identity?: Partial<ReplyIdentity>; signal?: AbortSignal } = {},
): ReplyRequest {
  return {
    turns,
    assistant: { ...TEST_ASSISTANT, ...overrides.assistant },
    identity: { ...TEST_IDENTITY, ...overrides.identity },
    signal: overrides.signal ?? new AbortController().signal,
  };
}

/** Runs a reply to its end: the deltas in order and the usage it returns. */
export async function drainReply(reply: AsyncGenerator<string, ReplyUsage, undefined>): Promise<{ deltas: string[]; usage: ReplyUsage }> {
  const deltas: string[] = [];
  for (;;) {
    const next = await reply.next();
    if (next.done) return { deltas, usage: next.value };
    deltas.push(next.value);
  }
}
