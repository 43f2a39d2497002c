// Matching an Origin header against a publishable key's normalized allowed domains. Kept apart
// from allowed-domains.ts (normalization, which needs the Public Suffix List) so the authorizer's
// bundle carries only this: no tldts, no per-entry allocation on the hot path.
import { domainToASCII } from 'node:url';

const LABEL = '(?!-)[a-z0-9-]{1,63}(?<!-)';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
export const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const MAX_HOST = 253;
// Longest meaningful origin: `https://` + 253-char host + `:65535` + `/`, with room for IPv6 and
// an IDN host before punycode. Longer inputs are rejected before any work.
const MAX_ORIGIN = 512;

/** The lowercase ASCII form of an entry's host, or undefined if it is not a hostname or IP. */
export function canonicalHost(hostPart: string): string | undefined {
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

/**
 * An Origin a browser would send for a page: `scheme://host[:port]`. Not a missing header, not the
 * opaque `null` (sandboxed frames, file: pages), not garbage: only such an origin is worth echoing
 * in a refusal the page should be able to read.
 */
export function isRealOrigin(origin: string | undefined): origin is string {
  return origin !== undefined && origin.length <= MAX_ORIGIN && /^[a-z][a-z0-9+.-]*:\/\/[^\s/?#@]+$/i.test(origin);
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
    if (entryPort === 0 || entryPort !== port) return false;
    hostEnd = colon;
  } else if (sep >= 0 && port !== (schemeLen === 5 ? 443 : 80)) {
    // A scheme and no port means that scheme's default port; no scheme and no port, any port.
    return false;
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
