// Request validation with zod; every failure becomes the contract's VALIDATION_ERROR with
// `details: [{field, message}]`, one entry per problem.
import * as z from 'zod';
import { validationError, type FieldIssue } from './errors.ts';

export function fieldPath(path: readonly PropertyKey[], root = ''): string {
  let out = root;
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  }
  return out || 'body';
}

export function issuesOf(error: z.ZodError, root = ''): FieldIssue[] {
  return error.issues.map((issue) => ({ field: fieldPath(issue.path, root), message: issue.message }));
}

/** Parse `value` with `schema` or throw VALIDATION_ERROR naming each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(issuesOf(result.error, root));
  return result.data;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
/**
 * Bidirectional controls reorder what is displayed (U+202E turns `Backend\u202Egpj.exe` into
 * `Backendexe.jpg` on screen): embeddings and overrides U+202A..U+202E, isolates U+2066..U+2069,
 * the marks U+200E, U+200F and U+061C.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
/** A UTF-16 surrogate without its pair: not a character at all (and not valid UTF-8 when stored). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A display name: trimmed, 1..max characters, no control characters, nothing that spoofs its display. */
export function nameSchema(max: number) {
  return z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters')
    .refine((s) => !BIDI_CONTROLS.test(s), 'must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)')
    .refine((s) => !LONE_SURROGATE.test(s), 'must not contain unpaired surrogates (not valid Unicode text)');
}

/** A JSON object body (not an array, not null). */
export function objectBody<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : 'must be a JSON object',
  });
}

export const positiveInt = (max = 1_000_000_000) =>
  z
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`);

/** Integer query parameter: a string on the wire, described as the integer it must spell. */
export function intQuery(min: number, max: number, fallback: number) {
  return z
    .string()
    .meta({ type: 'integer', minimum: min, maximum: max, default: fallback, description: `An integer from ${min} to ${max} (default ${fallback})` })
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === '') return fallback;
      if (!/^\d{1,9}$/.test(s) || Number(s) < min || Number(s) > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return Number(s);
    });
}

/**
 * A schema built on its first use instead of when its module loads: building zod schemas is a large
 * part of a function's start (docs/benchmarks.md "Cold start"), and a function parses only some of
 * the schemas of the modules it imports.
 */
export function lazySchema<S>(build: () => S): () => S {
  let schema: S | undefined;
  return () => (schema ??= build());
}
