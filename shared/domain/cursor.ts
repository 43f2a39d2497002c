// Pagination cursors: base64url JSON of the position to continue after. A cursor never names an
// organization or a session: those come from the caller's path, key or token, so a cursor from
// elsewhere can only point inside the caller's own data (or be refused).
import { ApiError } from './errors.ts';

export function encodeCursor(position: Record<string, string>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

function badCursor(): ApiError {
  return new ApiError('VALIDATION_ERROR', 'cursor: is not a cursor this API returned', {
    details: [{ field: 'cursor', message: 'is not a cursor this API returned' }],
  });
}

/** The cursor's fields, each a string, or VALIDATION_ERROR. `check` may refuse it too. */
export function decodeCursor<F extends string>(
  cursor: string,
  fields: readonly F[],
  check: (position: Record<F, string>) => boolean = () => true,
): Record<F, string> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw badCursor();
  const record = value as Record<string, unknown>;
  if (!fields.every((f) => typeof record[f] === 'string' && (record[f] as string).length <= 256)) throw badCursor();
  const position = Object.fromEntries(fields.map((f) => [f, record[f] as string])) as Record<F, string>;
  if (!check(position)) throw badCursor();
  return position;
}
