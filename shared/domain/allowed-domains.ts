// Publishable keys' allowed domains: normalizing what a user submits and matching an Origin header
// against the stored, normalized entries. Pure, and neither function throws on any input.
//
// Normalized entry: [http://|https://][*.]host[:port], host lowercase ASCII (IDN in punycode).
// Decisions, in short:
// - `host` covers host and all its subdomains; `*.host` covers subdomains only.
// - Scheme and port are optional; when an entry has one, the origin's must equal it. Ports are
//   compared as effective ports (80/443 implied by the scheme). The rule for an entry without a port:
//     - with a scheme, it means that scheme's default port: `https://a.com` admits
//       `https://a.com` (443) and never `https://a.com:8443`;
//     - without a scheme, any port: `a.com` admits `http://a.com:8080`.
//   So `https://a.com:443` is stored as `https://a.com` and keeps its lock on 443, `a.com:443`
//   matches `https://a.com` but not `http://a.com`, and `a.com:8443` any scheme on 8443.
// - IPv4 literals (canonical dotted decimal only) and bracketed IPv6 are accepted, and match
//   that exact address only (an IP has no subdomains, and `*.` on an IP is rejected).
// - `localhost` is accepted as an entry although tldts calls it a suffix: it is always allowed.
// - Hostnames are strict LDH (letters, digits, hyphens); `_` and a trailing dot are rejected,
//   in entries and in origins alike.
import { getPublicSuffix } from 'tldts';
import type { FieldIssue } from './errors.ts';
import { canonicalHost, IPV4 } from './origin-match.ts';

export { isOriginAllowed } from './origin-match.ts';

export const MAX_ALLOWED_DOMAINS = 50;

export type NormalizeResult = { ok: true; domains: string[] } | { ok: false; issues: FieldIssue[] };

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
