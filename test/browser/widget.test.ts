// The chat widget in a real browser from real origins (docs/api.md "Keys", "Routes", "Errors" and "Chat widget").
// Debian's Chromium maps mysite.test, staging.mysite.test and evil.test to 127.0.0.1; the test
// serves each page (with a strict CSP: scripts and connections only from the API's origin, no
// inline anything) and the local API serves widget.js (built by test/support/build-portal.ts), as
// `npm start` does. Every page embeds the
// widget with the snippet a website would paste, and the tests work it by roles and names.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { ApiClient, portalUser, uniqueUser } from '../support/api.ts';
import { browserAvailability, browserStage, HOSTS, type PageResponse } from './support.ts';

// In-page code below runs in Chromium, where these exist.
declare const document: any;
declare const window: any;
declare const getComputedStyle: any;

const availability = browserAvailability();

let owner: ApiClient;
let operator: ApiClient;
let orgId: string;
/** A widget key of mysite.test (so also staging.mysite.test), on the pro plan. */
let siteKey: string;


/** The local backend's reply (README, "Backends"): a template around the visitor's words. */
function localReply(message: string, turn: number): string {
  return `You said: ${message} (turn ${turn}). This reply comes from the Keygate local backend.`;
}

type Theme = 'light' | 'dark' | 'hostile';

const PAGE_CSS: Record<Theme, string> = {
  light: 'body { margin: 0; padding: 2rem; background: #ffffff; color: #111111; font: 18px Georgia, serif; }',
  dark: 'body { margin: 0; padding: 2rem; background: #0a0a0a; color: #f5f5f5; font: 18px Georgia, serif; }',
  // A page whose CSS would wreck any widget it could reach.
  hostile: `
    html { font-size: 40px; color-scheme: dark; }
    :root { --kg-accent: #ff0000; --kg-surface: #00ff00; }
    * { font-family: "Comic Sans MS", cursive !important; font-size: 30px !important; color: #ff00ff !important;
        background: #00ff00 !important; padding: 30px !important; margin: 10px !important; line-height: 3 !important;
        border: 5px dashed #ff0000 !important; letter-spacing: 4px !important; text-transform: uppercase !important;
        box-sizing: content-box !important; visibility: visible !important; opacity: 0.5 !important; }
    button, textarea, [role="dialog"], [role="log"] { display: none !important; width: 500px !important; }
    keygate-chat, keygate-chat * { display: none !important; position: static !important; transform: scale(0.5) !important; }
    h2 { font-size: 60px !important; }`,
};

interface PageOptions {
  key?: string;
  theme?: Theme;
  /** Attributes added to the snippet, e.g. { 'data-title': 'Help' }. */
  attributes?: Record<string, string>;
  /** Serve the page without the widget (to compare the page's own styles). */
  withoutWidget?: boolean;
}

function escapeAttr(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
}

function pagePath(options: PageOptions): string {
  return `/page?${new URLSearchParams({ options: JSON.stringify(options) })}`;
}

/** The test site's pages: some content, its own stylesheet, and the widget's snippet. */
function sitePage(url: URL): PageResponse | undefined {
  if (url.pathname === '/page.css') {
    return { body: PAGE_CSS[(url.searchParams.get('theme') as Theme) ?? 'light'], contentType: 'text/css' };
  }
  if (url.pathname !== '/page') return undefined;
  const options = JSON.parse(url.searchParams.get('options') ?? '{}') as PageOptions;
  const theme = options.theme ?? 'light';
  const attributes = Object.entries({ 'data-key': options.key ?? siteKey, ...options.attributes })
    .map(([name, value]) => ` ${name}="${escapeAttr(value)}"`)
    .join('');
  const snippet = options.withoutWidget ? '' : `<script src="${stage.api}/widget.js"${attributes} async></script>`;
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>My site</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/page.css?theme=${theme}"></head>
<body><main><h1>My site</h1><p id="text">Welcome to the shop.</p><button id="buy" type="button">Buy now</button>
<label for="q">Search</label> <input id="q"></main>${snippet}</body></html>`;
  return {
    body,
    headers: {
      // Only the API's origin (which serves widget.js) for scripts and connections; no inline styles or eval.
      'Content-Security-Policy': `default-src 'none'; script-src ${stage.api}; connect-src ${stage.api}; style-src 'self'; img-src 'self'`,
    },
  };
}

/** The API as pages see it (`stage.api`) serves /widget.js too. */
const stage = browserStage({ mysite: HOSTS.mysite, staging: HOSTS.mysiteStaging, evil: HOSTS.evilTest, localhost: 'localhost' }, sitePage);
const { origins } = stage;

beforeAll(async () => {
  if (!availability.run) return;
  owner = await portalUser(stage.keygate.url, uniqueUser('widget-owner'));
  operator = await portalUser(stage.keygate.url, uniqueUser('widget-operator'), ['operators']);
  orgId = await createOrg('Widget Shop');
  siteKey = (await createKey(orgId, { name: 'site widget', type: 'widget', allowedDomains: ['mysite.test'] })).key;
});

/** An organization on the pro plan, so that rate limits stay out of the way unless a test sets its own. */
async function createOrg(name: string): Promise<string> {
  const org = await owner.post('/v1/organizations', { name });
  expect(org.status, org.text).toBe(201);
  const plan = await operator.patch(`/v1/organizations/${org.body.id}`, { plan: 'pro' });
  expect(plan.status, plan.text).toBe(200);
  return org.body.id;
}

async function createKey(org: string, body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await owner.post(`/v1/organizations/${org}/api-keys`, body);
  expect(res.status, res.text).toBe(201);
  return { id: res.body.id, key: res.body.key };
}

interface WidgetPage {
  page: Page;
  launcher: Locator;
  dialog: Locator;
  log: Locator;
  message: Locator;
  alert: Locator;
  /** Console errors, e.g. Content Security Policy refusals. */
  consoleErrors: string[];
}

/** A new tab (its own sessionStorage) on `origin`, showing the site page with the widget. */
async function openSite(origin: string, options: PageOptions = {}): Promise<WidgetPage> {
  const page = await stage.browser.context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  const response = await page.goto(origin + pagePath(options));
  expect(response?.status()).toBe(200);
  return widgetOn(page, consoleErrors, options.attributes?.['data-title']);
}

type SiteTest = (w: WidgetPage) => Promise<void>;

/** Runs `test` on a new tab of the site page on `origin` (openSite), closing the tab afterwards whatever happens. */
async function onSite(origin: string, ...args: [test: SiteTest] | [options: PageOptions, test: SiteTest]): Promise<void> {
  const [options, test] = args.length === 1 ? [{}, args[0]] : args;
  const w = await openSite(origin, options);
  try {
    await test(w);
  } finally {
    await w.page.close();
  }
}

function widgetOn(page: Page, consoleErrors: string[], title = 'Chat'): WidgetPage {
  const dialog = page.getByRole('dialog', { name: title });
  return {
    page,
    launcher: page.getByRole('button', { name: 'Open chat' }),
    dialog,
    log: dialog.getByRole('log'),
    message: dialog.getByRole('textbox', { name: 'Message' }),
    alert: dialog.getByRole('alert'),
    consoleErrors,
  };
}

async function openPanel(w: WidgetPage): Promise<void> {
  await w.launcher.click();
  await expect.poll(() => w.dialog.isVisible()).toBe(true);
}

async function send(w: WidgetPage, text: string): Promise<void> {
  await w.message.fill(text);
  await w.dialog.getByRole('button', { name: 'Send' }).click();
}

/** The log's messages of one side, as text (without the visually hidden speaker prefix). */
async function turns(w: WidgetPage, role: 'user' | 'assistant'): Promise<string[]> {
  return w.page.evaluate(
    (role) =>
      [...document.querySelector('keygate-chat').shadowRoot.querySelectorAll(`.message.${role}`)].map((el: any) =>
        el.textContent.replace(/^[^:]*: /, ''),
      ),
    role,
  );
}

function replies(w: WidgetPage): Promise<string[]> {
  return turns(w, 'assistant');
}

async function waitForReply(w: WidgetPage, expected: string): Promise<void> {
  await expect.poll(async () => (await replies(w)).at(-1), { timeout: 20_000 }).toBe(expected);
  await expect.poll(() => w.log.getAttribute('aria-busy')).toBe('false');
}

async function alertText(w: WidgetPage): Promise<string> {
  await w.alert.waitFor({ state: 'visible', timeout: 10_000 });
  return (await w.alert.innerText()).replace(/\s+/g, ' ');
}

/** axe's serious and critical findings, WCAG 2.2 A/AA (the widget's shadow DOM included). */
async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'])
    .analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

function cspErrors(w: WidgetPage): string[] {
  return w.consoleErrors.filter((m) => /Content Security Policy/i.test(m));
}

describe.skipIf(!availability.run)('the chat widget in a real browser', () => {
  it('on an allowed subdomain it chats: the reply streams delta by delta, the log is busy until it completes', async () => {
    await onSite(origins.staging, async (w) => {
      await openPanel(w);
      await expect.poll(() => w.message.evaluate((el) => el === el.getRootNode().activeElement)).toBe(true);
      // Record every text the reply shows, and whether the log was busy then, as the DOM changes.
      await w.page.evaluate(() => {
        const log = document.querySelector('keygate-chat').shadowRoot.querySelector('[role="log"]');
        window.seen = [];
        new window.MutationObserver(() => {
          const last = [...log.querySelectorAll('.message.assistant')].at(-1);
          if (last) window.seen.push({ text: last.textContent.replace(/^[^:]*: /, ''), busy: log.getAttribute('aria-busy') });
        }).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      const question = 'Do you ship to Norway?';
      await send(w, question);
      const expected = localReply(question, 1);
      await waitForReply(w, expected);

      const seen = (await w.page.evaluate(() => window.seen)) as { text: string; busy: string }[];
      const partials = [...new Set(seen.filter((s) => s.busy === 'true').map((s) => s.text))].filter((t) => t && t !== expected);
      expect(partials.length, JSON.stringify(seen)).toBeGreaterThanOrEqual(3);
      for (const partial of partials) expect(expected.startsWith(partial), partial).toBe(true);
      expect(seen.at(-1)).toEqual({ text: expected, busy: 'false' });
      // Busy from the first delta until completion, without a gap: assistive technology announces the reply once.
      const busyRuns = seen.map((s) => s.busy).filter((busy, i, all) => i === 0 || busy !== all[i - 1]);
      expect(busyRuns).toEqual(['true', 'false']);

      expect(await turns(w, 'user')).toEqual([question]);
      expect(cspErrors(w)).toEqual([]);

      // A reload keeps the conversation (sessionStorage + history), and the panel stays open.
      await w.page.reload();
      await expect.poll(() => w.dialog.isVisible()).toBe(true);
      await expect.poll(() => replies(w)).toEqual([expected]);
      await send(w, 'And to Iceland?');
      await waitForReply(w, localReply('And to Iceland?', 2));
      // The key is in no storage: only the session's id and token are.
      const stored = await w.page.evaluate(() => JSON.stringify({ ...window.sessionStorage, ...window.localStorage }));
      expect(stored).not.toContain(siteKey);
      expect(stored).toContain('sessionId');
    });
  });

  it('works with the keyboard alone: focus is visible, Escape closes and gives focus back to the launcher', async () => {
    await onSite(origins.mysite, { attributes: { 'data-title': 'Help desk' } }, async (w) => {
      await w.launcher.waitFor();
      // Tab past the page's own controls to the launcher (the widget is the last thing on the page).
      for (let i = 0; i < 10 && !(await w.launcher.evaluate((el) => el === el.getRootNode().activeElement)); i++) {
        await w.page.keyboard.press('Tab');
      }
      expect(await w.launcher.evaluate((el) => el === el.getRootNode().activeElement)).toBe(true);
      expect(await w.launcher.evaluate((el) => getComputedStyle(el).outlineStyle)).not.toBe('none');

      await w.page.keyboard.press('Enter');
      await expect.poll(() => w.dialog.isVisible()).toBe(true);
      await expect.poll(() => w.message.evaluate((el) => el === el.getRootNode().activeElement)).toBe(true);
      expect(await w.message.evaluate((el) => getComputedStyle(el).outlineStyle)).not.toBe('none');
      await w.page.keyboard.type('Hello by keyboard');
      await w.page.keyboard.press('Enter');
      await waitForReply(w, localReply('Hello by keyboard', 1));

      // Every control of the panel is reachable with Tab, each with a visible focus indicator.
      const reached: string[] = [];
      for (let i = 0; i < 6; i++) {
        await w.page.keyboard.press('Shift+Tab');
        const focused = await w.page.evaluate(() => {
          const el = document.querySelector('keygate-chat').shadowRoot.activeElement;
          return el ? { name: el.getAttribute('aria-label') ?? el.textContent.trim(), outline: getComputedStyle(el).outlineStyle } : null;
        });
        if (!focused) break;
        expect(focused.outline, focused.name).not.toBe('none');
        reached.push(focused.name);
      }
      expect(reached).toEqual(expect.arrayContaining(['Conversation', 'Close chat']));
      // Past the panel's first control focus went back to the page; Tab comes back into the panel.
      await w.page.keyboard.press('Tab');
      expect(await w.dialog.getByRole('button', { name: 'Close chat' }).evaluate((el) => el === el.getRootNode().activeElement)).toBe(true);

      await w.page.keyboard.press('Escape');
      await expect.poll(() => w.dialog.isVisible()).toBe(false);
      expect(await w.launcher.evaluate((el) => el === el.getRootNode().activeElement)).toBe(true);
    });
  });

  it('on localhost it works whatever the key allows: the demo page, key pasted into its form', async () => {
    const key = await createKey(orgId, { name: 'other site', type: 'widget', allowedDomains: ['elsewhere.example'] });
    const page = await stage.browser.context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    try {
      // The local API serves the demo page (under its own strict CSP) at http://localhost:<port>.
      await page.goto(`${stage.keygate.url}/widget-demo.html`);
      await page.getByRole('textbox', { name: 'Publishable key' }).fill(key.key);
      await page.getByRole('button', { name: 'Load the widget' }).click();
      const w = widgetOn(page, consoleErrors);
      await openPanel(w);
      await send(w, 'Hi from localhost');
      await waitForReply(w, localReply('Hi from localhost', 1));
      expect(cspErrors(w)).toEqual([]);
      expect(await page.evaluate(() => JSON.stringify({ ...window.sessionStorage, ...window.localStorage }))).not.toContain(key.key);
    } finally {
      await page.close();
    }
  });

  it('revoking the key ends the open conversation on its next message; a new one is refused with the key', async () => {
    const key = await createKey(orgId, { name: 'to revoke', type: 'widget', allowedDomains: ['mysite.test'] });
    await onSite(origins.mysite, { key: key.key }, async (w) => {
      await openPanel(w);
      await send(w, 'First question');
      await waitForReply(w, localReply('First question', 1));

      const revoked = await owner.delete(`/v1/organizations/${orgId}/api-keys/${key.id}`);
      expect(revoked.status, revoked.text).toBe(204);

      await send(w, 'Second question');
      expect(await alertText(w)).toContain('This conversation has ended.');
      await w.alert.getByRole('button', { name: 'Start a new conversation' }).click();
      expect(await replies(w)).toEqual([]);
      await send(w, 'Third question');
      expect(await alertText(w)).toContain("This chat's key is not valid");
      expect(await alertText(w)).toContain('Invalid or missing API key');
    });
  });

  it('a disabled key and a key that is not one get their own message', async () => {
    const disabled = await createKey(orgId, { name: 'paused', type: 'widget', allowedDomains: ['mysite.test'] });
    const patched = await owner.patch(`/v1/organizations/${orgId}/api-keys/${disabled.id}`, { status: 'disabled' });
    expect(patched.status, patched.text).toBe(200);
    for (const [key, text] of [
      [disabled.key, 'This chat is switched off for now: its key is disabled.'],
      [`pk_${'A'.repeat(32)}000000`, "This chat's key is not valid"],
    ] as const) {
      await onSite(origins.mysite, { key }, async (w) => {
        await openPanel(w);
        await send(w, 'Hello?');
        expect(await alertText(w)).toContain(text);
      });
    }
  });

  it("data-database is sent as X-Database-Id: the key's own database chats, another is refused; data-open opens the panel", async () => {
    const db = await owner.post(`/v1/organizations/${orgId}/databases`, { name: 'Catalogue' });
    expect(db.status, db.text).toBe(201);
    const key = await createKey(orgId, { name: 'catalogue widget', type: 'widget', allowedDomains: ['mysite.test'], databaseId: db.body.id });
    await onSite(origins.mysite, { key: key.key, attributes: { 'data-database': db.body.id, 'data-open': 'true' } }, async (own) => {
      await expect.poll(() => own.dialog.isVisible()).toBe(true); // no click: data-open="true"
      await send(own, 'What is in the catalogue?');
      await waitForReply(own, localReply('What is in the catalogue?', 1));
    });
    await onSite(origins.mysite, { key: key.key, attributes: { 'data-database': 'db_someoneelse' } }, async (other) => {
      await openPanel(other);
      await send(other, 'And this one?');
      const text = await alertText(other);
      expect(text).toContain("This chat's key cannot be used for this database.");
      expect(text).toContain('API key does not have access to this resource');
    });
  });

  it('no credits: the 402 message', async () => {
    // Only a user's first organization starts with credits; whatever this one has is taken back.
    const brokeOrg = await createOrg('Broke Shop');
    const { credits } = (await operator.get(`/v1/organizations/${brokeOrg}`)).body;
    if (credits > 0) {
      const drained = await operator.post(`/v1/organizations/${brokeOrg}/credits`, { amount: -credits, reason: 'test: no credits' });
      expect(drained.status, drained.text).toBe(200);
    }
    expect((await operator.get(`/v1/organizations/${brokeOrg}`)).body.credits).toBe(0);
    const key = await createKey(brokeOrg, { name: 'broke widget', type: 'widget', allowedDomains: ['mysite.test'] });
    await onSite(origins.mysite, { key: key.key }, async (w) => {
      await openPanel(w);
      await send(w, 'Anyone there?');
      expect(await alertText(w)).toContain('This chat has run out of credits, so it cannot reply right now.');
      expect(await w.alert.getByRole('button').count()).toBe(0);
    });
  });

  it('rate limited: the message gives the wait from the 429', async () => {
    // Two requests a minute for this key: the session, the first message; the second message is refused.
    const key = await createKey(orgId, { name: 'slow widget', type: 'widget', allowedDomains: ['mysite.test'], rateLimit: { perMinute: 2 } });
    await onSite(origins.mysite, { key: key.key }, async (w) => {
      await openPanel(w);
      await send(w, 'One');
      await waitForReply(w, localReply('One', 1));
      await send(w, 'Two');
      const text = await alertText(w);
      const wait = Number(/Too many messages right now\. Try again in (\d+) seconds?\./.exec(text)?.[1]);
      expect(wait, text).toBeGreaterThanOrEqual(1);
      expect(wait, text).toBeLessThanOrEqual(60);
      expect(await w.alert.getByRole('button', { name: 'Retry' }).count()).toBe(1);
    });
  });

  it('network down: the alert offers Retry, which sends the message once the API is reachable', async () => {
    await onSite(origins.mysite, async (w) => {
      await openPanel(w);
      await w.page.route('**/v1/chat/sessions', (route) => route.abort('internetdisconnected'));
      await send(w, 'Are you there?');
      expect(await alertText(w)).toContain('The chat service could not be reached. Check your connection and try again.');
      await w.page.unroute('**/v1/chat/sessions');
      await w.alert.getByRole('button', { name: 'Retry' }).click();
      await waitForReply(w, localReply('Are you there?', 1));
      await expect.poll(() => w.alert.count()).toBe(0);
      // The Retry button went away with the alert: focus went to the message box, not lost.
      expect(await w.message.evaluate((el) => el === el.getRootNode().activeElement)).toBe(true);
      expect(await turns(w, 'user')).toEqual(['Are you there?']);
    });
  });

  it('a reply that fails midway (an `error` event) keeps what arrived and says so; Stop aborts a reply', async () => {
    await onSite(origins.mysite, async (w) => {
      await openPanel(w);
      await send(w, '[fail-midstream]');
      const text = await alertText(w);
      expect(text).toContain('The reply failed before it was complete. You were not charged for it.');
      // The local backend fails after two deltas ("You ", "said: ").
      expect((await replies(w)).at(-1)).toMatch(/^You said: +\(not complete\)$/);
      expect(await w.log.getAttribute('aria-busy')).toBe('false');

      // A long message: its echoed reply streams for seconds, so Stop lands midway.
      const long = Array.from({ length: 150 }, (_, i) => `word${i}`).join(' ');
      await send(w, long);
      await expect.poll(async () => (await replies(w)).at(-1) ?? '').toMatch(/^You said: word0/);
      await w.dialog.getByRole('button', { name: 'Stop' }).click();
      await expect.poll(() => w.log.getAttribute('aria-busy')).toBe('false');
      const stopped = (await replies(w)).at(-1)!;
      expect(stopped).toMatch(/\(stopped\)$/);
      const kept = stopped.replace(/ ?\(stopped\)$/, '').trimEnd();
      expect(localReply(long, 2).startsWith(kept)).toBe(true);
      expect(kept.length).toBeLessThan(localReply(long, 2).length);
      // Focus stayed on the button, which is Send again.
      expect(await w.dialog.getByRole('button', { name: 'Send' }).evaluate((el) => el === el.getRootNode().activeElement)).toBe(true);
    });
  });

  it("the page's CSS does not change the widget, and the widget's does not change the page", async () => {
    const probe = () => {
      const root = document.querySelector('keygate-chat').shadowRoot;
      const props = ['font-family', 'font-size', 'color', 'background-color', 'padding-top', 'margin-top', 'line-height', 'letter-spacing',
        'text-transform', 'border-top-width', 'border-top-style', 'box-sizing', 'display', 'position', 'width', 'height', 'opacity', 'transform'];
      const out: Record<string, Record<string, string>> = {};
      for (const selector of ['.root', '.panel', 'h2', '.close', '[role="log"]', '.message.user', '.message.assistant', 'textarea', '.primary']) {
        const el = root.querySelector(selector);
        const style = getComputedStyle(el);
        out[selector] = Object.fromEntries(props.map((p) => [p, style.getPropertyValue(p)]));
      }
      return out;
    };
    const pageProbe = () => {
      const props = ['font-family', 'font-size', 'color', 'background-color', 'padding-top', 'margin-top', 'line-height', 'display', 'width', 'box-sizing'];
      const out: Record<string, unknown> = {
        styleSheets: document.styleSheets.length,
        adopted: document.adoptedStyleSheets.length,
        styleElements: document.querySelectorAll('style').length,
      };
      for (const selector of ['html', 'body', 'main', 'h1', '#text', '#buy', '#q']) {
        const style = getComputedStyle(document.querySelector(selector));
        out[selector] = Object.fromEntries(props.map((p) => [p, style.getPropertyValue(p)]));
      }
      return out;
    };

    const styles: Record<string, unknown> = {};
    for (const theme of ['light', 'hostile'] as const) {
      await onSite(origins.mysite, { theme }, async (w) => {
        await openPanel(w);
        await send(w, 'Style check');
        await waitForReply(w, localReply('Style check', 1));
        styles[theme] = await w.page.evaluate(probe);
        const withWidget = await w.page.evaluate(pageProbe);
        const bare = await w.page.goto(origins.mysite + pagePath({ theme, withoutWidget: true }));
        expect(bare?.status()).toBe(200);
        expect(await w.page.evaluate(pageProbe), `${theme} page`).toEqual(withWidget);
        expect(cspErrors(w)).toEqual([]);
      });
    }
    for (const selector of Object.keys(styles.light as object)) {
      expect((styles.hostile as any)[selector], selector).toEqual((styles.light as any)[selector]);
    }
    // And the widget's own styles did apply (through the CSP: a constructed stylesheet, no inline style).
    expect((styles.light as any)['.primary']['background-color']).toBe('rgb(29, 78, 216)');
  });

  it('fits a 320 px wide screen', async () => {
    await onSite(origins.mysite, async (w) => {
      await w.page.setViewportSize({ width: 320, height: 568 });
      await openPanel(w);
      await send(w, 'Small screen');
      await waitForReply(w, localReply('Small screen', 1));
      for (const control of [w.dialog, w.message, w.dialog.getByRole('button', { name: 'Send' }), w.dialog.getByRole('button', { name: 'Close chat' })]) {
        const box = (await control.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(320);
        expect(box.y + box.height).toBeLessThanOrEqual(568);
      }
      expect(await w.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    });
  });

  it('axe: no serious or critical violations with the panel closed, open and after a reply (light page; dark page after a reply)', async () => {
    for (const theme of ['light', 'dark'] as const) {
      await onSite(origins.mysite, { theme }, async (w) => {
        await w.launcher.waitFor();
        if (theme === 'light') expect(await seriousViolations(w.page), `${theme}, closed`).toEqual([]);
        await openPanel(w);
        if (theme === 'light') expect(await seriousViolations(w.page), `${theme}, open`).toEqual([]);
        await send(w, 'Accessibility check');
        await waitForReply(w, localReply('Accessibility check', 1));
        expect(await seriousViolations(w.page), `${theme}, after a reply`).toEqual([]);
        if (theme === 'light') await screenshot(w.page);
      });
    }
  });

  it('on a refused origin it says which origin to add to the key', async () => {
    await onSite(origins.evil, async (w) => {
      await openPanel(w);
      await send(w, 'Hello from a stranger');
      const text = await alertText(w);
      expect(text).toContain(`This chat is not enabled on ${origins.evil}.`);
      expect(text).toContain(`add ${origins.evil} to the allowed domains`);
    });
  });
});

/** The README's picture (docs/images/widget.png) when UPDATE_SCREENSHOTS=1, a temporary file otherwise. */
async function screenshot(page: Page): Promise<void> {
  const dir = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/images') : join(tmpdir(), 'keygate-screenshots');
  mkdirSync(dir, { recursive: true });
  await page.setViewportSize({ width: 720, height: 640 });
  await page.screenshot({ path: join(dir, 'widget.png') });
}
