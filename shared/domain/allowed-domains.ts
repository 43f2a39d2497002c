// Publishable keys' allowed domains: normalizing what a user submits and matching an Origin header
// against the stored, normalized entries. Pure, and neither function throws on any input.
//
// Normalized entry: [http://|https://][*.]host[:port], host lowercase ASCII (IDN in punycode).
// Decisions, in short:
// - `host` covers host and all its subdomains; `*.host` covers subdomains only.
// - Scheme and port are optional; when an entry has one, the origin's must equal it, when it
//   has none, any is accepted. Ports are compared as effective ports (80/443 implied by the
//   scheme), so `https://a.com:443` is stored as `https://a.com` and `a.com:443` matches
//   `https://a.com` but not `http://a.com`.
// - IPv4 literals (canonical dotted decimal only) and bracketed IPv6 are accepted, and match
//   that exact address only (an IP has no subdomains, and `*.` on an IP is rejected).
// - `localhost` is accepted as an entry although tldts calls it a suffix: it is always allowed.
// - Hostnames are strict LDH (letters, digits, hyphens); `_` and a trailing dot are rejected,
//   in entries and in origins alike.
import { domainToASCII } from 'node:url';
import { getPublicSuffix } from 'tldts';
import type { FieldIssue } from './errors.ts';

export const MAX_ALLOWED_DOMAINS = 50;

export type NormalizeResult = { ok: true; domains: string[] } | { ok: false; issues: FieldIssue[] };

const LABEL = '(?!-)[a-z0-9-]{1,63}(?<!-)';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const MAX_HOST = 253;
// Longest meaningful origin: `https://` + 253-char host + `:65535` + `/`, with room for IPv6 and
// an IDN host before punycode. Longer inputs are rejected before any work.
const MAX_ORIGIN = 512;

export function normalizeAllowedDomains(input: unknown, field = 'allowedDomains'): NormalizeResult {
  let entries: unknown[];
  if (typeof input === 'string') {
    // A blank string clears the list; otherwise every comma-separated piece is an entry.
    // The split limit keeps a huge string of commas from allocating more than needed.
    entries = input.trim() === '' ? [] : input.split(',', MAX_ALLOWED_DOMAINS + 1);
  } else if (Array.isArray(input)) {
    entries = input;
  } else {
    return fail(field, 'must be an array of strings or a comma-separated string');
  }
  if (entries.length > MAX_ALLOWED_DOMAINS) {
    return fail(field, `must have at most ${MAX_ALLOWED_DOMAINS} entries`);
  }

  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  const domains: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const raw = entries[i];
    const result = typeof raw === 'string' ? normalizeEntry(raw) : { error: 'must be a string' };
    if ('error' in result) {
      issues.push({ field: `${field}[${i}]`, message: result.error });
    } else if (!seen.has(result.value)) {
      seen.add(result.value);
      domains.push(result.value);
    }
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, domains };
}

function fail(field: string, message: string): NormalizeResult {
  return { ok: false, issues: [{ field, message }] };
}

type EntryResult = { value: string } | { error: string };

function normalizeEntry(raw: string): EntryResult {
  const entry = raw.trim();
  // Quote the entry so the message names it; cap it so a huge entry cannot bloat the response.
  const shown = JSON.stringify(entry.length > 100 ? `${entry.slice(0, 100)}…` : entry);
  const notHost = { error: `${shown} is not a valid domain` };
  if (entry === '') return { error: 'must not be empty' };
  if (/\s/.test(entry)) return notHost;

  let rest = entry.toLowerCase();
  let scheme = '';
  const sep = rest.indexOf('://');
  // `javascript:x`, `mailto:x`: a scheme without `//`; `host:8080` is a port, not a scheme.
  if (sep < 0 && /^[a-z][a-z0-9+.-]*:(?![\d/]|$)/.test(rest)) return { error: `${shown} must use http or https` };
  if (sep >= 0) {
    scheme = rest.slice(0, sep);
    if (scheme !== 'http' && scheme !== 'https') return { error: `${shown} must use http or https` };
    rest = rest.slice(sep + 3);
  }
  // Path, query and fragment are dropped: only the authority matters for an origin.
  const end = rest.search(/[/?#]/);
  let authority = end >= 0 ? rest.slice(0, end) : rest;
  if (authority.includes('@')) return { error: `${shown} must not contain a user name` };
  const wildcard = authority.startsWith('*.');
  if (wildcard) authority = authority.slice(2);

  let hostPart = authority;
  let portPart: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return notHost;
    hostPart = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return notHost;
      portPart = after.slice(1);
    }
  } else {
    const colon = authority.indexOf(':');
    if (colon >= 0) {
      hostPart = authority.slice(0, colon);
      portPart = authority.slice(colon + 1);
    }
  }

  let port = '';
  if (portPart !== undefined) {
    const n = /^\d{1,5}$/.test(portPart) ? Number(portPart) : 0;
    if (n < 1 || n > 65535) return { error: `${shown} has an invalid port` };
    // A scheme's default port is implied, so it is dropped to keep one spelling per origin.
    if (!(scheme === 'https' && n === 443) && !(scheme === 'http' && n === 80)) port = `:${n}`;
  }

  const host = canonicalHost(hostPart);
  if (host === undefined) return notHost;
  const ip = host.startsWith('[') || IPV4.test(host);
  if (ip && wildcard) return { error: `${shown}: a wildcard needs a domain name, not an IP address` };
  if (!ip && host !== 'localhost' && getPublicSuffix(host, { allowPrivateDomains: true }) === host) {
    return { error: `${shown} is a public suffix and cannot be an allowed domain` };
  }
  return { value: `${scheme ? `${scheme}://` : ''}${wildcard ? '*.' : ''}${host}${port}` };
}

/** The lowercase ASCII form of an entry's host, or undefined if it is not a hostname or IP. */
function canonicalHost(hostPart: string): string | undefined {
  if (hostPart.startsWith('[')) {
    if (!/^\[[0-9a-f:.]+\]$/.test(hostPart)) return undefined;
    try {
      return new URL(`http://${hostPart}`).hostname; // canonical IPv6 text, e.g. [::1]
    } catch {
      return undefined;
    }
  }
  // ASCII outside LDH (`%`, `_`, `*`, ...) is refused before WHATWG parsing could decode or map it;
  // non-ASCII goes through IDNA (punycode) and is checked again afterwards.
  if (/[\x00-\x2c/\x3a-\x60\x7b-\x7f]/.test(hostPart)) return undefined;
  const ascii = domainToASCII(hostPart);
  if (ascii === '' || ascii.length > MAX_HOST) return undefined;
  // WHATWG rewrites numeric hosts (`010.0.0.1` -> `8.0.0.1`); only the canonical spelling is taken.
  if (IPV4.test(ascii)) return ascii === hostPart ? ascii : undefined;
  if (!HOSTNAME.test(ascii) || /^\d+$/.test(ascii.slice(ascii.lastIndexOf('.') + 1))) return undefined;
  return ascii;
}

/**
 * Whether an Origin header value is allowed by the normalized entries. Hot path (authorizer):
 * no tldts, no per-entry allocation; entries are read in place.
 * Origins must be `http(s)://host[:port]` (one trailing `/` is tolerated); anything else,
 * including a missing origin and the literal `null`, is not allowed.
 */
export function isOriginAllowed(origin: string | undefined | null, allowedDomains: readonly string[]): boolean {
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > MAX_ORIGIN) return false;
  const o = origin.toLowerCase();

  let schemeLen: number;
  let defaultPort: number;
  if (o.startsWith('https://')) {
    schemeLen = 5;
    defaultPort = 443;
  } else if (o.startsWith('http://')) {
    schemeLen = 4;
    defaultPort = 80;
  } else {
    return false;
  }

  let end = o.length;
  if (o.charCodeAt(end - 1) === 0x2f /* / */) end--;
  const start = schemeLen + 3;
  let hostEnd = end;
  let port = defaultPort;
  const close = o.charCodeAt(start) === 0x5b /* [ */ ? o.indexOf(']', start) : -1;
  const colon = o.indexOf(':', close >= 0 ? close : start);
  if (colon >= 0 && colon < end) {
    port = parsePort(o, colon + 1, end);
    if (port === 0) return false;
    hostEnd = colon;
  }

  let host = o.slice(start, hostEnd);
  if (host.startsWith('[')) {
    if (close !== hostEnd - 1) return false;
    const canonical = canonicalHost(host);
    if (canonical === undefined) return false;
    host = canonical;
  } else {
    // Browsers already send punycode; other clients may not.
    if (/[^\x00-\x7f]/.test(host)) host = domainToASCII(host);
    if (host.length === 0 || host.length > MAX_HOST || !HOSTNAME.test(host)) return false;
  }

  // Local development is always allowed, whatever the list says.
  if (host === 'localhost' || host === '127.0.0.1' || host === '[::1]') return true;

  if (!Array.isArray(allowedDomains)) return false;
  for (const entry of allowedDomains) {
    if (typeof entry === 'string' && entryMatches(entry, schemeLen, host, port)) return true;
  }
  return false;
}

/** Port digits in s[from, to) as a number, 0 if not a valid port. */
function parsePort(s: string, from: number, to: number): number {
  if (to <= from || to - from > 5) return 0;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return 0;
    n = n * 10 + c;
  }
  return n <= 65535 ? n : 0;
}

function entryMatches(entry: string, schemeLen: number, host: string, port: number): boolean {
  let i = 0;
  const sep = entry.indexOf('://');
  if (sep >= 0) {
    // The entry's scheme must equal the origin's (both lowercase).
    if (sep !== schemeLen || !entry.startsWith(schemeLen === 5 ? 'https' : 'http')) return false;
    i = sep + 3;
  }
  const wildcard = entry.startsWith('*.', i);
  if (wildcard) i += 2;

  let hostEnd = entry.length;
  const close = entry.charCodeAt(i) === 0x5b /* [ */ ? entry.indexOf(']', i) : -1;
  const colon = entry.indexOf(':', close >= 0 ? close : i);
  if (colon >= 0) {
    const entryPort = parsePort(entry, colon + 1, entry.length);
    // An entry's default port is implied by its scheme, or absent (then any port matches).
    if (entryPort === 0 || entryPort !== port) return false;
    hostEnd = colon;
  }
  const len = hostEnd - i;
  if (len <= 0) return false;

  const exact = host.length === len && entry.startsWith(host, i);
  if (isIpRange(entry, i, hostEnd)) return exact && !wildcard; // IPs have no subdomains
  if (exact) return !wildcard;
  // Subdomain: host ends with `.` + entry host, so `evilmysite.com` and `mysite.com.evil.com` fail.
  const dot = host.length - len - 1;
  if (dot <= 0 || host.charCodeAt(dot) !== 0x2e /* . */) return false;
  for (let k = 0; k < len; k++) if (host.charCodeAt(dot + 1 + k) !== entry.charCodeAt(i + k)) return false;
  return true;
}

/** Whether entry[from, to) is an IP literal: bracketed IPv6, or a numeric last label (IPv4). */
function isIpRange(entry: string, from: number, to: number): boolean {
  if (entry.charCodeAt(from) === 0x5b /* [ */) return true;
  for (let j = to - 1; j >= from; j--) {
    const c = entry.charCodeAt(j);
    if (c === 0x2e /* . */) return j < to - 1;
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
