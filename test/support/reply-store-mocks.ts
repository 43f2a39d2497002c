// The stores the reply flow (shared/chat/reply.ts) charges and writes, as mocks for unit tests: a
// credit is always there, no earlier messages, every write succeeds. A test file takes them in a
// hoisted import and hands them to vi.mock:
//   const { credits, messages } = await vi.hoisted(() => import('../support/reply-store-mocks.ts'));
//   vi.mock('../../shared/db/credits.ts', () => credits);
import { vi } from 'vitest';

/** A one-credit hold of a reply billed per reply. */
export function heldReply(requestKey = 'req', outputCap = 1024) {
  return {
    alreadyCharged: false as boolean,
    hold: { organizationId: 'org_1', requestKey, keyId: 'key_1', day: '2026-12-01', held: 1, billing: { mode: 'reply' as const }, outputCap, reservedAt: '2026-12-01T00:00:00.000Z' },
  };
}

export const credits = {
  holdCredits: vi.fn(async (..._args: unknown[]): Promise<{ alreadyCharged: boolean; hold?: ReturnType<typeof heldReply>['hold'] }> => heldReply()),
  settleCredits: vi.fn(async (_hold: unknown, outcome: unknown): Promise<number> => (outcome === 'failed' ? 0 : 1)),
  markDelivered: vi.fn(async () => undefined),
  hasCredits: vi.fn(async () => true),
};

export const messages = {
  recentMessages: vi.fn(async () => [] as unknown[]),
  saveTurn: vi.fn(async () => undefined),
};
