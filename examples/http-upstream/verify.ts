// Verify a Keygate-Signature header (the webhook scheme): `t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<raw body>">`. Refuses a bad signature, a `t` more than 300 s old (or in the future beyond
// it), and a request `id` already seen. Node's standard library only.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOLERANCE_SECONDS = 300;

/** Request ids seen within the tolerance window; an id seen again is a replay. */
export class SeenIds {
  private readonly seen = new Map<string, number>();

  /** True the first time an id is offered, false for a replay. */
  add(id: string, nowSeconds: number): boolean {
    for (const [old, at] of this.seen) if (at < nowSeconds - 2 * TOLERANCE_SECONDS) this.seen.delete(old);
    if (this.seen.has(id)) return false;
    this.seen.set(id, nowSeconds);
    return true;
  }
}

export type Verdict = { ok: true; body: { id: string; [field: string]: unknown } } | { ok: false; reason: string };

export function verifyRequest(secret: string, header: string | undefined, rawBody: string, seen: SeenIds, nowSeconds = Math.floor(Date.now() / 1000)): Verdict {
  const parts = new Map((header ?? '').split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) return { ok: false, reason: 'malformed signature header' };
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(v1, 'hex'))) return { ok: false, reason: 'bad signature' };
  if (Math.abs(nowSeconds - t) > TOLERANCE_SECONDS) return { ok: false, reason: 'stale timestamp' };
  let body: { id?: unknown };
  try {
    body = JSON.parse(rawBody) as { id?: unknown };
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (typeof body.id !== 'string' || body.id === '') return { ok: false, reason: 'no request id' };
  if (!seen.add(body.id, nowSeconds)) return { ok: false, reason: 'repeated request id' };
  return { ok: true, body: body as { id: string } };
}
