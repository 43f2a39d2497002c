// Assistant rules: settings checked against the deployed upstreams, defaults, PATCH semantics, who
// answers, the publishable-key pin and the maxInputTokens trimming.
import { describe, expect, it } from 'vitest';
import {
  assistantNameKey,
  assistantSettings,
  createAssistantBody,
  defaultAssistantSettings,
  MESSAGE_OVERHEAD_TOKENS,
  messageTokenBound,
  patchAssistantBody,
  patchedSettings,
  pinForNewKey,
  pinViolation,
  settingsChanges,
  trimTurns,
  whoAnswers,
  type Turn,
  type UpstreamChoice,
} from '../../shared/domain/assistants.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { parseInput } from '../../shared/domain/validation.ts';

const UPSTREAMS: UpstreamChoice[] = [
  { name: 'claude', kind: 'bedrock', models: ['anthropic.claude-a', 'anthropic.claude-b'] },
  { name: 'own', kind: 'http', models: [] },
  { name: 'echo', kind: 'echo', models: [] },
];

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('VALIDATION_ERROR');
    return ((error as ApiError).extra.details ?? []).map((d) => d.field);
  }
  throw new Error('expected a validation error');
}

const create = (body: unknown) => assistantSettings(parseInput(createAssistantBody, body), UPSTREAMS);

describe('assistant settings', () => {
  it('fills the defaults: first model, no instructions, 8,000 in, 1,024 out, the upstream temperature', () => {
    expect(create({ name: ' Support ', upstream: 'claude' })).toEqual({
      name: 'Support',
      upstream: 'claude',
      model: 'anthropic.claude-a',
      instructions: '',
      maxInputTokens: 8000,
      maxOutputTokens: 1024,
      temperature: null,
    });
  });

  it('keeps a listed model and every given setting', () => {
    expect(
      create({ name: 'S', upstream: 'claude', model: 'anthropic.claude-b', instructions: 'Be brief.', maxInputTokens: 200_000, maxOutputTokens: 32_000, temperature: 0 }),
    ).toMatchObject({ model: 'anthropic.claude-b', instructions: 'Be brief.', maxInputTokens: 200_000, maxOutputTokens: 32_000, temperature: 0 });
  });

  it('gives http and echo upstreams no model', () => {
    expect(create({ name: 'S', upstream: 'own' }).model).toBeNull();
    expect(create({ name: 'S', upstream: 'echo', model: null }).model).toBeNull();
  });

  it.each([
    ['an unknown upstream', { name: 'S', upstream: 'nope' }, ['upstream']],
    ['a model the upstream does not list', { name: 'S', upstream: 'claude', model: 'gpt-x' }, ['model']],
    ['a model on an http upstream', { name: 'S', upstream: 'own', model: 'm' }, ['model']],
    ['a model on echo', { name: 'S', upstream: 'echo', model: 'm' }, ['model']],
    ['an empty name', { name: '  ', upstream: 'echo' }, ['name']],
    ['a 51-character name', { name: 'x'.repeat(51), upstream: 'echo' }, ['name']],
    ['8,001 characters of instructions', { name: 'S', upstream: 'echo', instructions: 'x'.repeat(8001) }, ['instructions']],
    ['maxInputTokens 0', { name: 'S', upstream: 'echo', maxInputTokens: 0 }, ['maxInputTokens']],
    ['maxInputTokens 200,001', { name: 'S', upstream: 'echo', maxInputTokens: 200_001 }, ['maxInputTokens']],
    ['maxOutputTokens 32,001', { name: 'S', upstream: 'echo', maxOutputTokens: 32_001 }, ['maxOutputTokens']],
    ['maxOutputTokens 1.5', { name: 'S', upstream: 'echo', maxOutputTokens: 1.5 }, ['maxOutputTokens']],
    ['temperature 2.1', { name: 'S', upstream: 'echo', temperature: 2.1 }, ['temperature']],
    ['temperature -0.1', { name: 'S', upstream: 'echo', temperature: -0.1 }, ['temperature']],
    ['an unknown field', { name: 'S', upstream: 'echo', system: 'x' }, ['body']],
  ])('refuses %s', (_, body, fields) => {
    expect(fieldsOf(() => create(body))).toEqual(fields);
  });

  it('accepts 8,000 characters of instructions and temperature 2', () => {
    expect(create({ name: 'S', upstream: 'echo', instructions: 'x'.repeat(8000), temperature: 2 }).temperature).toBe(2);
  });
});

describe('assistant PATCH', () => {
  const current = create({ name: 'S', upstream: 'claude', model: 'anthropic.claude-b', instructions: 'Hi', temperature: 1 });
  const patch = (body: unknown) => patchedSettings(current, parseInput(patchAssistantBody, body), UPSTREAMS);

  it('changes only what is given', () => {
    expect(patch({ maxOutputTokens: 10 })).toEqual({ ...current, maxOutputTokens: 10 });
  });

  it('moves to the new upstream\'s first model (or none) when only the upstream changes', () => {
    expect(patch({ upstream: 'echo' })).toMatchObject({ upstream: 'echo', model: null });
  });

  it('checks a model alone against the current upstream', () => {
    expect(patch({ model: 'anthropic.claude-a' }).model).toBe('anthropic.claude-a');
    expect(fieldsOf(() => patch({ model: 'gpt-x' }))).toEqual(['model']);
    expect(fieldsOf(() => patch({ upstream: 'own', model: 'anthropic.claude-a' }))).toEqual(['model']);
  });

  it('clears instructions and temperature with null', () => {
    expect(patch({ instructions: null, temperature: null })).toMatchObject({ instructions: '', temperature: null });
  });

  it('lists changed fields for the audit log, instructions by length only', () => {
    const after = patch({ instructions: 'Hello there', temperature: null });
    expect(settingsChanges(current, after)).toEqual([
      { field: 'instructions.length', from: 2, to: 11 },
      { field: 'temperature', from: 1, to: null },
    ]);
  });
});

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
