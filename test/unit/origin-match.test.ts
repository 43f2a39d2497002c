// Matching an Origin header against a publishable key's allowed domains (shared/domain/origin-match.ts).
import { describe, expect, it } from 'vitest';
import { normalizeAllowedDomains } from '../../shared/domain/allowed-domains.ts';
import { isOriginAllowed } from '../../shared/domain/origin-match.ts';

describe('isOriginAllowed', () => {
  /** Rows of one allowed-domains entry, the presented origin, and whether it passes. */
  const entryCases = (kind: string, rows: [entry: string, origin: string, expected: boolean][]) =>
    it.each(rows)(`${kind} entry %s: %s -> %s`, (entry, origin, expected) => {
      expect(isOriginAllowed(origin, [entry])).toBe(expected);
    });

  const mysite = ['mysite.com'];

  it.each([
    ['https://mysite.com', true],
    ['http://mysite.com', true],
    ['https://staging.mysite.com', true],
    ['https://a.b.mysite.com', true],
    ['https://a.b.c.d.e.mysite.com', true],
    ['https://mysite.com:8443', true],
    ['HTTPS://STAGING.MYSITE.COM', true],
    ['https://mysite.com/', true],
    ['https://evilmysite.com', false],
    ['https://mysite.com.evil.com', false],
    ['https://mysite.com.', false],
    ['https://staging.mysite.com.', false],
    ['https://mysite.co', false],
    ['https://ysite.com', false],
    ['https://com', false],
    ['https://.mysite.com', false],
    ['https://a..mysite.com', false],
    ['https://-a.mysite.com', false],
    ['https://a_b.mysite.com', false],
  ])('entry mysite.com: %s -> %s', (origin, expected) => {
    expect(isOriginAllowed(origin, mysite)).toBe(expected);
  });

  entryCases('wildcard', [
    ['*.mysite.com', 'https://mysite.com', false],
    ['*.mysite.com', 'https://app.mysite.com', true],
    ['*.mysite.com', 'http://a.b.mysite.com:81', true],
    ['*.mysite.com', 'https://evilmysite.com', false],
    ['https://*.mysite.com', 'https://app.mysite.com', true],
    ['https://*.mysite.com', 'http://app.mysite.com', false],
    ['https://*.mysite.com', 'https://mysite.com', false],
  ]);

  entryCases('scheme', [
    ['https://mysite.com', 'https://mysite.com', true],
    ['https://mysite.com', 'https://app.mysite.com', true],
    ['https://mysite.com', 'http://mysite.com', false],
    ['https://mysite.com', 'https://mysite.com:443', true],
    // An entry with a scheme and no port means that scheme's default port.
    ['https://mysite.com', 'https://mysite.com:8443', false],
    ['https://mysite.com', 'https://app.mysite.com:8443', false],
    ['https://*.mysite.com', 'https://app.mysite.com:8443', false],
    ['http://mysite.com', 'https://mysite.com', false],
    ['http://mysite.com', 'http://mysite.com:80', true],
    ['http://mysite.com', 'http://mysite.com:8080', false],
  ]);

  it('an explicit default port keeps its lock: https://shop.example:443 admits that origin only, not :8443', () => {
    const result = normalizeAllowedDomains(['https://shop.example:443']);
    expect(result.ok).toBe(true);
    const domains = (result as { ok: true; domains: string[] }).domains;
    expect(isOriginAllowed('https://shop.example', domains)).toBe(true);
    expect(isOriginAllowed('https://shop.example:443', domains)).toBe(true);
    expect(isOriginAllowed('https://shop.example:8443', domains)).toBe(false);
    expect(isOriginAllowed('http://shop.example', domains)).toBe(false);
    const http = (normalizeAllowedDomains(['http://shop.example:80']) as { ok: true; domains: string[] }).domains;
    expect(isOriginAllowed('http://shop.example', http)).toBe(true);
    expect(isOriginAllowed('http://shop.example:8080', http)).toBe(false);
  });

  entryCases('port', [
    ['http://mysite.com:8080', 'http://mysite.com:8080', true],
    ['http://mysite.com:8080', 'http://app.mysite.com:8080', true],
    ['http://mysite.com:8080', 'http://mysite.com', false],
    ['http://mysite.com:8080', 'http://mysite.com:8081', false],
    ['http://mysite.com:8080', 'https://mysite.com:8080', false],
    ['mysite.com:8080', 'https://mysite.com:8080', true],
    ['mysite.com:8080', 'http://mysite.com:8080', true],
    ['mysite.com:443', 'https://mysite.com', true],
    ['mysite.com:443', 'https://mysite.com:443', true],
    ['mysite.com:443', 'http://mysite.com', false],
    ['http://mysite.com:443', 'http://mysite.com:443', true],
    ['https://mysite.com:443', 'https://mysite.com', true],
    ['mysite.com', 'https://mysite.com:1', true],
  ]);

  it.each([
    ['https://bücher.example', true],
    ['https://BÜCHER.example', true],
    ['https://shop.bücher.example', true],
    ['https://xn--bcher-kva.example', true],
    ['https://bucher.example', false],
  ])('IDN origin %s against the punycode entry -> %s', (origin, expected) => {
    expect(isOriginAllowed(origin, ['xn--bcher-kva.example'])).toBe(expected);
  });

  entryCases('IP', [
    ['203.0.113.7', 'http://203.0.113.7', true],
    ['203.0.113.7', 'http://203.0.113.7:8080', true],
    ['203.0.113.7', 'http://1.203.0.113.7', false],
    ['203.0.113.7', 'http://203.0.113.77', false],
    ['0.113.7', 'http://203.0.113.7', false],
    ['[2001:db8::1]', 'https://[2001:db8::1]', true],
    ['[2001:db8::1]', 'https://[2001:DB8:0::1]:8443', true],
    ['[2001:db8::1]:8443', 'https://[2001:db8::1]', false],
    ['[2001:db8::1]', 'https://[2001:db8::2]', false],
  ]);

  it.each([
    'http://localhost',
    'https://localhost',
    'http://localhost:3000',
    'https://localhost:5173/',
    'http://LOCALHOST:8080',
    'http://127.0.0.1',
    'https://127.0.0.1:8443',
    'http://[::1]',
    'http://[::1]:3000',
    'https://[0:0:0:0:0:0:0:1]:1',
  ])('always allows the local origin %s, even with an empty list', (origin) => {
    expect(isOriginAllowed(origin, [])).toBe(true);
  });

  it.each([
    'http://app.localhost',
    'http://localhost.evil.com',
    'http://127.0.0.2',
    'ftp://localhost',
    'localhost',
    'http://localhost:0',
    'http://localhost:99999',
  ])('does not treat %s as local', (origin) => {
    expect(isOriginAllowed(origin, [])).toBe(false);
  });

  it.each([
    [undefined],
    [null],
    [''],
    ['null'],
    ['NULL'],
    ['mysite.com'],
    ['//mysite.com'],
    ['ftp://mysite.com'],
    ['file://mysite.com'],
    ['javascript:mysite.com'],
    ['https:mysite.com'],
    ['https://'],
    ['https:///'],
    ['https://mysite.com/path'],
    ['https://mysite.com//'],
    ['https://mysite.com?x'],
    ['https://mysite.com#x'],
    ['https://user@mysite.com'],
    ['https://mysite.com:'],
    ['https://mysite.com:0'],
    ['https://mysite.com:65536'],
    ['https://mysite.com:44a'],
    ['https://mysite.com:443:443'],
    [' https://mysite.com'],
    ['https://mysite.com '],
    ['https://my site.com'],
    ['https://mysite.com\\'],
    ['https://%6Dysite.com'],
    [`https://${'a'.repeat(64)}.mysite.com`],
    [`https://${'abcdefghi.'.repeat(25)}mysite.com`],
  ])('does not allow the missing or malformed origin %j', (origin) => {
    expect(isOriginAllowed(origin, ['mysite.com', 'https://mysite.com'])).toBe(false);
  });

  it('allows an origin matched by any entry of the list', () => {
    expect(isOriginAllowed('https://b.org', ['a.com', 'https://b.org', '*.c.net'])).toBe(true);
  });

  it('allows nothing but local origins with an empty list', () => {
    expect(isOriginAllowed('https://mysite.com', [])).toBe(false);
  });

  it('skips junk entries without throwing', () => {
    const junk = ['', '*.', ':', 'https://', '[', '*.[::1]', 42, null] as unknown as string[];
    expect(isOriginAllowed('https://mysite.com', junk)).toBe(false);
    expect(isOriginAllowed('https://mysite.com', [...junk, 'mysite.com'])).toBe(true);
  });
});
