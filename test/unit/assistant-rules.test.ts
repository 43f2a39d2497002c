// Assistant rules: settings checked against the deployed upstreams, defaults and PATCH semantics.
import { describe, expect, it } from 'vitest';
import { assistantSettings, createAssistantBody, patchAssistantBody, patchedSettings } from '../../shared/domain/assistant-rules.ts';
import { settingsChanges } from '../../shared/domain/assistants.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { TEST_UPSTREAMS as UPSTREAMS } from '../support/upstreams.ts';
import { fieldsOf } from '../support/validation.ts';

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
