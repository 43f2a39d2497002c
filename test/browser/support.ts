// Browser-test support: Debian's Chromium driven by playwright-core, pages served from a throwaway
// Node HTTP server under made-up hostnames (all mapped to 127.0.0.1 inside Chromium), and a
// `browserFetch` that runs `fetch` in a page and reports what the page could read.
//
// Chromium comes from `npm run browser:install` (scripts/install-chromium.sh); Playwright's own
// browser download does not work on these machines. Outside CI a missing Chromium skips the suite.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { WafBlockResponse } from '../../infra/constructs/waf.ts';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { startTestApi } from '../support/api.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Hostnames the tests use; Chromium resolves every one of them to 127.0.0.1. */
export const HOSTS = {
  api: 'api.keygate.test',
  shop: 'shop.example',
  shopSub: 'www.shop.example',
  evil: 'evil.example',
  // The widget's tests: a site, its subdomain and a stranger.
  mysite: 'mysite.test',
  mysiteStaging: 'staging.mysite.test',
  evilTest: 'evil.test',
} as const;

/**
 * Whether the browser suite runs: always, unless KEYGATE_SKIP_BROWSER=1 says to skip it (for a
 * machine where Chromium cannot be installed). A missing Chromium is otherwise a failure, reported
 * by the launch itself, so the browser tests can never pass by silently not running.
 */
export function browserAvailability(): { run: boolean; reason?: string } {
  if (process.env.KEYGATE_SKIP_BROWSER !== '1') return { run: true };
  const reason = 'browser tests skipped: KEYGATE_SKIP_BROWSER=1';
  console.warn(reason);
  return { run: false, reason };
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`No Chromium at ${CHROMIUM_PATH}: run \`npm run browser:install\` (or set KEYGATE_SKIP_BROWSER=1 to skip the browser tests)`);
  }
  const hostResolverRules = Object.values(HOSTS)
    .map((host) => `MAP ${host} 127.0.0.1`)
    .join(', ');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=${hostResolverRules}`,
    ],
  });
}

/** A response the page server sends instead of its blank page. */
export interface PageResponse {
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * Serves the same blank HTML page at every path, on 127.0.0.1; reachable as any mapped host.
 * `pages` may answer some requests itself (a page with a widget, its stylesheet, ...).
 */
export interface PageServer {
  port: number;
  /** `http://<host>:<port>` for a hostname Chromium maps to 127.0.0.1 (or `localhost`). */
  origin(host: string): string;
  close(): Promise<void>;
}

export async function startPageServer(pages?: (url: URL) => PageResponse | undefined): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    const page = pages?.(new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`));
    if (page) {
      res.writeHead(200, {
        'Content-Type': page.contentType ?? 'text/html; charset=utf-8',
        'Content-Length': Buffer.byteLength(page.body),
        ...page.headers,
      });
      res.end(page.body);
      return;
    }
    const body = `<!doctype html><html><head><meta charset="utf-8"><title>${req.headers.host ?? ''}</title></head><body>test page</body></html>`;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: (host) => `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A stand-in for WAF (which cannot run here) under the API's hostname: it answers every request,
 * preflights included, with the web ACL's custom response that `answerFor` picks.
 */
export interface WafStandIn {
  /** `http://api.keygate.test:<its port>`. */
  url: string;
  close(): Promise<void>;
}

export async function startWafStandIn(answerFor: (method: string | undefined, bodyBytes: number) => WafBlockResponse): Promise<WafStandIn> {
  const server = createServer((req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    req.on('end', () => {
      const answer = answerFor(req.method, size);
      const body = answer.body ? JSON.stringify(answer.body) : '';
      res.writeHead(answer.status, { ...answer.headers, ...(body ? { 'Content-Type': 'application/json' } : {}) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://${HOSTS.api}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `http://api.keygate.test:<port>`: the local API under a hostname of its own, so pages call it cross-origin. */
export function apiOriginFor(localUrl: string): string {
  return `http://${HOSTS.api}:${new URL(localUrl).port}`;
}

/** What a browser test file runs against: the local API, the server of its test pages and a browser. */
export interface BrowserStage<Site extends string> {
  keygate: LocalKeygate;
  /** The API as pages see it: http://api.keygate.test:<port>. */
  api: string;
  pages: PageServer;
  /** The origin of each of the file's sites, e.g. `origins.shop` is http://shop.example:<pagePort>. */
  origins: Record<Site, string>;
  browser: BrowserSession;
}

/**
 * Starts the stage before the file's tests (unless the browser suite is skipped) and stops it after
 * them; the returned object (and its `origins`) is filled in by then. `hosts` names the file's sites
 * (`{ shop: HOSTS.shop }`); `sitePages` answers its own pages.
 */
export function browserStage<Site extends string>(
  hosts: Record<Site, string>,
  sitePages?: (url: URL) => PageResponse | undefined,
): BrowserStage<Site> {
  const stage = { origins: {} } as BrowserStage<Site>;
  beforeAll(async () => {
    if (!browserAvailability().run) return;
    stage.keygate = await startTestApi();
    stage.api = apiOriginFor(stage.keygate.url);
    stage.pages = await startPageServer(sitePages);
    for (const [site, host] of Object.entries(hosts) as [Site, string][]) stage.origins[site] = stage.pages.origin(host);
    stage.browser = await BrowserSession.start();
  });
  afterAll(async () => {
    await stage.browser?.close();
    await stage.pages?.close();
    await stage.keygate?.stop();
  });
  return stage;
}

/** One browser context per test file; pages opened on it are closed with it. */
export class BrowserSession {
  readonly browser: Browser;
  readonly context: BrowserContext;

  private constructor(browser: Browser, context: BrowserContext) {
    this.browser = browser;
    this.context = context;
  }

  static async start(): Promise<BrowserSession> {
    const browser = await launchBrowser();
    try {
      return new BrowserSession(browser, await browser.newContext());
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  /** A page whose document is served from `origin` (e.g. `http://shop.example:1234`). */
  async openPage(origin: string): Promise<Page> {
    const page = await this.context.newPage();
    const response = await page.goto(`${origin}/`);
    if (!response?.ok()) throw new Error(`could not load ${origin}/: ${response?.status()}`);
    const actual = await page.evaluate(() => (globalThis as unknown as { location: { origin: string } }).location.origin);
    if (actual !== origin) throw new Error(`page loaded from ${actual}, expected ${origin}`);
    return page;
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
    await this.browser.close();
  }
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** What a page's `fetch` gave it: a readable response, or the TypeError a CORS refusal raises. */
export type BrowserFetchResult =
  | {
      blocked: false;
      ok: boolean;
      status: number;
      /** Parsed JSON when the body is JSON, otherwise the text. */
      body: any;
      text: string;
      /** The headers the page can read (CORS-safelisted plus Access-Control-Expose-Headers). */
      headers: Record<string, string>;
    }
  | {
      blocked: true;
      /** `TypeError` for a CORS refusal (or a network failure). */
      errorName: string;
      errorMessage: string;
      /** Chromium's console explanation, when it gave one ("... has been blocked by CORS policy: ..."). */
      corsMessage?: string;
    };

/**
 * `fetch(url, init)` in the page's context, as the page's own script would call it. The whole body
 * is read, so a `text/event-stream` reply (chat session messages) comes back as all of its events
 * once the stream has completed.
 */
export async function browserFetch(page: Page, url: string, init: FetchInit = {}): Promise<BrowserFetchResult> {
  const consoleErrors: string[] = [];
  const onConsole = (message: { type(): string; text(): string }) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  };
  page.on('console', onConsole);
  try {
    const result = await page.evaluate(
      async ({ url, init }) => {
        try {
          const res = await fetch(url, init);
          const text = await res.text();
          const headers: Record<string, string> = {};
          res.headers.forEach((value, name) => {
            headers[name] = value;
          });
          return { blocked: false as const, ok: res.ok, status: res.status, text, headers };
        } catch (error) {
          const e = error as Error;
          return { blocked: true as const, errorName: e?.name ?? String(error), errorMessage: e?.message ?? String(error) };
        }
      },
      { url, init },
    );
    if (!result.blocked) {
      let body: unknown = result.text;
      try {
        body = result.text ? JSON.parse(result.text) : undefined;
      } catch {
        body = result.text;
      }
      return { ...result, body };
    }
    // Chromium logs the CORS reason to the console a moment after the promise rejects.
    const deadline = Date.now() + 2_000;
    let corsMessage = consoleErrors.find((m) => m.includes('CORS policy'));
    while (!corsMessage && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      corsMessage = consoleErrors.find((m) => m.includes('CORS policy'));
    }
    return { ...result, ...(corsMessage ? { corsMessage } : {}) };
  } finally {
    page.off('console', onConsole);
  }
}
