// Which URLs may receive webhook deliveries (docs/api.md "Webhooks"), pure: checked when a webhook
// is created and again on the resolved address before each delivery (shared/webhooks/http-post.ts).
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface UrlPolicy {
  /** The local runtime: `http://localhost` and `http://127.0.0.1` URLs, and loopback deliveries. */
  allowLocal: boolean;
}

export const urlPolicyFromEnv = (env: NodeJS.ProcessEnv = process.env): UrlPolicy => ({ allowLocal: env.WEBHOOK_ALLOW_LOCAL === '1' });

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1']);

/** Bare host of a URL (IPv6 without brackets). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Addresses a delivery must never reach: anything but public unicast (private, loopback,
 * link-local and so the 169.254.169.254 metadata endpoint, unique-local (fd00:ec2::254), CGNAT,
 * multicast, reserved, unspecified), IPv4-mapped and IPv4-compatible IPv6 judged as the IPv4 they embed. Loopback is
 * allowed only when the local runtime says so.
 */
export function isForbiddenAddress(address: string, policy: UrlPolicy): boolean {
  if (!ipaddr.isValid(address)) return true;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    // IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96, e.g. ::7f00:1) forms reach the IPv4
    // they embed; `::` and `::1` keep their own IPv6 meaning.
    const compatible = v6.parts.slice(0, 6).every((part) => part === 0) && !['unspecified', 'loopback'].includes(v6.range());
    if (v6.isIPv4MappedAddress() || compatible) {
      const [high, low] = [v6.parts[6]!, v6.parts[7]!];
      parsed = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
    }
  }
  const range = parsed.range();
  if (range === 'loopback' && policy.allowLocal) return false;
  return range !== 'unicast';
}

/** Why a webhook URL is refused at creation, or undefined when it is acceptable. */
export function urlProblem(raw: string, policy: UrlPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.username || url.password) return 'must not contain credentials';
  const host = hostOf(url);
  const local = policy.allowLocal && url.protocol === 'http:' && LOCAL_HOSTS.has(host);
  if (url.protocol !== 'https:' && !local) {
    return policy.allowLocal ? 'must be https:// (or http://localhost, http://127.0.0.1 locally)' : 'must be https://';
  }
  // `localhost.` is the same name as `localhost` (a fully qualified name's trailing dot).
  const name = host.replace(/\.+$/, '');
  if (!local && (name === 'localhost' || name.endsWith('.localhost'))) return 'must not be a loopback host';
  if (isIP(host) && isForbiddenAddress(host, { allowLocal: local })) return 'must not be a private, loopback, link-local or metadata address';
  return undefined;
}
