// The stores the reply flow (shared/chat/reply.ts) charges and writes, as mocks for unit tests: a
// credit is always there, no earlier messages, every write succeeds. A test file takes them in a
// hoisted import and hands them to vi.mock:
//   const { credits, messages } = await vi.hoisted(() => import('../support/reply-store-mocks.ts'));
//   vi.mock('../../shared/db/credits.ts', () => credits);
import { vi } from 'vitest';

export const credits = {
  reserveCredit: vi.fn(async () => ({ balance: 9, alreadyCharged: false })),
  refundCredit: vi.fn(async () => undefined),
  hasCredits: vi.fn(async () => true),
};

export const messages = {
  recentMessages: vi.fn(async () => [] as unknown[]),
  saveTurn: vi.fn(async () => undefined),
};
