// The event pattern language Lambda event filtering (and EventBridge) applies to records, for the
// operators this project can use: exact values (string, number, boolean, null), equals-ignore-case,
// prefix, suffix, anything-but, numeric, exists and $or. Lambda applies the stack's filter patterns
// before a stream record reaches the function; the local runtime applies the same ones with this, and
// tests evaluate the synthesized patterns with it against real stream records.
//
// Rules that bite: a value matches only a value of the same JSON type (numeric never matches a
// string, and a DynamoDB stream's `{"N": "12"}` is a string); a pattern names leaves with an array of
// alternatives; several keys must all match; `anything-but` and `prefix` match only fields present.

export type PatternValue = string | number | boolean | null | Record<string, unknown>;
export interface EventPattern {
  [key: string]: EventPattern | readonly PatternValue[] | readonly EventPattern[];
}

/** Lambda's bounds: numeric operands within ±5.0e9, at most 4096 characters per pattern. */
const NUMERIC_LIMIT = 5e9;
export const MAX_PATTERN_CHARS = 4096;
const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

export class InvalidPatternError extends Error {
  override name = 'InvalidPatternError';
}

/** Throws InvalidPatternError where Lambda would refuse the pattern (the subset above). */
export function validatePattern(pattern: unknown, path = ''): void {
  if (path === '' && JSON.stringify(pattern).length > MAX_PATTERN_CHARS) {
    throw new InvalidPatternError(`pattern longer than ${MAX_PATTERN_CHARS} characters`);
  }
  if (!isObject(pattern)) throw new InvalidPatternError(`${path || 'pattern'}: must be an object`);
  for (const [key, value] of Object.entries(pattern)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2) throw new InvalidPatternError(`${at}: needs two or more patterns`);
      value.forEach((alternative, i) => validatePattern(alternative, `${at}[${i}]`));
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new InvalidPatternError(`${at}: empty list of values`);
      for (const matcher of value) validateMatcher(matcher, at);
    } else if (isObject(value)) {
      validatePattern(value, at);
    } else {
      throw new InvalidPatternError(`${at}: a leaf must be an array of values`);
    }
  }
}

function validateMatcher(matcher: unknown, at: string): void {
  if (matcher === null || ['string', 'boolean'].includes(typeof matcher)) return;
  if (typeof matcher === 'number') return validateNumber(matcher, at);
  if (!isObject(matcher)) throw new InvalidPatternError(`${at}: unsupported value ${JSON.stringify(matcher)}`);
  const entries = Object.entries(matcher);
  if (entries.length !== 1) throw new InvalidPatternError(`${at}: one operator per matcher`);
  const [operator, operand] = entries[0]!;
  switch (operator) {
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
      if (typeof operand !== 'string') throw new InvalidPatternError(`${at}: ${operator} takes a string`);
      return;
    case 'exists':
      if (typeof operand !== 'boolean') throw new InvalidPatternError(`${at}: exists takes true or false`);
      return;
    case 'anything-but': {
      if (isObject(operand)) {
        const [[inner, value] = []] = Object.entries(operand);
        if (!['prefix', 'suffix', 'equals-ignore-case'].includes(inner!) || typeof value !== 'string') {
          throw new InvalidPatternError(`${at}: anything-but takes values, or one prefix/suffix/equals-ignore-case`);
        }
        return;
      }
      const values = Array.isArray(operand) ? operand : [operand];
      if (values.length === 0) throw new InvalidPatternError(`${at}: anything-but with no values`);
      for (const v of values) {
        if (typeof v === 'number') validateNumber(v, at);
        else if (typeof v !== 'string') throw new InvalidPatternError(`${at}: anything-but takes strings or numbers`);
      }
      return;
    }
    case 'numeric': {
      if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0 || operand.length > 4) {
        throw new InvalidPatternError(`${at}: numeric takes one or two [operator, number] pairs`);
      }
      for (let i = 0; i < operand.length; i += 2) {
        if (!NUMERIC_OPERATORS.has(operand[i])) throw new InvalidPatternError(`${at}: unknown numeric operator ${String(operand[i])}`);
        validateNumber(operand[i + 1], at);
      }
      return;
    }
    default:
      throw new InvalidPatternError(`${at}: unsupported operator ${operator}`);
  }
}

function validateNumber(value: unknown, at: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > NUMERIC_LIMIT) {
    throw new InvalidPatternError(`${at}: numbers must lie within ±5e9, got ${JSON.stringify(value)}`);
  }
}

/** Whether the event (a record as Lambda hands it over, parsed JSON) matches the pattern. */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    if (key === '$or') return (expected as EventPattern[]).some((alternative) => matchesPattern(alternative, event));
    const present = isObject(event) && Object.hasOwn(event, key);
    const actual = present ? (event as Record<string, unknown>)[key] : undefined;
    if (!Array.isArray(expected)) return present && matchesPattern(expected as EventPattern, actual);
    return (expected as PatternValue[]).some((matcher) => matchesLeaf(matcher, present, actual));
  });
}

/** Any of the filters (Lambda ORs an event source mapping's filters). */
export function matchesAny(patterns: readonly EventPattern[], event: unknown): boolean {
  return patterns.some((pattern) => matchesPattern(pattern, event));
}

function matchesLeaf(matcher: PatternValue, present: boolean, actual: unknown): boolean {
  if (isObject(matcher) && 'exists' in matcher) {
    const isLeaf = present && actual !== undefined && !isObject(actual);
    return matcher.exists === true ? isLeaf : !present;
  }
  if (!present) return false;
  // An array field matches when any of its elements does.
  const values = Array.isArray(actual) ? actual : [actual];
  return values.some((value) => matchesValue(matcher, value));
}

function matchesValue(matcher: PatternValue, value: unknown): boolean {
  if (!isObject(matcher)) return matcher === value;
  const [[operator, operand]] = Object.entries(matcher) as [[string, unknown]];
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(operand as string);
    case 'suffix':
      return typeof value === 'string' && value.endsWith(operand as string);
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === (operand as string).toLowerCase();
    case 'anything-but': {
      if (isObject(operand)) return typeof value === 'string' && !matchesValue(operand as PatternValue, value);
      const excluded = Array.isArray(operand) ? operand : [operand];
      return !excluded.includes(value);
    }
    case 'numeric': {
      if (typeof value !== 'number') return false;
      const terms = operand as (string | number)[];
      for (let i = 0; i < terms.length; i += 2) {
        if (!compare(value, terms[i] as string, terms[i + 1] as number)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function compare(value: number, operator: string, bound: number): boolean {
  switch (operator) {
    case '=':
      return value === bound;
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    default:
      return value >= bound;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
