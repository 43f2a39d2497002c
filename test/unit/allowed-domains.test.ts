// Normalizing a publishable key's allowed domains (shared/domain/allowed-domains.ts), and as properties
// what the normalized entries then match.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_ALLOWED_DOMAINS,
  isOriginAllowed,
  normalizeAllowedDomains,
} from '../../shared/domain/allowed-domains.ts';

function normalized(input: unknown): string[] {
  const result = normalizeAllowedDomains(input);
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.issues)}`);
  return result.domains;
}

describe('normalizeAllowedDomains: accepted entries', () => {
  it.each([
    ['mysite.com', 'mysite.com'],
    ['  mysite.com  ', 'mysite.com'],
    ['MySite.COM', 'mysite.com'],
    ['https://mysite.com', 'https://mysite.com'],
    ['HTTP://MySite.com', 'http://mysite.com'],
    ['https://mysite.com/', 'https://mysite.com'],
    ['https://mysite.com/path/to?q=1#frag', 'https://mysite.com'],
    ['mysite.com/path', 'mysite.com'],
    ['mysite.com?x=1', 'mysite.com'],
    ['mysite.com#top', 'mysite.com'],
    ['http://mysite.com:8080', 'http://mysite.com:8080'],
    ['mysite.com:8080/', 'mysite.com:8080'],
    ['mysite.com:443', 'mysite.com:443'],
    ['https://mysite.com:443', 'https://mysite.com'],
    ['http://mysite.com:80', 'http://mysite.com'],
    ['http://mysite.com:443', 'http://mysite.com:443'],
    ['mysite.com:08080', 'mysite.com:8080'],
    ['mysite.com:65535', 'mysite.com:65535'],
    ['*.mysite.com', '*.mysite.com'],
    ['https://*.mysite.com', 'https://*.mysite.com'],
    ['*.mysite.com:3000', '*.mysite.com:3000'],
    ['Bücher.example', 'xn--bcher-kva.example'],
    ['https://Bücher.example/', 'https://xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['*.bücher.example', '*.xn--bcher-kva.example'],
    ['staging.mysite.co.uk', 'staging.mysite.co.uk'],
    ['mysite.github.io', 'mysite.github.io'],
    ['my-app.vercel.app', 'my-app.vercel.app'],
    ['localhost', 'localhost'],
    ['http://localhost:3000', 'http://localhost:3000'],
    ['203.0.113.7', '203.0.113.7'],
    ['http://203.0.113.7:8080', 'http://203.0.113.7:8080'],
    ['[::1]', '[::1]'],
    ['[2001:DB8:0:0::1]:8443', '[2001:db8::1]:8443'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
    [`${'abcdefghi.'.repeat(25)}com`, `${'abcdefghi.'.repeat(25)}com`],
  ])('normalizes %j to %j', (input, expected) => {
    expect(normalized([input])).toEqual([expected]);
  });

  it.each([
    ['a.com,b.com', ['a.com', 'b.com']],
    [' a.com , https://b.com/x ', ['a.com', 'https://b.com']],
    ['a.com', ['a.com']],
    ['', []],
    ['   ', []],
  ])('splits the comma-separated string %j', (input, expected) => {
    expect(normalized(input)).toEqual(expected);
  });

  it.each([
    [['a.com', 'A.com', 'b.com', 'a.com/'], ['a.com', 'b.com']],
    [['https://a.com:443', 'https://a.com'], ['https://a.com']],
    [['Bücher.example', 'xn--bcher-kva.example'], ['xn--bcher-kva.example']],
    ['b.com, a.com, b.com', ['b.com', 'a.com']],
  ])('removes duplicates after normalization, keeping first order: %j', (input, expected) => {
    expect(normalized(input)).toEqual(expected);
  });

  it('keeps different scheme/port/wildcard forms of one host apart', () => {
    expect(normalized(['a.com', 'https://a.com', 'a.com:8080', '*.a.com'])).toEqual([
      'a.com',
      'https://a.com',
      'a.com:8080',
      '*.a.com',
    ]);
  });

  it('accepts an empty array', () => {
    expect(normalized([])).toEqual([]);
  });

  it(`accepts exactly ${MAX_ALLOWED_DOMAINS} entries`, () => {
    const input = Array.from({ length: MAX_ALLOWED_DOMAINS }, (_, i) => `site${i}.com`);
    expect(normalized(input)).toHaveLength(MAX_ALLOWED_DOMAINS);
  });
});

describe('normalizeAllowedDomains: rejected entries', () => {
  it.each([
    ['', 'must not be empty'],
    ['   ', 'must not be empty'],
    ['com', 'com'],
    ['co.uk', 'co.uk'],
    ['github.io', 'github.io'],
    ['vercel.app', 'vercel.app'],
    ['https://github.io/', 'https://github.io/'],
    ['COM', 'COM'],
    ['*.com', '*.com'],
    ['*.co.uk', '*.co.uk'],
    ['*.github.io', '*.github.io'],
    ['*.vercel.app', '*.vercel.app'],
    ['intranet', 'intranet'],
    ['ftp://a.com', 'ftp://a.com'],
    ['javascript:alert(1)', 'javascript:alert(1)'],
    ['mailto:a@b.com', 'mailto:a@b.com'],
    ['a b.com', 'a b.com'],
    ['a\tb.com', 'a\\tb.com'],
    ['user@a.com', 'user@a.com'],
    ['https://user:pw@a.com', 'https://user:pw@a.com'],
    ['a_b.com', 'a_b.com'],
    ['a%41.com', 'a%41.com'],
    ['-a.com', '-a.com'],
    ['a-.com', 'a-.com'],
    ['a..com', 'a..com'],
    ['.a.com', '.a.com'],
    ['mysite.com.', 'mysite.com.'],
    ['a.com\\evil', 'a.com\\\\evil'],
    [`${'a'.repeat(64)}.com`, 'a'.repeat(64)],
    [`${'abcdefghi.'.repeat(26)}com`, 'abcdefghi.'.repeat(9)],
    [`${'abcdefghi.'.repeat(25)}com.`, 'abcdefghi.'.repeat(9)],
    ['*', '*'],
    ['*.', '*.'],
    ['**.a.com', '**.a.com'],
    ['a.*.com', 'a.*.com'],
    ['*a.com', '*a.com'],
    ['https://', 'https://'],
    ['//a.com', '//a.com'],
    ['a.com:', 'a.com:'],
    ['a.com:0', 'a.com:0'],
    ['a.com:65536', 'a.com:65536'],
    ['a.com:80a', 'a.com:80a'],
    ['a.com:8:8', 'a.com:8:8'],
    ['a.123', 'a.123'],
    ['256.1.1.1', '256.1.1.1'],
    ['010.0.0.1', '010.0.0.1'],
    ['*.127.0.0.1', '*.127.0.0.1'],
    ['[::1', '[::1'],
    ['[fe80::1%25eth0]', '[fe80::1%25eth0]'],
    ['[nothex]', '[nothex]'],
  ])('rejects %j with a message naming it', (entry, shown) => {
    const result = normalizeAllowedDomains(['ok.com', 'fine.org', entry]);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]?.field).toBe('allowedDomains[2]');
    expect(result.issues[0]?.message).toContain(shown);
  });

  it.each([
    ['com', 'public suffix'],
    ['ftp://a.com', 'http or https'],
    ['user@a.com', 'user name'],
    ['a.com:0', 'port'],
    ['a b.com', 'not a valid domain'],
  ])('explains why %j is rejected', (entry, reason) => {
    const result = normalizeAllowedDomains([entry]);
    expect(result.ok ? [] : result.issues.map((i) => i.message)).toEqual([expect.stringContaining(reason)]);
  });

  it('reports every bad entry, each by its index', () => {
    const result = normalizeAllowedDomains(['com', 'a.com', 'github.io', 'b b']);
    expect(result).toEqual({
      ok: false,
      issues: [
        { field: 'allowedDomains[0]', message: expect.stringContaining('com') },
        { field: 'allowedDomains[2]', message: expect.stringContaining('github.io') },
        { field: 'allowedDomains[3]', message: expect.stringContaining('b b') },
      ],
    });
  });

  it('indexes entries of a comma-separated string by their position', () => {
    const result = normalizeAllowedDomains('a.com,,co.uk,');
    expect(result).toEqual({
      ok: false,
      issues: [
        { field: 'allowedDomains[1]', message: 'must not be empty' },
        { field: 'allowedDomains[2]', message: expect.stringContaining('co.uk') },
        { field: 'allowedDomains[3]', message: 'must not be empty' },
      ],
    });
  });

  it('uses the given field name', () => {
    const result = normalizeAllowedDomains(['ok.com', 'com'], 'body.allowed_domains');
    expect(result.ok ? [] : result.issues.map((i) => i.field)).toEqual(['body.allowed_domains[1]']);
  });

  it('caps a huge entry in the message', () => {
    const entry = `${'a'.repeat(100_000)} b`;
    const result = normalizeAllowedDomains([entry]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]?.message.length).toBeLessThan(200);
  });

  it.each([
    ['an array', Array.from({ length: MAX_ALLOWED_DOMAINS + 1 }, (_, i) => `site${i}.com`)],
    ['a string', Array.from({ length: MAX_ALLOWED_DOMAINS + 1 }, (_, i) => `site${i}.com`).join(',')],
    ['a string of commas', ','.repeat(1_000_000)],
  ])(`rejects more than ${MAX_ALLOWED_DOMAINS} entries in %s`, (_, input) => {
    expect(normalizeAllowedDomains(input)).toEqual({
      ok: false,
      issues: [{ field: 'allowedDomains', message: expect.stringContaining(String(MAX_ALLOWED_DOMAINS)) }],
    });
  });

  it.each([
    [[42], 0],
    [['a.com', null], 1],
    [['a.com', 'b.com', ['c.com']], 2],
    [['a.com', { host: 'b.com' }], 1],
    [[undefined], 0],
  ])('rejects the non-string entry in %j', (input, index) => {
    expect(normalizeAllowedDomains(input)).toEqual({
      ok: false,
      issues: [{ field: `allowedDomains[${index}]`, message: 'must be a string' }],
    });
  });

  it.each([[42], [null], [undefined], [{ 0: 'a.com' }], [true], [new Set(['a.com'])]])(
    'rejects the input %j as a whole',
    (input) => {
      expect(normalizeAllowedDomains(input)).toEqual({
        ok: false,
        issues: [{ field: 'allowedDomains', message: expect.stringContaining('array') }],
      });
    },
  );
});

describe('properties', () => {
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
  const labels = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
  const tld = fc.constantFrom('com', 'org', 'co.uk', 'dev', 'io', 'github.io', 'example');
  // A registrable domain, possibly with subdomains, checked by the module itself.
  const domain = fc
    .tuple(labels, tld)
    .map(([l, t]) => `${l}.${t}`)
    .filter((d) => {
      const r = normalizeAllowedDomains([d]);
      return r.ok && r.domains[0] === d;
    });
  const entry = fc
    .tuple(fc.constantFrom('', 'https://'), domain)
    .map(([scheme, d]) => ({ d, entry: `${scheme}${d}` }));

  it('allows https://L.d and https://d, and never https://Ld (no dot)', () => {
    fc.assert(
      fc.property(labels, entry, (l, { d, entry: e }) => {
        expect(isOriginAllowed(`https://${l}.${d}`, [e])).toBe(true);
        expect(isOriginAllowed(`https://${d}`, [e])).toBe(true);
        expect(isOriginAllowed(`https://${l}${d}`, [e])).toBe(false);
      }),
    );
  });

  it('never allows https://d.evil for entry d, unless evil is d or under d', () => {
    fc.assert(
      fc.property(entry, domain, ({ d, entry: e }, evil) => {
        fc.pre(evil !== d && !evil.endsWith(`.${d}`));
        expect(isOriginAllowed(`https://${d}.${evil}`, [e])).toBe(false);
        expect(isOriginAllowed(`https://${evil}`, [e])).toBe(false);
      }),
    );
  });

  it('*.d allows https://L.d but never https://d', () => {
    fc.assert(
      fc.property(labels, domain, (l, d) => {
        expect(isOriginAllowed(`https://${l}.${d}`, [`*.${d}`])).toBe(true);
        expect(isOriginAllowed(`https://${d}`, [`*.${d}`])).toBe(false);
      }),
    );
  });

  it('normalization is idempotent', () => {
    const input = fc.array(
      fc.oneof(
        entry.map((x) => x.entry),
        fc.tuple(fc.constantFrom('', 'HTTP://', 'https://', '*.'), domain, fc.constantFrom('', ':8080', '/x?y', ':443/')).map((p) => p.join('')),
      ),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(input, (xs) => {
        const first = normalizeAllowedDomains(xs);
        if (!first.ok) return;
        expect(normalizeAllowedDomains(first.domains)).toEqual(first);
      }),
    );
  });

  const anyString = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: fc.constantFrom(...'abc.-:/*[]@%_ 0123456789'.split(''), 'xn--', 'https://', 'http://') }),
  );

  it('normalizeAllowedDomains never throws', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, fc.array(anyString), fc.anything(), fc.array(fc.anything())), (input) => {
        const result = normalizeAllowedDomains(input);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });

  it('isOriginAllowed never throws', () => {
    const origin = fc.oneof(
      anyString,
      anyString.map((s) => `https://${s}`),
      anyString.map((s) => `http://[${s}`),
      fc.anything(),
    );
    const list = fc.oneof(fc.array(anyString), fc.array(fc.anything()), fc.anything());
    fc.assert(
      fc.property(origin, list, (o, l) => {
        expect(typeof isOriginAllowed(o as string, l as string[])).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['a huge string', 'a'.repeat(5_000_000)],
    ['a huge host', `https://${'a.'.repeat(1_000_000)}com`],
    ['a huge unicode string', 'ü'.repeat(1_000_000)],
  ])('handles %s without throwing', (_, input) => {
    expect(() => normalizeAllowedDomains(input)).not.toThrow();
    expect(() => normalizeAllowedDomains([input])).not.toThrow();
    expect(isOriginAllowed(input, [input, 'a.com'])).toBe(false);
  });
});
