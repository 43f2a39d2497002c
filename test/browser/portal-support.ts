// What the portal's browser tests share: the local API serving the built portal, one browser,
// a browser context per signed-in user, sign-in through the local sign-in page, navigation by
// role and name, axe, the 375 px checks, and the API as a signed-in page's user.
import AxeBuilder from '@axe-core/playwright';
import { expect } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, startTestApi } from '../support/api.ts';
import { launchBrowser } from './support.ts';

// page.evaluate bodies run inside the page; these are the page's globals there (no DOM lib in Node's tsconfig).
declare const document: any, sessionStorage: any;

/** Waits for what the page shows next; generous, as the machine may be busy with other browsers. */
export const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 15_000, interval: 100 });

/** docs/api.md "Keys": prefix, 32 random and 6 checksum base62 characters. */
export const SECRET_KEY = /^sk_[0-9A-Za-z]{38}$/;
export const PUBLISHABLE_KEY = /^pk_[0-9A-Za-z]{38}$/;

export const PHONE = { width: 375, height: 800 };

export const uniqueEmail = (who: string) => `${who}-${Math.random().toString(36).slice(2, 8)}@example.com`;

export class PortalHarness {
  readonly keygate: LocalKeygate;
  readonly browser: Browser;
  /** http://localhost:<port>: the portal, its sign-in and the API on one origin, as `npm start` serves them. */
  readonly portal: string;
  private readonly contexts: BrowserContext[] = [];

  private constructor(keygate: LocalKeygate, browser: Browser) {
    this.keygate = keygate;
    this.browser = browser;
    this.portal = keygate.url;
  }

  static async start(): Promise<PortalHarness> {
    const keygate = await startTestApi();
    try {
      return new PortalHarness(keygate, await launchBrowser());
    } catch (error) {
      await keygate.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    for (const context of this.contexts) await context.close().catch(() => undefined);
    await this.browser.close();
    await this.keygate.stop();
  }

  async newPage(viewport = { width: 1280, height: 900 }): Promise<Page> {
    const context = await this.browser.newContext({ viewport });
    this.contexts.push(context);
    return context.newPage();
  }

  /** Through the portal's Sign in button and the local sign-in page, as a person would. */
  async signIn(page: Page, email: string, operator = false, checkSignInPage = false): Promise<void> {
    await page.goto(`${this.portal}/`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oauth2\/authorize/);
    if (checkSignInPage) await expectAccessible(page, 'the local sign-in page');
    await page.getByRole('textbox', { name: 'Email' }).fill(email);
    if (operator) await page.getByRole('checkbox', { name: 'Operator' }).check();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  /** A new page signed in as `email`, with an organization of its own named `orgName`; its id. */
  async ownerWithOrganization(email: string, orgName: string, viewport?: { width: number; height: number }): Promise<{ page: Page; orgId: string }> {
    const page = await this.newPage(viewport);
    await this.signIn(page, email);
    await page.getByRole('textbox', { name: 'Organization name' }).fill(orgName);
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { level: 1, name: 'API Keys', exact: true }).waitFor();
    const orgs = await (await this.apiAs(page)).get('/v1/organizations');
    return { page, orgId: orgs.body.items.find((o: { name: string }) => o.name === orgName).id };
  }

  /** The management API as the user signed in on `page`. */
  async apiAs(page: Page): Promise<ApiClient> {
    return new ApiClient(this.keygate.url, { Authorization: `Bearer ${await tokenOf(page)}` });
  }

  /** The API's answer to a request with this key, from Node (as a server using the key would call). */
  async whoami(key: string): Promise<{ status: number; code?: string }> {
    const res = await new ApiClient(this.keygate.url, { 'X-API-Key': key }).get('/v1/auth/whoami');
    return { status: res.status, ...(res.body?.code ? { code: res.body.code } : {}) };
  }
}

export async function tokenOf(page: Page): Promise<string> {
  return page.evaluate(() => {
    const entry = Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'));
    return entry ? (JSON.parse(sessionStorage.getItem(entry)!) as { id_token: string }).id_token : '';
  });
}

/** axe with the WCAG 2.0-2.2 A and AA rules: no violation at all on this page, whatever its impact. */
export async function expectAccessible(page: Page, where: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  const bad = results.violations;
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    `axe on ${where}`,
  ).toEqual([]);
}

/** The page itself never scrolls sideways (wide content scrolls inside its own region). */
export async function expectNoPageScroll(page: Page, where = 'the page'): Promise<void> {
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  expect(widths.scroll, `${where} scrolls sideways`).toBeLessThanOrEqual(widths.client);
}

export async function goTo(page: Page, link: string, heading: string): Promise<void> {
  await page.getByRole('navigation').getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
}

/** Clicks the button `button` and waits for the dialog it opens (`dialog`, named as the button unless said). */
export async function openDialog(page: Page, button: string, dialog = button): Promise<Locator> {
  await page.getByRole('button', { name: button }).click();
  const opened = page.getByRole('dialog', { name: dialog });
  await opened.waitFor();
  return opened;
}

/** Clicks the dialog's button `button` and waits for the dialog to close. */
export async function closeDialogWith(dialog: Locator, button: string): Promise<void> {
  await dialog.getByRole('button', { name: button }).click();
  await dialog.waitFor({ state: 'detached' });
}

/** A key's row in the key list (a table row, or a card on a phone). */
export function keyRow(page: Page, name: string) {
  return page.getByRole('table').getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
}

/** Create API key, fill the form, Generate: the new key's dialog is open; its plaintext. */
export async function createKeyInPortal(page: Page, name: string, type: 'Secret' | 'Widget', domains?: string): Promise<string> {
  await page.getByRole('button', { name: 'Create API key' }).click();
  await page.getByRole('textbox', { name: 'Key name' }).fill(name);
  await page.getByRole('radio', { name: type }).check();
  if (domains !== undefined) await page.getByRole('textbox', { name: 'Allowed domains' }).fill(domains);
  await page.getByRole('button', { name: 'Generate API key' }).click();
  const shown = page.getByRole('dialog', { name: 'Your new API key' }).getByRole('textbox', { name: 'Your new API key' });
  await shown.waitFor();
  expect(await shown.getAttribute('readonly')).not.toBeNull();
  return shown.inputValue();
}
