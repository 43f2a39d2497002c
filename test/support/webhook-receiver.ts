// A webhook receiver on 127.0.0.1 and the contract's signature check (docs/api.md "Webhooks"),
// written here from the formula rather than taken from the code under test.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  body: any;
  at: number;
}

/** A receiver on 127.0.0.1: /ok answers 204, /flaky fails twice per event id then 200, /hang never answers. */
export class Receiver {
  readonly received: Received[] = [];
  private readonly failures = new Map<string, number>();
  server!: Server;
  url!: string;

  async start() {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(raw);
      this.received.push({ path: req.url!, headers: req.headers, raw, body, at: Date.now() });
      if (req.url === '/hang') return; // never answers
      if (req.url === '/flaky') {
        const seen = (this.failures.get(body.id) ?? 0) + 1;
        this.failures.set(body.id, seen);
        res.writeHead(seen <= 2 ? 500 : 200).end();
        return;
      }
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  of(path: string, type?: string) {
    return this.received.filter((r) => r.path === path && (!type || r.body.type === type));
  }

  async waitFor(predicate: () => boolean, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error('timed out waiting for a delivery');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop() {
    this.server.closeAllConnections();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The contract's verification: HMAC-SHA256 over "<t>.<raw body>" with the secret, hex, in `v1`. */
export function verifySignature(header: string | undefined, raw: string, secret: string): { ok: boolean; t: number } {
  const parts = Object.fromEntries((header ?? '').split(',').map((p) => p.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${raw}`).digest('hex');
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return { ok: given.length === 32 && timingSafeEqual(given, Buffer.from(expected, 'hex')), t: Number(parts.t) };
}
