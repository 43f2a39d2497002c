// The portal in real headless Chromium (docs/api.md "Portal (web)"), against the local API serving the
// built portal at `/` and playing the identity provider: the owner signs in, creates an
// organization and keys, reads a secret key once, disables, enables, rolls and revokes it and sees
// the API follow; a widget key and its embed snippet; an operator's plan and credit controls; a
// member's narrower controls; usage; errors in alerts. Every page is checked with axe (WCAG 2.2 AA).
// One browser and one API for the whole file; each signed-in user gets its own browser context.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ApiClient } from '../support/api.ts';
import {
  closeDialogWith,
  createKeyInPortal,
  expectAccessible,
  expectNoPageScroll,
  goTo,
  keyRow,
  PHONE,
  poll,
  PortalHarness,
  PUBLISHABLE_KEY,
  SECRET_KEY,
  tokenOf,
  uniqueEmail,
} from './portal-support.ts';
import { browserAvailability } from './support.ts';

// page.evaluate bodies run inside the page; these are the page's globals there (no DOM lib in Node's tsconfig).
declare const document: any, localStorage: any, sessionStorage: any, location: any, history: any;
type Storage = { length: number; key(i: number): string | null; getItem(k: string): string | null };
type HTMLInputElement = { value: string };

const availability = browserAvailability();
const SCREENSHOTS = resolve(import.meta.dirname, '../../docs/images');
/** `UPDATE_SCREENSHOTS=1` rewrites the README's screenshots (docs/images/portal-*.png) from this run. */
const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';

let h: PortalHarness;
let keygate: PortalHarness['keygate'];
let portal: string;

let owner: Page;
let orgId = '';
const ownerEmail = uniqueEmail('owner');
const memberEmail = uniqueEmail('member');
const operatorEmail = uniqueEmail('operator');

beforeAll(async () => {
  if (!availability.run) return;
  h = await PortalHarness.start();
  keygate = h.keygate;
  portal = h.portal;
  if (updateScreenshots) mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await h?.stop();
});

const newPage = (viewport?: { width: number; height: number }) => h.newPage(viewport);
const signIn = (page: Page, email: string, operator = false, checkSignInPage = false) => h.signIn(page, email, operator, checkSignInPage);
const whoami = (key: string) => h.whoami(key);

/** Everywhere a page could keep a string: markup, form values, storage, the address. */
async function pageHolds(page: Page, text: string): Promise<Record<string, boolean>> {
  const found = await page.evaluate((t) => {
    const values = [...document.querySelectorAll('input, textarea')].map((el) => (el as HTMLInputElement).value);
    const storage = (s: Storage) => Array.from({ length: s.length }, (_, i) => `${s.key(i)}=${s.getItem(s.key(i)!)}`).join('\n');
    return {
      dom: document.documentElement.outerHTML.includes(t) || document.body.innerText.includes(t),
      formValues: values.some((v) => v.includes(t)),
      localStorage: storage(localStorage).includes(t),
      sessionStorage: storage(sessionStorage).includes(t),
      url: location.href.includes(t),
      history: history.state !== null && JSON.stringify(history.state).includes(t),
    };
  }, text);
  return found;
}

describe.skipIf(!availability.run)('the portal in a real browser', () => {
  it('signs in locally through the authorization-code flow and creates an organization', async () => {
    owner = await newPage();
    await owner.goto(`${portal}/organization/api-key`);
    await owner.getByRole('button', { name: 'Sign in' }).waitFor();
    await expectAccessible(owner, 'the signed-out page');
    await signIn(owner, ownerEmail, false, true);
    // A new user has no organization yet: the create form, nothing else to do.
    await owner.getByRole('textbox', { name: 'Organization name' }).waitFor();
    await expectAccessible(owner, 'the organizations page');
    await owner.getByRole('textbox', { name: 'Organization name' }).fill('Acme Browser');
    await owner.getByRole('button', { name: 'Create organization' }).click();
    await owner.getByRole('heading', { level: 1, name: 'API Keys', exact: true }).waitFor();
    expect(new URL(owner.url()).pathname).toBe('/organization/api-key');
    for (const link of ['API Keys', 'Databases', 'Members', 'Usage', 'Audit log']) {
      await expect(owner.getByRole('link', { name: link, exact: true }).count()).resolves.toBe(1);
    }
    // The API agrees: the signed-in email's user owns exactly this new organization.
    const token = await tokenOf(owner);
    const orgs = await new ApiClient(keygate.url, { Authorization: `Bearer ${token}` }).get('/v1/organizations');
    expect(orgs.status).toBe(200);
    expect(orgs.body.items).toHaveLength(1);
    expect(orgs.body.items[0]).toMatchObject({ name: 'Acme Browser', role: 'owner', plan: 'free', credits: 100 });
    orgId = orgs.body.items[0].id;
  });

  it('an operator changes the plan and grants credits with a reason', async () => {
    const operator = await newPage();
    await signIn(operator, operatorEmail, true);
    await operator.getByRole('link', { name: 'Plan and credits' }).click();
    await operator.getByRole('textbox', { name: 'Organization ID' }).fill(orgId);
    await operator.getByRole('button', { name: 'Open organization' }).click();
    await operator.getByRole('combobox', { name: 'Plan' }).waitFor();
    await expectAccessible(operator, 'the plan and credits page (operator)');
    // Enterprise asks for its own limits.
    await operator.getByRole('combobox', { name: 'Plan' }).selectOption('enterprise');
    await operator.getByRole('spinbutton', { name: 'Requests per minute' }).fill('300');
    await operator.getByRole('spinbutton', { name: 'Requests per day' }).fill('50000');
    await operator.getByRole('spinbutton', { name: 'Tokens per day' }).fill('2000000');
    await operator.getByRole('button', { name: 'Save plan' }).click();
    await operator.getByRole('status').filter({ hasText: 'Plan saved: enterprise.' }).waitFor();
    await operator.getByRole('spinbutton', { name: 'Credits' }).fill('250');
    await operator.getByRole('textbox', { name: 'Reason' }).fill('Launch bonus');
    await operator.getByRole('button', { name: 'Grant credits' }).click();
    await operator.getByRole('status').filter({ hasText: 'The balance is now 350.' }).waitFor();
    const org = await operatorApi(operator).then((api) => api.get(`/v1/organizations/${orgId}`));
    expect(org.body).toMatchObject({ plan: 'enterprise', limits: { perMinute: 300, perDay: 50000, tokensPerDay: 2000000 }, credits: 350 });
    expect(org.body.limits.tokensPerMinute).toBeUndefined();
    await operator.getByRole('definition').filter({ hasText: 'no limit per minute, 2,000,000 per day' }).waitFor();
    // The owner sees the figures but no operator controls.
    await goTo(owner, 'Plan and credits', 'Plan and credits');
    await owner.getByText('350', { exact: true }).waitFor();
    expect(await owner.getByRole('button', { name: 'Grant credits' }).count()).toBe(0);
    expect(await owner.getByRole('combobox', { name: 'Plan' }).count()).toBe(0);
  });

  let secretKey = '';
  it('creates a secret key, shows it once, and after Done it is nowhere in the page', async () => {
    await goTo(owner, 'API Keys', 'API Keys');
    secretKey = await createKeyInPortal(owner, 'Production Server', 'Secret');
    expect(secretKey).toMatch(SECRET_KEY);
    const dialog = owner.getByRole('dialog', { name: 'Your new API key' });
    await dialog.getByRole('button', { name: 'Copy', exact: true }).waitFor();
    await expectAccessible(owner, 'the new-key dialog');
    expect((await pageHolds(owner, secretKey)).formValues).toBe(true); // shown, once
    // A modal: nothing behind it takes a click or the focus, and Escape does not drop the key.
    const blocked = await owner.getByRole('link', { name: 'Usage', exact: true }).click({ timeout: 1_000, trial: true }).then(() => false, () => true);
    expect(blocked, 'a link behind the dialog can be clicked').toBe(true);
    expect(await owner.evaluate(() => {
      const link = document.querySelector('nav a');
      link.focus();
      return document.activeElement === link;
    }), 'a link behind the dialog takes the focus').toBe(false);
    await owner.keyboard.press('Escape');
    expect(await dialog.isVisible()).toBe(true);
    expect(new URL(owner.url()).pathname).toBe('/organization/api-key');

    await owner.getByRole('button', { name: 'Done' }).click();
    await owner.getByRole('button', { name: 'Create API key' }).waitFor();
    expect(await pageHolds(owner, secretKey)).toEqual({
      dom: false,
      formValues: false,
      localStorage: false,
      sessionStorage: false,
      url: false,
      history: false,
    });
    // Still gone after navigating away and back, and after a reload.
    await goTo(owner, 'Usage', 'Usage');
    await goTo(owner, 'API Keys', 'API Keys');
    await owner.reload();
    await owner.getByRole('heading', { name: 'Your API Keys' }).waitFor();
    expect(Object.values(await pageHolds(owner, secretKey)).some(Boolean)).toBe(false);

    const row = keyRow(owner, 'Production Server');
    await row.waitFor();
    await expect(row.getByText('Secret', { exact: true }).count()).resolves.toBe(1);
    await expect(row.getByText('Active', { exact: true }).count()).resolves.toBe(1);
    await expect(row.getByText(`${secretKey.slice(0, 8)}••••••••`, { exact: true }).count()).resolves.toBe(1);
    // The key works over HTTP, from a server.
    expect(await whoami(secretKey)).toEqual({ status: 200 });
  });

  it('the key list has the contract columns and the owner controls', async () => {
    const headers = await owner.getByRole('table').getByRole('columnheader').allInnerTexts();
    expect(headers).toEqual(['Name', 'Type', 'Key', 'Created', 'Expires', 'Status', 'Allowed domains', 'Last used', 'Usage', 'Actions']);
    for (const name of ['Disable Production Server', 'Roll Production Server', 'Revoke Production Server']) {
      await expect(owner.getByRole('button', { name, exact: true }).count()).resolves.toBe(1);
    }
  });

  it('disables and enables the key, and the API follows at once', async () => {
    await owner.getByRole('button', { name: 'Disable Production Server' }).click();
    await keyRow(owner, 'Production Server').getByText('Disabled', { exact: true }).waitFor();
    expect(await whoami(secretKey)).toEqual({ status: 401, code: 'API_KEY_DISABLED' });
    // The status filter finds it among the disabled keys only.
    await owner.getByRole('combobox', { name: 'Status' }).selectOption('active');
    await owner.getByText('No API keys match.').waitFor();
    await owner.getByRole('combobox', { name: 'Status' }).selectOption('disabled');
    await keyRow(owner, 'Production Server').waitFor();
    await owner.getByRole('combobox', { name: 'Status' }).selectOption('');

    await owner.getByRole('button', { name: 'Enable Production Server' }).click();
    await keyRow(owner, 'Production Server').getByText('Active', { exact: true }).waitFor();
    expect(await whoami(secretKey)).toEqual({ status: 200 });
  });

  let rolledKey = '';
  it('rolls the key with a grace period of 0 hours: the new key works, the old one is refused', async () => {
    await owner.getByRole('button', { name: 'Roll Production Server' }).click();
    const dialog = owner.getByRole('dialog');
    await dialog.waitFor();
    await expectAccessible(owner, 'the roll dialog');
    await dialog.getByRole('spinbutton', { name: 'Grace period (hours)' }).fill('0');
    await dialog.getByRole('button', { name: 'Roll API key' }).click();
    const shown = owner.getByRole('textbox', { name: 'Your new API key' });
    await shown.waitFor();
    rolledKey = await shown.inputValue();
    expect(rolledKey).toMatch(SECRET_KEY);
    expect(rolledKey).not.toBe(secretKey);
    await owner.getByRole('button', { name: 'Done' }).click();
    expect(Object.values(await pageHolds(owner, rolledKey)).some(Boolean)).toBe(false);
    expect(await whoami(rolledKey)).toEqual({ status: 200 });
    expect(await whoami(secretKey)).toEqual({ status: 401, code: 'API_KEY_EXPIRED' });
  });

  it('revokes the rolled key after confirming, and the API refuses it', async () => {
    // The replacement carries the same name; the old one is now Expired (without a Disable button).
    const active = keyRow(owner, 'Production Server').filter({ hasText: 'Active' });
    await active.getByRole('button', { name: 'Revoke Production Server' }).click();
    const dialog = owner.getByRole('dialog');
    await dialog.waitFor();
    await expectAccessible(owner, 'the revoke dialog');
    await closeDialogWith(dialog, 'Revoke API key');
    await poll(() => keyRow(owner, 'Production Server').filter({ hasText: 'Active' }).count()).toBe(0);
    expect(await whoami(rolledKey)).toEqual({ status: 401, code: 'INVALID_API_KEY' });
  });

  it('an API error appears in an alert (a public suffix as an allowed domain), and nothing is created', async () => {
    await owner.getByRole('button', { name: 'Create API key' }).click();
    await owner.getByRole('textbox', { name: 'Key name' }).fill('Bad Widget');
    await owner.getByRole('radio', { name: 'Widget' }).check();
    await owner.getByRole('textbox', { name: 'Allowed domains' }).fill('com');
    await owner.getByRole('button', { name: 'Generate API key' }).click();
    const alert = owner.getByRole('alert');
    await alert.waitFor();
    // docs/api.md "Keys": a public suffix is refused with 400 VALIDATION_ERROR; the page shows the API's message.
    expect(await alert.innerText()).toMatch(/\S/);
    const direct = await (await ownerApi()).post(`/v1/organizations/${orgId}/api-keys`, { name: 'Bad Widget', type: 'publishable', allowedDomains: ['com'] });
    expect(direct.status).toBe(400);
    expect(await alert.innerText()).toBe(direct.body.message);
    expect(await owner.getByRole('textbox', { name: 'Your new API key' }).count()).toBe(0);
    await expectAccessible(owner, 'the create form with an error');
    await owner.getByRole('button', { name: 'Cancel' }).click();
  });

  let widgetKey = '';
  it('creates a widget key with allowed domains; it can be copied from its row', async () => {
    widgetKey = await createKeyInPortal(owner, 'Website Widget', 'Widget', 'shop.example, https://www.shop.example');
    expect(widgetKey).toMatch(PUBLISHABLE_KEY);
    // A widget key's dialog holds its embed snippet, ready to paste.
    const dialog = owner.getByRole('dialog', { name: 'Your new API key' });
    expect(await dialog.getByRole('textbox', { name: 'Embed snippet' }).inputValue()).toBe(`<script src="${portal}/widget.js" data-key="${widgetKey}" async></script>`);
    await dialog.getByRole('button', { name: 'Copy snippet' }).waitFor();
    await expectAccessible(owner, 'the new-key dialog of a widget key');
    await owner.getByRole('button', { name: 'Done' }).click();
    const row = keyRow(owner, 'Website Widget');
    await row.waitFor();
    await expect(row.getByText('Widget', { exact: true }).count()).resolves.toBe(1);
    await expect(row.getByText('shop.example, https://www.shop.example', { exact: true }).count()).resolves.toBe(1);
    await expect(row.getByRole('button', { name: 'Copy Website Widget' }).count()).resolves.toBe(1);
    // The type filter shows widget keys only.
    await owner.getByRole('combobox', { name: 'Type' }).selectOption('publishable');
    await poll(() => owner.getByRole('rowheader', { name: 'Production Server' }).count()).toBe(0);
    await row.waitFor();
    await owner.getByRole('combobox', { name: 'Type' }).selectOption('');
    // The API locks it to those origins.
    const allowed = await new ApiClient(keygate.url, { 'X-API-Key': widgetKey, Origin: 'https://www.shop.example' }).get('/v1/auth/whoami');
    expect(allowed.status).toBe(200);
    const refused = await new ApiClient(keygate.url, { 'X-API-Key': widgetKey, Origin: 'https://evil.example' }).get('/v1/auth/whoami');
    expect(refused.status).toBe(403);
  });

  it('a database page has Widget Integration: a widget key scoped to it and its embed snippet', async () => {
    await goTo(owner, 'Databases', 'Databases');
    await owner.getByRole('textbox', { name: 'Database name' }).fill('Help Center');
    await owner.getByRole('button', { name: 'Create database' }).click();
    await owner.getByRole('link', { name: 'Help Center' }).click();
    await owner.getByRole('heading', { name: 'Widget Integration' }).waitFor();
    await owner.getByRole('button', { name: 'Create New API Key' }).click();
    await owner.getByRole('textbox', { name: 'Key name' }).fill('Help Widget');
    await owner.getByRole('textbox', { name: 'Allowed domains' }).fill('help.example');
    await owner.getByRole('button', { name: 'Generate API key' }).click();
    const key = await owner.getByRole('textbox', { name: 'Your new API key' }).inputValue();
    expect(key).toMatch(PUBLISHABLE_KEY);
    await owner.getByRole('button', { name: 'Done' }).click();
    const snippet = owner.getByRole('region', { name: 'Embed snippet for Help Widget' }).or(owner.getByLabel('Embed snippet for Help Widget'));
    await poll(() => snippet.innerText()).toBe(`<script src="${portal}/widget.js" data-key="${key}" async></script>`);
    await expectAccessible(owner, 'a database page');
    const databases = await (await ownerApi()).get(`/v1/organizations/${orgId}/databases`);
    const db = databases.body.items.find((d: { name: string }) => d.name === 'Help Center');
    const keys = await (await ownerApi()).get(`/v1/organizations/${orgId}/api-keys?type=publishable`);
    expect(keys.body.items.find((k: { key?: string }) => k.key === key)).toMatchObject({ databaseId: db.id, allowedDomains: ['help.example'] });
  });

  it('members: the last owner cannot be removed, and the refusal shows in an alert in the confirmation', async () => {
    await goTo(owner, 'Members', 'Members');
    await expectAccessible(owner, 'the members page');
    await owner.getByRole('button', { name: `Remove ${ownerEmail}` }).click();
    const dialog = owner.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Remove member' }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/owner/i);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await owner.getByRole('rowheader', { name: `${ownerEmail} (you)` }).count()).toBe(1);
  });

  it('invites a member by email, who sees keys but no owner controls', async () => {
    await owner.getByRole('textbox', { name: 'Email' }).fill(memberEmail);
    await owner.getByRole('combobox', { name: 'Role', exact: true }).selectOption('member');
    await owner.getByRole('button', { name: 'Invite' }).click();
    await owner.getByRole('rowheader', { name: memberEmail }).waitFor();

    const member = await newPage();
    await signIn(member, memberEmail);
    await member.getByRole('heading', { level: 1, name: 'API Keys', exact: true }).waitFor();
    await keyRow(member, 'Website Widget').waitFor();
    expect(await member.getByRole('button', { name: 'Create API key' }).count()).toBe(0);
    expect(await member.getByRole('button', { name: /^(Disable|Enable|Roll|Revoke) / }).count()).toBe(0);
    await goTo(member, 'Members', 'Members');
    expect(await member.getByRole('button', { name: 'Invite' }).count()).toBe(0);
    expect(await member.getByRole('button', { name: /^Remove/ }).count()).toBe(0);
    await expectAccessible(member, 'the API Keys page of a member');
  });

  it('usage shows the requests just made, in the chart and the table, for the org and one key', async () => {
    // A fresh key used exactly three times today.
    await goTo(owner, 'API Keys', 'API Keys');
    const counted = await createKeyInPortal(owner, 'Usage Probe', 'Secret');
    await owner.getByRole('button', { name: 'Done' }).click();
    for (let i = 0; i < 3; i += 1) expect(await whoami(counted)).toEqual({ status: 200 });
    const today = new Date().toISOString().slice(0, 10);

    const api = await ownerApi();
    const probe = (await api.get(`/v1/organizations/${orgId}/api-keys?limit=100`)).body.items.find((k: { name: string }) => k.name === 'Usage Probe');
    await goTo(owner, 'Usage', 'Usage');
    await owner.getByRole('combobox', { name: 'Key' }).selectOption(probe.id);
    const keyTable = owner.getByRole('table', { name: 'Usage of key Usage Probe per UTC day' });
    const keyToday = keyTable.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: today }) });
    await poll(() => keyToday.getByRole('cell').allInnerTexts()).toEqual(['3', '0', '0', '0', '0']);
    await expect(owner.getByRole('img', { name: /^Usage of key Usage Probe: 3 requests, 0 rate limited, 0 credits over 30 UTC days/ }).count()).resolves.toBe(1);

    // Admitted requests in this organization today: the secret key once, again after Enable, the
    // rolled key once, the widget key from an allowed origin once, and the probe three times.
    // Refusals (disabled, expired, revoked, foreign origin) are not counted (docs/api.md "Rate limits and credits").
    const orgToday = async () => (await api.get(`/v1/organizations/${orgId}/usage?days=30`)).body.items.find((d: { date: string }) => d.date === today);
    await poll(async () => (await orgToday()).requests).toBe(7);
    await owner.reload();
    const orgTable = owner.getByRole('table', { name: 'Usage of Acme Browser per UTC day' });
    const orgRow = orgTable.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: today }) });
    await poll(() => orgRow.getByRole('cell').allInnerTexts()).toEqual(['7', '0', '0', '0', '0']);
    await expect(owner.getByRole('img', { name: /^Usage of Acme Browser: 7 requests, 0 rate limited, 0 credits over 30 UTC days/ }).count()).resolves.toBe(1);
    await expectAccessible(owner, 'the usage page');
  });

  it('the audit log page shows the entries of what the owner did, newest first', async () => {
    await goTo(owner, 'Audit log', 'Audit log');
    const table = owner.getByRole('table', { name: 'Audit log' });
    await table.waitFor();
    await poll(async () => (await table.getByRole('row').count()) >= 3).toBe(true); // the header row and at least two entries
    expect(await owner.getByRole('alert').count()).toBe(0);
    await expectAccessible(owner, 'the audit log page');
    if (updateScreenshots) await owner.screenshot({ path: resolve(SCREENSHOTS, 'portal-audit-log.png') });
  });

  it('the audit log page shows an API error in an alert, never an empty log', async () => {
    const auditLog = /\/v1\/organizations\/[^/]+\/audit-log/;
    await owner.route(auditLog, (route) =>
      route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ error: 'not_found', message: 'Not found', code: 'NOT_FOUND' }) }),
    );
    try {
      await owner.reload();
      await owner.getByRole('alert').waitFor();
      expect(await owner.getByRole('alert').innerText()).toBe('Not found');
      expect(await owner.getByText('No audit entries yet.').count()).toBe(0);
    } finally {
      await owner.unroute(auditLog);
    }
  });

  it('works at 375 px wide: the key page fits, and its table scrolls inside its own region', async () => {
    const narrow = await newPage(PHONE);
    await signIn(narrow, ownerEmail);
    await narrow.getByRole('heading', { name: 'Your API Keys' }).waitFor();
    await keyRow(narrow, 'Website Widget').waitFor();
    await expectNoPageScroll(narrow);
    await expectAccessible(narrow, 'the API Keys page at 375 px');
    if (updateScreenshots) await narrow.screenshot({ path: resolve(SCREENSHOTS, 'portal-phone.png') });
    await goTo(narrow, 'Usage', 'Usage');
    await expectNoPageScroll(narrow);
  });

  it('is usable by keyboard alone: create a key, read it, Done', async () => {
    await goTo(owner, 'API Keys', 'API Keys');
    await owner.getByRole('button', { name: 'Create API key' }).focus();
    await owner.keyboard.press('Enter');
    // The form takes the focus in its first field.
    await poll(() => owner.evaluate(() => document.activeElement?.closest('label')?.textContent ?? '')).toContain('Key name');
    await owner.keyboard.type('Keyboard Key');
    await owner.keyboard.press('Tab'); // to the Secret radio (checked)
    await owner.keyboard.press('ArrowDown'); // Widget
    await owner.keyboard.press('Tab'); // Allowed domains
    await owner.keyboard.type('kbd.example');
    await owner.keyboard.press('Enter'); // submits the form
    const shown = owner.getByRole('textbox', { name: 'Your new API key' });
    await shown.waitFor();
    // The new key takes the focus, so a screen reader reads it and Ctrl+C copies it.
    await poll(() => owner.evaluate(() => document.activeElement?.closest('label')?.textContent ?? '')).toContain('Your new API key');
    expect(await shown.inputValue()).toMatch(PUBLISHABLE_KEY);
    if (updateScreenshots) await owner.screenshot({ path: resolve(SCREENSHOTS, 'portal-new-key.png') });
    for (const next of ['Copy', 'Embed snippet', 'Copy snippet', 'Done']) {
      await owner.keyboard.press('Tab');
      expect(await owner.evaluate(() => document.activeElement?.closest('label')?.textContent ?? document.activeElement?.textContent)).toContain(next);
    }
    await owner.keyboard.press('Enter');
    await shown.waitFor({ state: 'detached' });
    await poll(() => owner.evaluate(() => document.activeElement?.textContent)).toBe('Create API key');
    if (updateScreenshots) await owner.screenshot({ path: resolve(SCREENSHOTS, 'portal-api-keys.png') });
    // Revoke through the dialog with the keyboard, Escape cancels first.
    await owner.getByRole('button', { name: 'Revoke Keyboard Key' }).focus();
    await owner.keyboard.press('Enter');
    await owner.getByRole('dialog').waitFor();
    await owner.keyboard.press('Escape');
    await owner.getByRole('dialog').waitFor({ state: 'detached' });
    await poll(() => owner.evaluate(() => document.activeElement?.textContent)).toBe('Revoke Keyboard Key');
  });

  it('never a blank page: missing settings or an unreachable API show in an alert', async () => {
    const page = await newPage();
    await page.route('**/config.json', (route) => route.fulfill({ status: 500, body: 'boom' }));
    await page.goto(`${portal}/organization/api-key`);
    await poll(() => page.getByRole('alert').innerText()).toBe('The portal settings (/config.json) answered 500.');
    await page.unroute('**/config.json');

    await signIn(page, ownerEmail);
    await page.route('**/v1/organizations', (route) => route.abort('connectionrefused'));
    await page.reload();
    await poll(() => page.getByRole('alert').innerText()).toBe('The API could not be reached. Check your connection and try again.');
    await expectAccessible(page, 'the portal with the API unreachable');
  });

  it('pages through the key list 20 at a time with Next page and Previous page', async () => {
    const api = await ownerApi();
    const listed = async () => (await api.get(`/v1/organizations/${orgId}/api-keys?limit=100`)).body.items.length as number;
    for (let n = await listed(); n <= 20; n += 1) {
      expect((await api.post(`/v1/organizations/${orgId}/api-keys`, { name: `Filler ${n}`, type: 'secret' })).status).toBe(201);
    }
    const total = await listed();
    await goTo(owner, 'API Keys', 'API Keys');
    await owner.reload(); // the page may have listed the keys before these were made
    const names = () => owner.getByRole('table', { name: 'Your API Keys' }).getByRole('rowheader').allInnerTexts();
    await poll(async () => (await names()).length).toBe(20);
    const firstPage = await names();
    const previous = owner.getByRole('button', { name: 'Previous page' });
    const next = owner.getByRole('button', { name: 'Next page' });
    expect(await previous.isDisabled()).toBe(true);
    await next.click();
    await poll(async () => (await names()).length).toBe(total - 20);
    expect((await names()).filter((name) => firstPage.includes(name))).toEqual([]);
    expect(await next.isDisabled()).toBe(true);
    await previous.click();
    await poll(names).toEqual(firstPage);
    expect(await previous.isDisabled()).toBe(true);
  });

  it('signs out: the tokens are gone and the portal asks to sign in again', async () => {
    await owner.getByRole('button', { name: 'Sign out' }).click();
    await owner.getByRole('button', { name: 'Sign in' }).waitFor();
    const stored = await owner.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('oidc.user:')));
    expect(stored).toEqual([]);
  });
});

async function operatorApi(page: Page): Promise<ApiClient> {
  return h.apiAs(page);
}

async function ownerApi(): Promise<ApiClient> {
  return h.apiAs(owner);
}
