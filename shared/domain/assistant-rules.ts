// What an organization's assistant may be created or changed with (docs/api.md, "Assistants and who
// answers"). Pure: the deployed upstreams are an argument, so rules need no configuration.
import * as z from 'zod';
import {
  ASSISTANT_NAME_MAX,
  INSTRUCTIONS_MAX,
  MAX_INPUT_TOKENS,
  MAX_OUTPUT_TOKENS,
  TEMPERATURE,
  type AssistantSettings,
  type UpstreamChoice,
} from './assistants.ts';
import { validationError, type FieldIssue } from './errors.ts';
import { nameSchema, objectBody } from './validation.ts';

const intRange = (range: { min: number; max: number }) =>
  z
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(range.min, `must be from ${range.min} to ${range.max}`)
    .max(range.max, `must be from ${range.min} to ${range.max}`);

const fields = {
  name: nameSchema(ASSISTANT_NAME_MAX),
  upstream: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
  model: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(256, 'must be at most 256 characters').nullable(),
  instructions: z
    .string({ error: 'must be a string' })
    .max(INSTRUCTIONS_MAX, `must be at most ${INSTRUCTIONS_MAX} characters`)
    .nullable(),
  maxInputTokens: intRange(MAX_INPUT_TOKENS),
  maxOutputTokens: intRange(MAX_OUTPUT_TOKENS),
  temperature: z
    .number({ error: 'must be a number' })
    .min(TEMPERATURE.min, `must be from ${TEMPERATURE.min} to ${TEMPERATURE.max}, or null`)
    .max(TEMPERATURE.max, `must be from ${TEMPERATURE.min} to ${TEMPERATURE.max}, or null`)
    .nullable(),
};

export const createAssistantBody = objectBody({
  name: fields.name,
  upstream: fields.upstream,
  model: fields.model.optional(),
  instructions: fields.instructions.optional(),
  maxInputTokens: fields.maxInputTokens.optional(),
  maxOutputTokens: fields.maxOutputTokens.optional(),
  temperature: fields.temperature.optional(),
});
export type CreateAssistantInput = z.output<typeof createAssistantBody>;

export const patchAssistantBody = objectBody({
  name: fields.name.optional(),
  upstream: fields.upstream.optional(),
  model: fields.model.optional(),
  instructions: fields.instructions.optional(),
  maxInputTokens: fields.maxInputTokens.optional(),
  maxOutputTokens: fields.maxOutputTokens.optional(),
  temperature: fields.temperature.optional(),
});
export type PatchAssistantInput = z.output<typeof patchAssistantBody>;

/** `assistantId` on databases and keys: an id, or null for none. */
export const assistantIdField = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .nullable();

/**
 * The model an assistant on `upstreamName` runs: the given one if the upstream lists it, else (not
 * given) the upstream's first; null for upstreams without models. Pushes a field issue otherwise.
 */
function modelFor(
  upstreamName: string,
  model: string | null | undefined,
  upstreams: readonly UpstreamChoice[],
  issues: FieldIssue[],
): string | null {
  const upstream = upstreams.find((u) => u.name === upstreamName);
  if (!upstream) {
    const names = upstreams.map((u) => u.name).join(', ');
    issues.push({ field: 'upstream', message: `must be a deployed upstream (${names})` });
    return null;
  }
  if (upstream.models.length === 0) {
    if (model !== undefined && model !== null) {
      issues.push({ field: 'model', message: `must not be given: upstream ${upstream.name} (${upstream.kind}) has no models` });
    }
    return null;
  }
  if (model === undefined || model === null) return upstream.models[0]!;
  if (!upstream.models.includes(model)) {
    issues.push({ field: 'model', message: `must be one of upstream ${upstream.name}'s models (${upstream.models.join(', ')})` });
  }
  return model;
}

/** A create body, checked against the deployed upstreams, with every default filled in. */
export function assistantSettings(input: CreateAssistantInput, upstreams: readonly UpstreamChoice[]): AssistantSettings {
  const issues: FieldIssue[] = [];
  const model = modelFor(input.upstream, input.model, upstreams, issues);
  if (issues.length > 0) throw validationError(issues);
  return {
    name: input.name,
    upstream: input.upstream,
    model,
    instructions: input.instructions ?? '',
    maxInputTokens: input.maxInputTokens ?? MAX_INPUT_TOKENS.default,
    maxOutputTokens: input.maxOutputTokens ?? MAX_OUTPUT_TOKENS.default,
    temperature: input.temperature ?? null,
  };
}

/**
 * A PATCH applied to `current`. Changing `upstream` without `model` moves to the new upstream's
 * first model; a `model` alone must be one of the current upstream's. Returns the new settings.
 */
export function patchedSettings(
  current: AssistantSettings,
  input: PatchAssistantInput,
  upstreams: readonly UpstreamChoice[],
): AssistantSettings {
  const issues: FieldIssue[] = [];
  const upstream = input.upstream ?? current.upstream;
  let model = current.model;
  if (input.upstream !== undefined || input.model !== undefined) {
    model = modelFor(upstream, input.model, upstreams, issues);
  }
  if (issues.length > 0) throw validationError(issues);
  return {
    name: input.name ?? current.name,
    upstream,
    model,
    instructions: input.instructions === undefined ? current.instructions : (input.instructions ?? ''),
    maxInputTokens: input.maxInputTokens ?? current.maxInputTokens,
    maxOutputTokens: input.maxOutputTokens ?? current.maxOutputTokens,
    temperature: input.temperature === undefined ? current.temperature : input.temperature,
  };
}
