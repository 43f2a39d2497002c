// The official `openai` package in Chromium (docs/openai.md "In a browser"): a page on an allowed
// domain uses a publishable key with the completions scope through the SDK, with
// `dangerouslyAllowBrowser`, for a reply, a stream with usage and the models list; a page on another
// domain gets the SDK's PermissionDeniedError, readable; an address over the firewall's limit gets
// RateLimitError through the firewall's own preflight. The SDK is bundled for the page with esbuild.
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WAF_BLOCK_RESPONSES } from '../../infra/constructs/waf.ts';
import { portalUser, uniqueUser } from '../support/api.ts';
import { browserAvailability, browserStage, HOSTS, startWafStandIn, type WafStandIn } from './support.ts';

const availability = browserAvailability();

let script: string;
const stage = browserStage({ shop: HOSTS.shop, evil: HOSTS.evil }, (url) => (url.pathname === '/openai.js' ? { body: script, contentType: 'text/javascript' } : undefined));
let key: string;

beforeAll(async () => {
  if (!availability.run) return;
  const sdk = await build({
    stdin: { contents: "import OpenAI from 'openai'; globalThis.OpenAI = OpenAI;", resolveDir: process.cwd() },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  script = sdk.outputFiles[0]!.text;
  const owner = await portalUser(stage.keygate.url, uniqueUser('sdk-owner'));
  const org = await owner.post('/v1/organizations', { name: 'Browser SDK Shop' });
  expect(org.status, org.text).toBe(201);
  const created = await owner.post(`/v1/organizations/${org.body.id}/api-keys`, {
    name: 'shop page', type: 'publishable', allowedDomains: ['shop.example'], scopes: ['chat', 'completions'],
  });
  expect(created.status, created.text).toBe(201);
  key = created.body.key;
});

/** Runs the SDK in a page served from `origin`; returns what the page's script could see. */
async function inPage(origin: string): Promise<any> {
  const page = await stage.browser.openPage(origin);
  await page.addScriptTag({ url: `${origin}/openai.js` });
  return page.evaluate(
    async ({ api, key }) => {
      const OpenAI = (globalThis as any).OpenAI;
      const client = new OpenAI({ apiKey: key, baseURL: `${api}/v1`, dangerouslyAllowBrowser: true, maxRetries: 0 });
      try {
        const models = [];
        for await (const model of client.models.list()) models.push(model.id);
        const completion = await client.chat.completions.create({ model: models[0], messages: [{ role: 'user', content: 'from the page' }] });
        const stream = await client.chat.completions.create({
          model: models[0],
          messages: [{ role: 'user', content: 'streamed in the page' }],
          stream: true,
          stream_options: { include_usage: true },
        });
        let text = '';
        let usage = null;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta?.content ?? '';
          if (chunk.usage) usage = chunk.usage;
        }
        const { response } = await client.chat.completions
          .create({ model: models[0], messages: [{ role: 'user', content: 'headers' }] })
          .withResponse();
        return {
          models,
          reply: completion.choices[0].message.content,
          text,
          usage,
          remaining: response.headers.get('x-ratelimit-remaining-requests'),
        };
      } catch (error: any) {
        return { error: { name: error?.constructor?.name, status: error?.status, code: error?.code, message: error?.message } };
      }
    },
    { api: stage.api, key },
  );
}

describe.skipIf(!availability.run)('the openai SDK in Chromium with a publishable key', () => {
  it('works from an allowed origin: models, a reply, a stream with usage, the rate-limit headers', async () => {
    const result = await inPage(stage.origins.shop);
    expect(result.error).toBeUndefined();
    expect(result.models).toEqual(['Default']);
    expect(result.reply).toContain('You said: from the page');
    expect(result.text).toBe('You said: streamed in the page (turn 1). This reply comes from the Keygate local backend.');
    expect(result.usage.total_tokens).toBeGreaterThan(0);
    expect(Number(result.remaining)).toBeGreaterThan(0);
  });

  it('another website gets PermissionDeniedError (403 CORS_ORIGIN_NOT_ALLOWED), which its script can read', async () => {
    const result = await inPage(stage.origins.evil);
    expect(result.error).toMatchObject({ name: 'PermissionDeniedError', status: 403, code: 'CORS_ORIGIN_NOT_ALLOWED' });
  });
});

// WAF cannot run here: a stand-in answers as the web ACL does for an address over its limit
// (WAF_BLOCK_RESPONSES, which test/infra/operations.test.ts checks the template holds), its own
// preflight included. That preflight cannot echo the headers asked for, and the SDK sends its own
// (x-stainless-*): unless it allows them, the browser never sends the request and the SDK sees a
// connection error instead of the 429.
describe.skipIf(!availability.run)('the openai SDK in Chromium, from an address over the firewall\'s limit', () => {
  let waf: WafStandIn;

  beforeAll(async () => {
    waf = await startWafStandIn((method) => (method === 'OPTIONS' ? WAF_BLOCK_RESPONSES.preflight : WAF_BLOCK_RESPONSES.rateLimited));
  });

  afterAll(async () => {
    await waf?.close();
  });

  it('reads RateLimitError (429 RATE_LIMIT_EXCEEDED, Retry-After), not a connection error', async () => {
    const page = await stage.browser.openPage(stage.origins.shop);
    try {
      await page.addScriptTag({ url: `${stage.origins.shop}/openai.js` });
      const result = await page.evaluate(
        async ({ api, key }) => {
          const OpenAI = (globalThis as any).OpenAI;
          const client = new OpenAI({ apiKey: key, baseURL: `${api}/v1`, dangerouslyAllowBrowser: true, maxRetries: 0 });
          try {
            await client.chat.completions.create({ model: 'Default', messages: [{ role: 'user', content: 'hi' }] });
            return { error: null };
          } catch (error: any) {
            return { error: { name: error?.constructor?.name, status: error?.status, retryAfter: error?.headers?.get?.('retry-after') ?? null } };
          }
        },
        { api: waf.url, key },
      );
      expect(result.error).toEqual({ name: 'RateLimitError', status: 429, retryAfter: '60' });
    } finally {
      await page.close();
    }
  });
});
