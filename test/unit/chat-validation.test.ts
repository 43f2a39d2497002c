// Request validation of the chat and export routes: bodies, headers, queries and cursors, each
// failure a VALIDATION_ERROR naming the field.
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../shared/domain/cursor.ts';
import { parseExportQuery } from '../../shared/chat/export.ts';
import { idempotencyKey, parseCreateSession, parseOneShot, parseSessionMessage } from '../../shared/chat/schemas.ts';
import { fieldsOf } from '../support/validation.ts';

describe('session creation body', () => {
  it.each([
    ['no body', undefined, null],
    ['an empty object', {}, null],
    ['flat metadata', { metadata: { user: 'u-1', plan: 'pro', n: 3, vip: true, note: null } }, { user: 'u-1', plan: 'pro', n: 3, vip: true, note: null }],
    ['unicode metadata', { metadata: { 'nom': 'Zoë 🙂' } }, { 'nom': 'Zoë 🙂' }],
  ])('accepts %s', (_, body, metadata) => {
    expect(parseCreateSession(body)).toEqual({ metadata });
  });

  it.each([
    ['metadata as an array', { metadata: ['a'] }, 'metadata'],
    ['metadata as a string', { metadata: 'x' }, 'metadata'],
    ['metadata null', { metadata: null }, 'metadata'],
    ['a nested object value', { metadata: { a: { b: 1 } } }, 'metadata.a'],
    ['an array value', { metadata: { a: [1] } }, 'metadata.a'],
    ['a long string value', { metadata: { a: 'x'.repeat(501) } }, 'metadata.a'],
    ['a long key', { metadata: { ['k'.repeat(41)]: 1 } }, `metadata.${'k'.repeat(41)}`],
    ['a key with a control character', { metadata: { 'a\u0007': 1 } }, 'metadata.a\u0007'],
    ['too many keys', { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) }, 'metadata'],
    ['too many bytes', { metadata: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, '€'.repeat(500)])) }, 'metadata'],
    ['an unknown field', { metadata: {}, extra: 1 }, 'body'],
    ['a body that is not an object', [1, 2], 'body'],
    ['a string body', 'hello', 'body'],
  ])('refuses %s', (_, body, field) => {
    expect(fieldsOf(() => parseCreateSession(body))).toContain(field);
  });
});

describe('message content', () => {
  it.each([
    ['plain text', 'Hello'],
    ['unicode', 'Grüße 世界 👋🏽 مرحبا'],
    ['newlines', 'one\ntwo'],
    ['exactly 32,000 characters', 'x'.repeat(32_000)],
  ])('accepts %s', (_, content) => {
    expect(parseSessionMessage({ content })).toEqual({ content });
  });

  it.each([
    ['no body', undefined, 'content'],
    ['no content', {}, 'content'],
    ['an empty string', { content: '' }, 'content'],
    ['only whitespace', { content: ' \n\t ' }, 'content'],
    ['a number', { content: 42 }, 'content'],
    ['null', { content: null }, 'content'],
    ['an array', { content: ['hi'] }, 'content'],
    ['an object', { content: { text: 'hi' } }, 'content'],
    ['a lone surrogate', { content: 'bad \ud800 text' }, 'content'],
    ['over 32,000 characters', { content: 'x'.repeat(32_001) }, 'content'],
    ['an unknown field', { content: 'hi', role: 'system' }, 'body'],
    ['a JSON array body', ['hi'], 'body'],
  ])('refuses %s', (_, body, field) => {
    expect(fieldsOf(() => parseSessionMessage(body))).toContain(field);
  });

  it('applies the same rules to one-shot messages, with an optional conversation_id', () => {
    expect(parseOneShot({ message: 'hi' })).toEqual({ message: 'hi' });
    expect(parseOneShot({ message: 'hi', conversation_id: 'conv_x' })).toEqual({ message: 'hi', conversation_id: 'conv_x' });
    expect(fieldsOf(() => parseOneShot({ message: '' }))).toEqual(['message']);
    expect(fieldsOf(() => parseOneShot({ message: 'hi', conversation_id: 5 }))).toEqual(['conversation_id']);
    expect(fieldsOf(() => parseOneShot({ content: 'hi' }))).toContain('message');
    expect(fieldsOf(() => parseOneShot(undefined))).toEqual(['message']);
  });
});

describe('Idempotency-Key', () => {
  it('is optional and taken as given', () => {
    expect(idempotencyKey({})).toBeUndefined();
    expect(idempotencyKey({ 'idempotency-key': 'a1b2-c3' })).toBe('a1b2-c3');
  });

  it.each(['', ' spaced ', 'x'.repeat(256), 'ünï'])('refuses %j', (value) => {
    expect(fieldsOf(() => idempotencyKey({ 'idempotency-key': value }))).toEqual(['Idempotency-Key']);
  });
});

describe('export query', () => {
  const now = new Date('2025-06-15T12:00:00.000Z');

  it('defaults to JSON over the last 24 hours', () => {
    expect(parseExportQuery({ resource: 'sessions' }, now)).toEqual({
      resource: 'sessions',
      from: new Date('2025-06-14T12:00:00.000Z'),
      to: now,
      format: 'json',
      limit: 100,
      cursor: undefined,
    });
  });

  it('takes dates and date-times with a zone', () => {
    const q = parseExportQuery({ resource: 'usage', from: '2025-06-01', to: '2025-06-10T00:00:00+02:00', format: 'csv' }, now);
    expect(q.from.toISOString()).toBe('2025-06-01T00:00:00.000Z');
    expect(q.to.toISOString()).toBe('2025-06-09T22:00:00.000Z');
    expect(q.format).toBe('csv');
  });

  it('runs `to` up to now when only `from` is given', () => {
    expect(parseExportQuery({ resource: 'messages', from: '2025-06-10' }, now).to).toEqual(now);
  });

  it.each([
    ['no resource', {}, 'resource'],
    ['an unknown resource', { resource: 'keys' }, 'resource'],
    ['an unknown format', { resource: 'sessions', format: 'xml' }, 'format'],
    ['a date that does not exist', { resource: 'sessions', from: '2025-02-30' }, 'from'],
    ['a date-time without a zone', { resource: 'sessions', from: '2025-06-01T10:00:00' }, 'from'],
    ['not a date', { resource: 'sessions', to: 'yesterday' }, 'to'],
    ['to before from', { resource: 'sessions', from: '2025-06-10', to: '2025-06-01' }, 'to'],
    ['to equal to from', { resource: 'sessions', from: '2025-06-10', to: '2025-06-10' }, 'to'],
    ['more than 90 days', { resource: 'sessions', from: '2025-01-01', to: '2025-06-01' }, 'from'],
    ['a limit of 0', { resource: 'sessions', limit: '0' }, 'limit'],
    ['a limit over 1000', { resource: 'sessions', limit: '1001' }, 'limit'],
  ])('refuses %s', (_, query, field) => {
    expect(fieldsOf(() => parseExportQuery(query as Record<string, string>, now))).toContain(field);
  });
});

describe('cursors', () => {
  it('round-trip their position', () => {
    expect(decodeCursor(encodeCursor({ id: 'msg_1' }), ['id'])).toEqual({ id: 'msg_1' });
  });

  it.each([
    ['garbage', 'not base64 json!'],
    ['JSON of the wrong shape', Buffer.from('[1]').toString('base64url')],
    ['a missing field', encodeCursor({ other: 'x' })],
  ])('refuse %s', (_, cursor) => {
    expect(fieldsOf(() => decodeCursor(cursor, ['id']))).toEqual(['cursor']);
  });

  it('refuse a position the caller rejects', () => {
    expect(fieldsOf(() => decodeCursor(encodeCursor({ id: 'ses_1' }), ['id'], (p) => p.id.startsWith('msg_')))).toEqual(['cursor']);
  });
});
