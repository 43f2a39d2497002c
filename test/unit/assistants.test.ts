// Assistants: the Default assistant, who answers, the publishable-key pin and the maxInputTokens trimming.
import { describe, expect, it } from 'vitest';
import {
  assistantNameKey,
  defaultAssistantSettings,
  MESSAGE_OVERHEAD_TOKENS,
  messageTokenBound,
  pinForNewKey,
  pinViolation,
  trimTurns,
  whoAnswers,
  type Turn,
} from '../../shared/domain/assistants.ts';
import { TEST_UPSTREAMS as UPSTREAMS } from '../support/upstreams.ts';
import { fieldsOf } from '../support/validation.ts';

describe('Default assistant', () => {
  it('runs on the default upstream with its first model', () => {
    expect(defaultAssistantSettings(UPSTREAMS, 'claude')).toMatchObject({ name: 'Default', upstream: 'claude', model: 'anthropic.claude-a', instructions: '', maxInputTokens: 8000, maxOutputTokens: 1024, temperature: null });
    expect(defaultAssistantSettings(UPSTREAMS, 'echo')).toMatchObject({ upstream: 'echo', model: null });
  });

  it('folds case and Unicode form for name uniqueness', () => {
    expect(assistantNameKey('Support')).toBe(assistantNameKey('SUPPORT'));
    expect(assistantNameKey('ﬁle')).toBe(assistantNameKey('file'));
  });
});

describe('who answers', () => {
  const base = { keyAssistantId: null, requested: undefined, databaseAssistantId: null } as const;

  it('a secret key: the request\'s, else the database\'s, else the default', () => {
    expect(whoAnswers({ ...base, keyType: 'secret', requested: 'Support', databaseAssistantId: 'asst_db' })).toEqual({ by: 'request', ref: 'Support' });
    expect(whoAnswers({ ...base, keyType: 'secret', databaseAssistantId: 'asst_db' })).toEqual({ by: 'database', id: 'asst_db' });
    expect(whoAnswers({ ...base, keyType: 'secret' })).toEqual({ by: 'default' });
  });

  it('a publishable key: its pin, whatever the request or database says', () => {
    expect(whoAnswers({ keyType: 'publishable', keyAssistantId: 'asst_pin', requested: 'Other', databaseAssistantId: 'asst_db' })).toEqual({ by: 'key', id: 'asst_pin' });
    // Keys created before pins: the database's, else the org default.
    expect(whoAnswers({ ...base, keyType: 'publishable', requested: 'Other', databaseAssistantId: 'asst_db' })).toEqual({ by: 'database', id: 'asst_db' });
    expect(whoAnswers({ ...base, keyType: 'publishable', requested: 'Other' })).toEqual({ by: 'default' });
  });

  it('the pin refuses another assistant or a system prompt, not its own name or id', () => {
    const pinned = { id: 'asst_AAAA', name: 'Support' };
    expect(pinViolation(pinned, undefined)).toBe(false);
    expect(pinViolation(pinned, 'asst_AAAA')).toBe(false);
    expect(pinViolation(pinned, 'support')).toBe(false);
    expect(pinViolation(pinned, 'asst_BBBB')).toBe(true);
    expect(pinViolation(pinned, 'Sales')).toBe(true);
    expect(pinViolation(pinned, undefined, true)).toBe(true);
  });

  it('a new publishable key is pinned to the one given, else its database\'s, else the default', () => {
    expect(pinForNewKey('asst_g', 'asst_db', 'asst_def')).toBe('asst_g');
    expect(pinForNewKey(undefined, 'asst_db', 'asst_def')).toBe('asst_db');
    expect(pinForNewKey(null, null, 'asst_def')).toBe('asst_def');
  });
});

describe('maxInputTokens trimming', () => {
  const turn = (role: Turn['role'], content: string): Turn => ({ role, content });
  const cost = (s: string) => Buffer.byteLength(s) + MESSAGE_OVERHEAD_TOKENS;

  it('bounds a message by its UTF-8 bytes plus the overhead', () => {
    expect(messageTokenBound('héllo')).toBe(6 + MESSAGE_OVERHEAD_TOKENS);
    expect(messageTokenBound('🙂')).toBe(4 + MESSAGE_OVERHEAD_TOKENS);
  });

  it('keeps everything that fits', () => {
    const turns = [turn('user', 'a'), turn('assistant', 'b'), turn('user', 'c')];
    expect(trimTurns('', turns, 1000)).toEqual({ turns, omitted: 0, inputTokenBound: 3 * cost('a') });
  });

  it('leaves out the oldest turns first, and starts with a user turn', () => {
    const turns = [turn('user', 'x'.repeat(100)), turn('assistant', 'y'.repeat(10)), turn('user', 'z'.repeat(10)), turn('assistant', 'w'.repeat(10)), turn('user', 'q')];
    const instructions = 'Be brief.';
    // Room for instructions, the newest and three 10-byte turns, not the 100-byte one.
    const bound = cost(instructions) + cost('q') + 3 * cost('y'.repeat(10));
    const out = trimTurns(instructions, turns, bound);
    expect(out.turns).toEqual(turns.slice(2)); // the assistant turn at index 1 would lead: dropped too
    expect(out.omitted).toBe(2);
    expect(out.inputTokenBound).toBe(cost(instructions) + cost('q') + 2 * cost('z'.repeat(10)));
  });

  it('keeps the newest message alone when nothing older fits', () => {
    const turns = [turn('user', 'old'), turn('assistant', 'reply'), turn('user', 'new')];
    expect(trimTurns('', turns, cost('new')).turns).toEqual([turn('user', 'new')]);
  });

  it('refuses with 400 when the instructions and the newest message alone do not fit', () => {
    const instructions = 'x'.repeat(50);
    expect(fieldsOf(() => trimTurns(instructions, [turn('user', 'hi')], cost(instructions) + cost('hi') - 1))).toEqual(['message']);
    expect(trimTurns(instructions, [turn('user', 'hi')], cost(instructions) + cost('hi')).turns).toHaveLength(1);
  });
});
