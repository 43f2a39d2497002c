// CORS in a real browser (docs/api.md "Allowed domains (publishable keys)", "Errors" and "CORS on public and session routes"): Debian's Chromium
// loads pages from made-up origins (shop.example, www.shop.example, evil.example, localhost) and
// calls the local API, served as api.keygate.test, with fetch. What a page can read is what a
// widget on that site could read; a CORS refusal is the TypeError fetch rejects with.
// Each refusal is checked from Node too, to show the server did answer and what it answered.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { WAF_BLOCK_RESPONSES } from '../../infra/constructs/waf.ts';
import { MAX_BODY_BYTES } from '../../shared/domain/errors.ts';
import { ApiClient, portalUser, uniqueUser } from '../support/api.ts';
import {
  browserAvailability,
  browserFetch,
  browserStage,
  HOSTS,
  startWafStandIn,
  type BrowserFetchResult,
  type FetchInit,
  type WafStandIn,
} from './support.ts';

const availability = browserAvailability();

const INVALID_API_KEY = { error: 'unauthorized', message: 'Invalid or missing API key', code: 'INVALID_API_KEY' };

const stage = browserStage({ shop: HOSTS.shop, shopSub: HOSTS.shopSub, evil: HOSTS.evil, localhost: 'localhost' });
/** Origins of the test pages: `origins.shop` is http://shop.example:<pagePort>, and so on. */
const { origins } = stage;
let owner: ApiClient;
let orgId: string;
/** Publishable key allowed for shop.example, and a secret key, of the same organization. */
let pk: { id: string; key: string };
let sk: { id: string; key: string };


beforeAll(async () => {
  if (!availability.run) return;
  owner = await portalUser(stage.keygate.url, uniqueUser('browser-owner'));
  const org = await owner.post('/v1/organizations', { name: 'Browser Shop' });
  expect(org.status, org.text).toBe(201);
  orgId = org.body.id;
  // The pro plan, so that the per-minute limit never interferes with these requests.
  const operator = await portalUser(stage.keygate.url, uniqueUser('browser-operator'), ['operators']);
  const plan = await operator.patch(`/v1/organizations/${orgId}`, { plan: 'pro' });
  expect(plan.status, plan.text).toBe(200);
  pk = await createKey({ name: 'shop widget', type: 'publishable', allowedDomains: ['shop.example'] });
  sk = await createKey({ name: 'shop backend', type: 'secret' });
});

async function createKey(body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await owner.post(`/v1/organizations/${orgId}/api-keys`, body);
  expect(res.status, res.text).toBe(201);
  return { id: res.body.id, key: res.body.key };
}

/** A page served from `origin`, e.g. `origins.shop`; close it when done. */
function openPage(origin: string): Promise<Page> {
  return stage.browser.openPage(origin);
}

/** Open a page on `origin`, fetch an API path from it, close the page. */
async function fetchFrom(origin: string, path: string, init: FetchInit = {}): Promise<BrowserFetchResult> {
  const page = await openPage(origin);
  try {
    return await browserFetch(page, stage.api + path, init);
  } finally {
    await page.close();
  }
}

/** POST /v1/chat/sessions with the shop's publishable key, from a page on `origin`. */
const createSessionFrom = (origin: string) =>
  fetchFrom(origin, '/v1/chat/sessions', { method: 'POST', headers: { 'X-API-Key': pk.key, 'Content-Type': 'application/json' }, body: '{}' });

/** The same request from Node, where nothing hides the response: what the server really sent. */
function fromNode(origin: string, headers: Record<string, string>) {
  return new ApiClient(stage.keygate.url, { Origin: origin, ...headers });
}

function expectReadable(result: BrowserFetchResult, status: number): asserts result is Extract<BrowserFetchResult, { blocked: false }> {
  expect(result, JSON.stringify(result)).toMatchObject({ blocked: false, status });
}

/** fetch rejected with a TypeError, and Chromium says it was CORS (not, say, a connection failure). */
function expectBlocked(result: BrowserFetchResult): void {
  expect(result, JSON.stringify(result)).toMatchObject({
    blocked: true,
    errorName: 'TypeError',
    corsMessage: expect.stringContaining("No 'Access-Control-Allow-Origin' header is present"),
  });
}

describe.skipIf(!availability.run)('CORS in a real browser', () => {
  describe('preflight (no key needed)', () => {
    it('OPTIONS /v1/auth/whoami answers 204 with the echoed origin, methods, headers and max-age', async () => {
      const res = await new ApiClient(stage.keygate.url).call('OPTIONS', '/v1/auth/whoami', undefined, {
        Origin: origins.shop,
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'x-api-key',
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origins.shop);
      const methods = new Set((res.headers.get('access-control-allow-methods') ?? '').split(',').map((m) => m.trim()));
      expect([...methods].sort()).toEqual(['GET', 'OPTIONS']);
      const allowHeaders = (res.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
      expect(allowHeaders).toEqual(expect.arrayContaining(['content-type', 'x-api-key', 'authorization']));
      expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
      expect(res.headers.get('vary')).toMatch(/\bOrigin\b/i);
    });
  });

  describe('publishable key from an allowed origin: the page reads the response', () => {
    it('shop.example (X-API-Key, which needs a preflight)', async () => {
      const result = await fetchFrom(origins.shop, '/v1/auth/whoami', { headers: { 'X-API-Key': pk.key } });
      expectReadable(result, 200);
      expect(result.body).toMatchObject({ keyId: pk.id, organizationId: orgId, type: 'publishable', scopes: ['chat'] });

      const server = await fromNode(origins.shop, { 'X-API-Key': pk.key }).get('/v1/auth/whoami');
      expect(server.status, server.text).toBe(200);
      expect(server.headers.get('access-control-allow-origin')).toBe(origins.shop);
      expect(server.headers.get('vary')).toMatch(/\bOrigin\b/i);
    });

    it('shop.example with Authorization: Bearer', async () => {
      const result = await fetchFrom(origins.shop, '/v1/auth/whoami', { headers: { Authorization: `Bearer ${pk.key}` } });
      expectReadable(result, 200);
      expect(result.body).toMatchObject({ keyId: pk.id, type: 'publishable' });
    });

    it('www.shop.example (a subdomain of an allowed domain)', async () => {
      const result = await fetchFrom(origins.shopSub, '/v1/auth/whoami', { headers: { 'X-API-Key': pk.key } });
      expectReadable(result, 200);
      expect(result.body).toMatchObject({ keyId: pk.id, type: 'publishable' });
    });

    it('localhost (always allowed, any port)', async () => {
      const result = await fetchFrom(origins.localhost, '/v1/auth/whoami', { headers: { 'X-API-Key': pk.key } });
      expectReadable(result, 200);
      expect(result.body).toMatchObject({ keyId: pk.id, type: 'publishable' });
    });
  });

  describe('what a page must not read', () => {
    it('shop.example with the secret key: the request succeeds but the page cannot read it', async () => {
      const result = await fetchFrom(origins.shop, '/v1/auth/whoami', { headers: { 'X-API-Key': sk.key } });
      expectBlocked(result);

      const server = await fromNode(origins.shop, { 'X-API-Key': sk.key }).get('/v1/auth/whoami');
      expect(server.status, server.text).toBe(200);
      expect(server.body).toMatchObject({ keyId: sk.id, type: 'secret' });
      expect(server.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('a refused origin can read its 403 (and so tell its developer which origin to add)', () => {
    it('evil.example: the publishable key is refused and the page reads the code and message', async () => {
      const result = await fetchFrom(origins.evil, '/v1/auth/whoami', { headers: { 'X-API-Key': pk.key } });
      expectReadable(result, 403);
      expect(result.body).toEqual({ error: 'forbidden', message: 'Origin is not allowed for this API key', code: 'CORS_ORIGIN_NOT_ALLOWED' });

      const server = await fromNode(origins.evil, { 'X-API-Key': pk.key }).get('/v1/auth/whoami');
      expect(server.status, server.text).toBe(403);
      expect(server.headers.get('access-control-allow-origin')).toBe(origins.evil);
      expect(server.headers.get('vary')).toMatch(/\bOrigin\b/i);
    });

    it('a foreign page trying to create a session reads the same 403 (no session)', async () => {
      const result = await createSessionFrom(origins.evil);
      expectReadable(result, 403);
      expect(result.body).toEqual({ error: 'forbidden', message: 'Origin is not allowed for this API key', code: 'CORS_ORIGIN_NOT_ALLOWED' });
    });
  });

  describe('a session token used from another origin', () => {
    const REFUSED = { error: 'forbidden', message: 'Origin is not allowed for this API key', code: 'CORS_ORIGIN_NOT_ALLOWED' };

    it('the page on evil.example reads the 403 code and message; the session is unharmed for its own origin', async () => {
      // A session a widget on shop.example created; its token then used by a page elsewhere.
      const created = await fromNode(origins.shop, { 'X-API-Key': pk.key }).post('/v1/chat/sessions', {});
      expect(created.status, created.text).toBe(201);
      const { sessionId, token } = created.body as { sessionId: string; token: string };
      const auth = { Authorization: `Bearer ${token}` };

      const history = await fetchFrom(origins.evil, `/v1/chat/sessions/${sessionId}/messages`, { headers: auth });
      expectReadable(history, 403);
      expect(history.body).toEqual(REFUSED);
      const message = await fetchFrom(origins.evil, `/v1/chat/sessions/${sessionId}/messages`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ content: 'from a stolen token' }),
      });
      expectReadable(message, 403);
      expect(message.body).toEqual(REFUSED);

      const server = await fromNode(origins.evil, auth).get(`/v1/chat/sessions/${sessionId}/messages`);
      expect(server.status).toBe(403);
      expect(server.headers.get('access-control-allow-origin')).toBe(origins.evil);
      expect(server.headers.get('vary')).toMatch(/\bOrigin\b/i);

      // The check did not weaken: the refusals stored nothing, and the session's own origin still works.
      const own = await fetchFrom(origins.shop, `/v1/chat/sessions/${sessionId}/messages`, { headers: auth });
      expectReadable(own, 200);
      expect(own.body.items).toEqual([]);
    });
  });

  describe('Idempotency-Key replays: the page can tell a replay from a new reply', () => {
    it('one-shot message: the retry is marked Idempotent-Replayed: true, readable by the page', async () => {
      const init = {
        method: 'POST',
        headers: { 'X-API-Key': pk.key, 'Content-Type': 'application/json', 'Idempotency-Key': `order-${Date.now()}` },
        body: JSON.stringify({ message: 'Where is my order?' }),
      };
      const first = await fetchFrom(origins.shop, '/v1/chat/message', init);
      expectReadable(first, 200);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      // The page reads the other exposed headers too, as it always could.
      expect(first.headers['x-ratelimit-remaining']).toMatch(/^\d+$/);
      const retry = await fetchFrom(origins.shop, '/v1/chat/message', init);
      expectReadable(retry, 200);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.body).toEqual(first.body);
    });

    it('session message: the replayed stream is marked too', async () => {
      const created = await createSessionFrom(origins.shop);
      expectReadable(created, 201);
      const init = {
        method: 'POST',
        headers: { Authorization: `Bearer ${created.body.token}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'turn-1' },
        body: JSON.stringify({ content: 'Hello once' }),
      };
      const path = `/v1/chat/sessions/${created.body.sessionId}/messages`;
      const first = await fetchFrom(origins.shop, path, init);
      expectReadable(first, 200);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const retry = await fetchFrom(origins.shop, path, init);
      expectReadable(retry, 200);
      expect(retry.headers['content-type']).toContain('text/event-stream');
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.text).toContain('event: message.completed');
    });
  });

  describe('errors an allowed page can read', () => {
    it('401 INVALID_API_KEY for a key that is not one', async () => {
      const bogus = `pk_${'A'.repeat(32)}000000`;
      const result = await fetchFrom(origins.shop, '/v1/auth/whoami', { headers: { 'X-API-Key': bogus } });
      expectReadable(result, 401);
      expect(result.body).toEqual(INVALID_API_KEY);
    });

    it('401 API_KEY_DISABLED for a disabled publishable key', async () => {
      const disabled = await createKey({ name: 'paused widget', type: 'publishable', allowedDomains: ['shop.example'] });
      const patched = await owner.patch(`/v1/organizations/${orgId}/api-keys/${disabled.id}`, { status: 'disabled' });
      expect(patched.status, patched.text).toBe(200);

      const result = await fetchFrom(origins.shop, '/v1/auth/whoami', { headers: { 'X-API-Key': disabled.key } });
      expectReadable(result, 401);
      expect(result.body).toMatchObject({ error: 'unauthorized', code: 'API_KEY_DISABLED' });
    });
  });
  describe('a widget holding only a publishable key', () => {
    it('creates a chat session and streams a reply, reading deltas before the reply completes', async () => {
      const page = await openPage(origins.shop);
      try {
        const run = await page.evaluate(
          async ({ api, key }) => {
            const created = await fetch(`${api}/v1/chat/sessions`, {
              method: 'POST',
              headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
              body: JSON.stringify({ metadata: { page: 'checkout' } }),
            });
            const session = (await created.json()) as { sessionId: string; token: string; type: string };
            const started = performance.now();
            const res = await fetch(`${api}/v1/chat/sessions/${session.sessionId}/messages`, {
              method: 'POST',
              headers: { Authorization: `Bearer ${session.token}`, 'Content-Type': 'application/json' },
              body: JSON.stringify({ content: 'Hello from the shop widget, tell me something' }),
            });
            const reader = res.body!.getReader();
            const decoder = new TextDecoder();
            const chunks: { at: number; text: string }[] = [];
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              chunks.push({ at: performance.now() - started, text: decoder.decode(value, { stream: true }) });
            }
            return {
              createStatus: created.status,
              sessionType: session.type,
              status: res.status,
              contentType: res.headers.get('content-type'),
              chunks,
              endedAt: performance.now() - started,
            };
          },
          { api: stage.api, key: pk.key },
        );
        expect(run.createStatus).toBe(201);
        expect(run.sessionType).toBe('chat');
        expect(run.status).toBe(200);
        expect(run.contentType).toContain('text/event-stream');

        const events: (EventSourceMessage & { at: number })[] = [];
        let at = 0;
        const parser = createParser({ onEvent: (event) => events.push({ ...event, at }) });
        for (const chunk of run.chunks) {
          at = chunk.at;
          parser.feed(chunk.text);
        }
        const deltas = events.filter((e) => e.event === 'message.delta');
        const completed = events.find((e) => e.event === 'message.completed');
        expect(deltas.length).toBeGreaterThan(1);
        expect(completed).toBeDefined();
        const final = JSON.parse(completed!.data);
        expect(final.content).toBe(deltas.map((d) => JSON.parse(d.data).content).join(''));
        expect(final.usage).toEqual({ credits: 1 });
        // The page saw the first delta well before the reply was complete: it streamed.
        expect(completed!.at - deltas[0]!.at).toBeGreaterThan(20);
      } finally {
        await page.close();
      }
    });
  });
});

// WAF cannot run here. What it would send is the web ACL's custom responses, WAF_BLOCK_RESPONSES
// (test/infra/operations.test.ts checks the template holds exactly these): a stand-in serves them
// as WAF would for an address over its limits, preflights included, and a page reads them.
describe.skipIf(!availability.run)('WAF answers in a real browser', () => {
  let waf: WafStandIn;

  beforeAll(async () => {
    waf = await startWafStandIn((method, bodyBytes) =>
      method === 'OPTIONS'
        ? WAF_BLOCK_RESPONSES.preflight
        : bodyBytes > MAX_BODY_BYTES
          ? WAF_BLOCK_RESPONSES.payloadTooLarge
          : WAF_BLOCK_RESPONSES.rateLimited,
    );
  });

  afterAll(async () => {
    await waf?.close();
  });

  async function fetchWaf(origin: string, path: string, init: FetchInit): Promise<BrowserFetchResult> {
    const page = await openPage(origin);
    try {
      return await browserFetch(page, waf.url + path, init);
    } finally {
      await page.close();
    }
  }

  it('429 RATE_LIMIT_EXCEEDED: the page reads the code, the wait and Retry-After (preflight blocked too)', async () => {
    const result = await fetchWaf(origins.shop, '/v1/chat/message', {
      method: 'POST',
      headers: { 'X-API-Key': pk.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'hello' }),
    });
    expectReadable(result, 429);
    expect(result.body).toEqual({
      error: 'rate_limit_exceeded',
      message: 'Rate limit exceeded. Try again in 60 seconds.',
      code: 'RATE_LIMIT_EXCEEDED',
      retry_after: 60,
    });
    expect(result.headers['retry-after']).toBe('60');
  });

  it('413 PAYLOAD_TOO_LARGE: the page reads the code and message', async () => {
    const result = await fetchWaf(origins.evil, '/v1/chat/message', {
      method: 'POST',
      headers: { Authorization: `Bearer ${pk.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'x'.repeat(MAX_BODY_BYTES) }),
    });
    expectReadable(result, 413);
    expect(result.body).toEqual({ error: 'payload_too_large', message: 'Request body exceeds 64 KiB', code: 'PAYLOAD_TOO_LARGE' });
  });
});
