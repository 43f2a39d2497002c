// What a VALIDATION_ERROR names: the fields of its details, for tests of request rules.
import { expect } from 'vitest';
import { ApiError } from '../../shared/domain/errors.ts';

/** The `details[].field` of the VALIDATION_ERROR `fn` throws (fails the test when it throws none). */
export function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('VALIDATION_ERROR');
    return ((error as ApiError).extra.details ?? []).map((d) => d.field);
  }
  throw new Error('expected a validation error');
}
