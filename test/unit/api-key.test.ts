// The key format of docs/api.md "Keys", against an independent CRC-32 (zlib's) and base62.
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BASE62,
  checksum,
  CHECKSUM_LENGTH,
  DEFAULT_PREFIXES,
  displayKey,
  generateKey,
  hashKey,
  keyIdFromHash,
  parseKey,
  RANDOM_LENGTH,
  toBase62,
} from '../../shared/domain/api-key.ts';

/** Base62 the slow, obvious way (BigInt), to check the module's encoder. */
function referenceBase62(n: number, width: number): string {
  let v = BigInt(n);
  let s = '';
  do {
    s = BASE62[Number(v % 62n)] + s;
    v /= 62n;
  } while (v > 0n);
  return s.padStart(width, '0');
}

describe('key format', () => {
  it.each(['secret', 'publishable'] as const)('a %s key is prefix + 32 base62 + 6 base62 checksum', (type) => {
    const key = generateKey(type);
    const prefix = type === 'secret' ? 'sk_' : 'pk_';
    expect(key).toMatch(new RegExp(`^${prefix}[0-9A-Za-z]{32}[0-9A-Za-z]{6}$`));
    const body = key.slice(0, -6);
    expect(key.slice(-6)).toBe(referenceBase62(crc32(body), 6));
    expect(parseKey(key)).toBe(type);
  });

  it('uses the alphabet 0-9A-Za-z in that order', () => {
    expect(BASE62).toBe('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
    expect(toBase62(0, 6)).toBe('000000');
    expect(toBase62(61, 1)).toBe('z');
    expect(toBase62(62, 1)).toBe('10');
    expect(toBase62(0xffffffff, 6)).toBe(referenceBase62(0xffffffff, 6));
  });

  it('encodes any CRC-32 value like the reference', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => toBase62(n, 6) === referenceBase62(n, 6)));
  });

  it('carries at least 190 bits of randomness and does not repeat', () => {
    const key = generateKey('secret');
    const random = key.slice(DEFAULT_PREFIXES.secret.length, -CHECKSUM_LENGTH);
    expect(random).toMatch(/^[0-9A-Za-z]+$/);
    expect(random).toHaveLength(RANDOM_LENGTH);
    expect(RANDOM_LENGTH).toBe(32);
    expect(random.length * Math.log2(62)).toBeGreaterThanOrEqual(190);
    const keys = new Set(Array.from({ length: 2000 }, () => generateKey('secret')));
    expect(keys.size).toBe(2000);
  });

  it('uses every base62 character roughly uniformly', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) for (const c of generateKey('secret').slice(3, 35)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const expected = (2000 * 32) / 62;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.2);
  });

  it('honours custom prefixes', () => {
    const prefixes = { secret: 'kg_live_', publishable: 'kg_pub_' };
    const key = generateKey('secret', prefixes);
    expect(key.startsWith('kg_live_')).toBe(true);
    expect(parseKey(key, prefixes)).toBe('secret');
    expect(parseKey(key)).toBeUndefined();
  });

  it.each([
    { secret: 'kg_', publishable: 'kg_pub_' },
    { secret: 'kg_pub_', publishable: 'kg_' },
    { secret: 'sk', publishable: 'skp' },
  ])('tells the types apart when one prefix extends the other (%o)', (prefixes) => {
    for (const type of ['secret', 'publishable'] as const) {
      for (let i = 0; i < 50; i++) expect(parseKey(generateKey(type, prefixes), prefixes)).toBe(type);
    }
  });
});

describe('parseKey rejects without I/O', () => {
  const key = generateKey('secret');
  it.each([
    ['a changed random character', key.slice(0, 5) + (key[5] === 'a' ? 'b' : 'a') + key.slice(6)],
    ['a changed checksum character', key.slice(0, -1) + (key.endsWith('0') ? '1' : '0')],
    ['a missing character', key.slice(0, -1)],
    ['an extra character', key + '0'],
    ['another prefix', 'xk_' + key.slice(3)],
    ['lower-cased', key.toLowerCase() === key ? key.toUpperCase() : key.toLowerCase()],
    ['surrounding spaces', ` ${key} `],
  ])('%s', (_, candidate) => {
    expect(parseKey(candidate)).toBeUndefined();
  });

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.anything(), (value) => parseKey(value) === undefined || typeof value === 'string'));
  });
});

describe('stored forms', () => {
  it('hashes with SHA-256 and derives a key id that reveals nothing usable', () => {
    const key = generateKey('secret');
    const hash = hashKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(keyIdFromHash(hash)).toBe(`key_${hash.slice(0, 24)}`);
    expect(keyIdFromHash(hash)).not.toContain(key.slice(3, 11));
  });

  it('displays the first 8 characters and eight bullets', () => {
    expect(displayKey('sk_ABCDEFGHIJ')).toBe('sk_ABCDE\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022');
  });
});
