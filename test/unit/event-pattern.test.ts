// The event pattern language as Lambda event filtering documents it (filter rule syntax: one example
// per comparison operator), the rules about JSON types, and the limits Lambda enforces on a pattern.
import { describe, expect, it } from 'vitest';
import { InvalidPatternError, matchesAny, matchesPattern, validatePattern, type EventPattern } from '../../shared/webhooks/event-pattern.ts';

// Each documented operator: its pattern, an event it matches, an event it does not.
const DOCUMENTED: [string, EventPattern, unknown, unknown][] = [
  ['Null', { UserID: [null] }, { UserID: null }, { UserID: 'u1' }],
  ['Empty', { LastName: [''] }, { LastName: '' }, { LastName: 'Doe' }],
  ['Equals', { Name: ['Alice'] }, { Name: 'Alice' }, { Name: 'alice' }],
  ['Equals (ignore case)', { Name: [{ 'equals-ignore-case': 'alice' }] }, { Name: 'ALICE' }, { Name: 'Bob' }],
  ['And', { Location: ['New York'], Day: ['Monday'] }, { Location: 'New York', Day: 'Monday' }, { Location: 'New York', Day: 'Friday' }],
  ['Or', { PaymentType: ['Credit', 'Debit'] }, { PaymentType: 'Debit' }, { PaymentType: 'Cash' }],
  ['Or (multiple fields)', { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] }, { Location: 'Paris', Day: 'Monday' }, { Location: 'Paris', Day: 'Friday' }],
  ['Not', { Weather: [{ 'anything-but': ['Raining'] }] }, { Weather: 'Sunny' }, { Weather: 'Raining' }],
  ['Numeric (equals)', { Price: [{ numeric: ['=', 100] }] }, { Price: 100 }, { Price: 101 }],
  ['Numeric (range)', { Price: [{ numeric: ['>', 10, '<=', 20] }] }, { Price: 20 }, { Price: 10 }],
  ['Exists', { ProductName: [{ exists: true }] }, { ProductName: 'Widget' }, { Other: 1 }],
  ['Does not exist', { ProductName: [{ exists: false }] }, { Other: 1 }, { ProductName: 'Widget' }],
  ['Begins with', { Region: [{ prefix: 'us-' }] }, { Region: 'us-east-1' }, { Region: 'eu-west-1' }],
  ['Ends with', { FileName: [{ suffix: '.png' }] }, { FileName: 'cat.png' }, { FileName: 'cat.jpg' }],
];

describe('the event pattern language', () => {
  it.each(DOCUMENTED)('%s', (_, pattern, matching, other) => {
    expect(() => validatePattern(pattern)).not.toThrow();
    expect(matchesPattern(pattern, matching)).toBe(true);
    expect(matchesPattern(pattern, other)).toBe(false);
  });

  it('nests: every key of a pattern object must match inside the same object of the event', () => {
    const pattern = { dynamodb: { NewImage: { status: { S: ['revoked'] } } } };
    expect(matchesPattern(pattern, { dynamodb: { NewImage: { status: { S: 'revoked' } } } })).toBe(true);
    expect(matchesPattern(pattern, { dynamodb: { OldImage: { status: { S: 'revoked' } } } })).toBe(false);
    expect(matchesPattern(pattern, { dynamodb: 'revoked' })).toBe(false);
  });

  it('matches a value only of the same JSON type: numeric never matches a string, "10" never matches 10', () => {
    expect(matchesPattern({ N: [{ numeric: ['<=', 10] }] }, { N: '7' })).toBe(false);
    expect(matchesPattern({ N: [{ numeric: ['<=', 10] }] }, { N: 7 })).toBe(true);
    expect(matchesPattern({ N: ['10'] }, { N: 10 })).toBe(false);
    expect(matchesPattern({ N: [10] }, { N: '10' })).toBe(false);
  });

  it('anything-but and prefix match only a field that is there; an array field matches through any element', () => {
    expect(matchesPattern({ x: [{ 'anything-but': ['a'] }] }, {})).toBe(false);
    expect(matchesPattern({ x: [{ prefix: '' }] }, {})).toBe(false);
    expect(matchesPattern({ x: [{ 'anything-but': { prefix: 'tmp-' } }] }, { x: 'keep' })).toBe(true);
    expect(matchesPattern({ x: [{ 'anything-but': { prefix: 'tmp-' } }] }, { x: 'tmp-1' })).toBe(false);
    expect(matchesPattern({ tags: ['b'] }, { tags: ['a', 'b'] })).toBe(true);
  });

  it('ORs the filters of one event source mapping', () => {
    expect(matchesAny([{ a: ['1'] }, { b: ['2'] }], { b: '2' })).toBe(true);
    expect(matchesAny([{ a: ['1'] }, { b: ['2'] }], { c: '3' })).toBe(false);
    expect(matchesAny([], { a: '1' })).toBe(false);
  });

  describe('refuses what Lambda refuses', () => {
    it.each([
      // Numbers beyond ±5e9: the bounds the credits filter once used (±Number.MAX_SAFE_INTEGER).
      ['a numeric bound beyond 5e9', { credits: { N: [{ numeric: ['>=', -9_007_199_254_740_991, '<=', 10] }] } }],
      ['a leaf that is not a list', { eventName: 'MODIFY' }],
      ['an empty list', { eventName: [] }],
      ['an unknown operator', { x: [{ wildcard: '*' }] }],
      ['an odd numeric list', { x: [{ numeric: ['>', 1, '<'] }] }],
      ['an unknown numeric operator', { x: [{ numeric: ['!=', 1] }] }],
      ['exists with a string', { x: [{ exists: 'yes' }] }],
      ['$or with one branch', { $or: [{ a: ['1'] }] }],
      ['a pattern over 4096 characters', { x: Array.from({ length: 1000 }, (_, i) => `value-${i}`) }],
    ])('%s', (_, pattern) => {
      expect(() => validatePattern(pattern)).toThrow(InvalidPatternError);
    });
  });
});
