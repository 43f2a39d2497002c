// Request validation with zod; every failure becomes the contract's VALIDATION_ERROR with
// `details: [{field, message}]`, one entry per problem.
import { z } from 'zod';
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

/** A display name: trimmed, 1..max characters, no control characters. */
export function nameSchema(max: number) {
  return z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters');
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

/** Integer query parameter given as a string. */
export function intQuery(min: number, max: number, fallback: number) {
  return z
    .string()
    .meta({ description: `An integer from ${min} to ${max} (default ${fallback})`, pattern: '^\\d{1,9}$' })
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
