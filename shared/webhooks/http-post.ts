// One delivery attempt over the network, with the SSRF defences of docs/api.md "Webhooks": the host
// is resolved here, every address it resolves to is checked (no private, loopback, link-local or
// metadata targets; loopback only in the local runtime), and the connection goes to the checked
// address (no second lookup an attacker's DNS could answer differently). Redirects are not
// followed (a 3xx is a failed attempt); the whole attempt, DNS included, has 10 seconds.
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { hostOf, isForbiddenAddress, type UrlPolicy } from '../domain/webhook-urls.ts';

export const DELIVERY_TIMEOUT_MS = 10_000;

export class ForbiddenTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenTargetError';
  }
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;
const systemResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true });

export interface PostOptions {
  policy: UrlPolicy;
  timeoutMs?: number;
  resolve?: Resolver;
}

/** The checked address to connect to, or ForbiddenTargetError. Exported for tests. */
export async function resolveTarget(url: URL, options: PostOptions): Promise<{ address: string; family: number }> {
  if (url.protocol !== 'https:' && !(options.policy.allowLocal && url.protocol === 'http:')) {
    throw new ForbiddenTargetError('only https:// URLs are delivered to');
  }
  const host = hostOf(url);
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await (options.resolve ?? systemResolver)(host);
  if (addresses.length === 0) throw new ForbiddenTargetError('the host resolves to no address');
  const bad = addresses.find((a) => isForbiddenAddress(a.address, options.policy));
  if (bad) throw new ForbiddenTargetError('the host resolves to a private, loopback, link-local or metadata address');
  return addresses[0]!;
}

/** POST `body`; resolves with the response status (any status: the caller judges it). */
export async function postJson(rawUrl: string, body: string, headers: Record<string, string>, options: PostOptions): Promise<number> {
  const url = new URL(rawUrl);
  const signal = AbortSignal.timeout(options.timeoutMs ?? DELIVERY_TIMEOUT_MS);
  const target = await Promise.race([
    resolveTarget(url, options),
    new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
  ]);
  const pinned: LookupFunction = (_host, opts, callback) => {
    if ((opts as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [target]);
    else callback(null, target.address, target.family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'Keygate-Webhooks/1', ...headers, 'Content-Length': Buffer.byteLength(body) },
        lookup: pinned,
        signal,
        agent: false,
      },
      (res) => {
        resolve(res.statusCode ?? 0);
        res.resume(); // the response body is not needed
        res.on('error', () => undefined);
        res.on('end', () => req.destroy());
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
