// The local server answers only loopback Host names (any port), so a web page cannot reach it
// through DNS rebinding (a name of the attacker's that resolves to 127.0.0.1) and mint tokens.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { isAllowedHost } from '../../infra/local/server.ts';
import { startTestApi } from '../support/api.ts';

let keygate: LocalKeygate;

beforeAll(async () => {
  keygate = await startTestApi();
});

afterAll(async () => {
  await keygate?.stop();
});

/** A request to the server with this exact Host header (fetch would not let a test set it). */
function send(method: string, path: string, host: string, body?: string): Promise<{ status: number; text: string }> {
  const url = new URL(keygate.url.replace('localhost', '127.0.0.1'));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { Host: host, ...(body ? { 'Content-Type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('Host header', () => {
  it('refuses a foreign Host, on the dev token route and elsewhere', async () => {
    const port = new URL(keygate.url).port;
    const minted = await send('POST', '/_dev/token', `rebind.attacker.example:${port}`, JSON.stringify({ sub: 'victim', groups: ['operators'] }));
    expect(minted.status).toBe(403);
    expect(minted.text).not.toContain('token');
    expect((await send('GET', '/openapi.json', 'attacker.example')).status).toBe(403);
    expect((await send('GET', '/', `localhost.attacker.example:${port}`)).status).toBe(403);
  });

  it('answers localhost, 127.0.0.1 and [::1] on any port', async () => {
    const port = new URL(keygate.url).port;
    for (const host of [`localhost:${port}`, 'localhost', `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST:1']) {
      const res = await send('POST', '/_dev/token', host, JSON.stringify({ sub: 'host-check' }));
      expect(res.status, host).toBe(200);
    }
  });
});

describe('isAllowedHost', () => {
  it('allows loopback names and configured hosts only', () => {
    expect(isAllowedHost('localhost:3000')).toBe(true);
    expect(isAllowedHost('[::1]')).toBe(true);
    expect(isAllowedHost(undefined)).toBe(false);
    expect(isAllowedHost('')).toBe(false);
    expect(isAllowedHost('127.0.0.2:3000')).toBe(false);
    expect(isAllowedHost('[::2]:3000')).toBe(false);
    expect(isAllowedHost('localhost.evil.example')).toBe(false);
    expect(isAllowedHost('dev.example.test:8080', ['dev.example.test'])).toBe(true);
    expect(isAllowedHost('other.example.test', ['dev.example.test'])).toBe(false);
  });
});
