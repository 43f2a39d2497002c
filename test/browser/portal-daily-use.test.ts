// The portal for daily work (docs/api.md "Portal (web)"), in headless Chromium against the local
// API: a key edited in place, a rolled key marked Replaced, destructive actions that ask first with
// the focus on Cancel, the create form saying what it will do, every page on a 375 px phone, and a
// long name at 1,440 px. Every new dialog and page is checked with axe.
import AxeBuilder from '@axe-core/playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { ApiClient } from '../support/api.ts';
import { closeDialogWith, createKeyInPortal, expectAccessible, expectNoPageScroll, goTo, keyRow, openDialog, PHONE, poll, PortalHarness, uniqueEmail } from './portal-support.ts';
import { browserAvailability } from './support.ts';

declare const document: any;

const availability = browserAvailability();

let h: PortalHarness;
let owner: Page;
let api: ApiClient;
let orgId = '';
const ownerEmail = uniqueEmail('daily-owner');

beforeAll(async () => {
  if (!availability.run) return;
  h = await PortalHarness.start();
});

afterAll(async () => {
  await h?.stop();
});

const focusedText = (page: Page) => page.evaluate(() => document.activeElement?.textContent ?? '');

/** The box of `locator` lies inside the page's viewport, left to right. */
async function expectOnScreen(page: Page, locator: ReturnType<Page['locator']>, what: string): Promise<void> {
  const box = await locator.boundingBox();
  const width = page.viewportSize()!.width;
  expect(box, `${what} is not rendered`).not.toBeNull();
  expect(box!.x, `${what} starts left of the screen`).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, `${what} ends right of the screen (${width} px)`).toBeLessThanOrEqual(width);
}

async function createKey(body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await api.post(`/v1/organizations/${orgId}/api-keys`, body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

describe.skipIf(!availability.run)('the portal for daily work', () => {
  it('a first-run organization is invited to create its first key', async () => {
    ({ page: owner, orgId } = await h.ownerWithOrganization(ownerEmail, 'Daily Co'));
    api = await h.apiAs(owner);
    await owner.getByRole('heading', { name: 'No API keys yet' }).waitFor();
    expect(await owner.getByText('No API keys match.').count()).toBe(0);
    await expectAccessible(owner, 'the first-run API Keys page');
  });

  it('the create form says what it will do: localhost only, a dropped path, a name too long refused', async () => {
    await owner.getByRole('button', { name: 'Create API key' }).click();
    await owner.getByRole('radio', { name: 'Widget' }).check();
    const domains = owner.getByRole('textbox', { name: 'Allowed domains' });
    await owner.getByText('No domains: this key will work only from localhost').waitFor();
    await domains.fill('https://shop.example/checkout?x=1, blog.example');
    await owner.getByText('https://shop.example/checkout?x=1: /checkout?x=1 is dropped, the key allows https://shop.example.').waitFor();
    expect(await owner.getByText('No domains').count()).toBe(0);
    const name = owner.getByRole('textbox', { name: 'Key name' });
    await name.fill('x'.repeat(51));
    expect(await name.inputValue()).toHaveLength(51); // not cut short
    await owner.getByText('Too long: 51 characters. A key name has at most 50.').waitFor();
    await owner.getByRole('button', { name: 'Generate API key' }).click();
    await poll(() => owner.getByRole('alert').innerText()).toBe('The key name is 51 characters long; at most 50 are allowed.');
    expect((await api.get(`/v1/organizations/${orgId}/api-keys`)).body.items).toEqual([]);
    await expectAccessible(owner, 'the create form with its notes');
    // The next success clears the old alert.
    await name.fill('Shop Widget');
    await owner.getByRole('button', { name: 'Generate API key' }).click();
    const dialog = owner.getByRole('dialog', { name: 'Your new API key' });
    await dialog.waitFor();
    expect(await owner.getByRole('alert').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Done' }).click();
    const listed = (await api.get(`/v1/organizations/${orgId}/api-keys`)).body.items;
    expect(listed.map((k: { allowedDomains: string[] }) => k.allowedDomains)).toEqual([['https://shop.example', 'blog.example']]);
  });

  it('edits a key in place: name and allowed domains change, the key string stays', async () => {
    const before = (await api.get(`/v1/organizations/${orgId}/api-keys`)).body.items[0];
    const dialog = await openDialog(owner, 'Edit Shop Widget');
    await expectAccessible(owner, 'the edit dialog');
    expect(await dialog.getByRole('textbox', { name: 'Allowed domains' }).inputValue()).toBe('https://shop.example, blog.example');
    await dialog.getByRole('textbox', { name: 'Key name' }).fill('Shop Widget EU');
    await dialog.getByRole('textbox', { name: 'Allowed domains' }).fill('https://shop.example, eu.shop.example');
    await closeDialogWith(dialog, 'Save changes');
    const row = keyRow(owner, 'Shop Widget EU');
    await row.getByText('https://shop.example, eu.shop.example', { exact: true }).waitFor();
    const after = (await api.get(`/v1/organizations/${orgId}/api-keys/${before.id}`)).body;
    expect(after).toMatchObject({ name: 'Shop Widget EU', allowedDomains: ['https://shop.example', 'eu.shop.example'], key: before.key });
    // A secret key's dialog has the name only.
    await createKey({ name: 'Server', type: 'secret' });
    await owner.reload();
    const secretDialog = await openDialog(owner, 'Edit Server');
    await secretDialog.getByRole('textbox', { name: 'Key name' }).waitFor();
    expect(await secretDialog.getByRole('textbox', { name: 'Allowed domains' }).count()).toBe(0);
    await secretDialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('after a roll the old key shows Replaced and when it expires; the new one does not', async () => {
    const dialog = await openDialog(owner, 'Roll Server');
    await dialog.getByRole('spinbutton', { name: 'Grace period (hours)' }).fill('24');
    await dialog.getByRole('button', { name: 'Roll API key' }).click();
    await owner.getByRole('dialog', { name: 'Your new API key' }).getByRole('button', { name: 'Done' }).click();
    const rows = keyRow(owner, 'Server');
    await poll(() => rows.count()).toBe(2);
    const keys = (await api.get(`/v1/organizations/${orgId}/api-keys?type=secret`)).body.items as { id: string; replacedBy: string | null; expiresAt: string }[];
    const old = keys.find((k) => k.replacedBy)!;
    expect(keys.find((k) => k.id === old.replacedBy)).toBeDefined();
    const expiry = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' }).format(new Date(old.expiresAt));
    const replaced = rows.filter({ hasText: 'Replaced' });
    await poll(() => replaced.count()).toBe(1);
    await replaced.getByText(`expires ${expiry}`).waitFor();
    await expect(replaced.getByText('Active', { exact: true }).count()).resolves.toBe(1);
    await expectAccessible(owner, 'the key list with a replaced key');
  });

  it('revoke asks first, with the focus on Cancel: Enter alone revokes nothing', async () => {
    const shop = (await api.get(`/v1/organizations/${orgId}/api-keys?type=publishable`)).body.items[0];
    const dialog = await openDialog(owner, 'Revoke Shop Widget EU', 'Revoke Shop Widget EU?');
    await poll(() => focusedText(owner)).toBe('Cancel');
    await owner.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    expect((await api.get(`/v1/organizations/${orgId}/api-keys/${shop.id}`)).status).toBe(200);
  });

  it('removing a member and changing a role ask first, focus on Cancel; an old alert clears after the next success', async () => {
    const memberEmail = uniqueEmail('daily-member');
    expect((await api.post(`/v1/organizations/${orgId}/members`, { email: memberEmail, role: 'member' })).status).toBe(201);
    await goTo(owner, 'Members', 'Members');
    const roleBox = owner.getByRole('combobox', { name: `Role for ${memberEmail}` });
    await roleBox.waitFor();
    // An invitation the API refuses (already a member) leaves an alert...
    await owner.getByRole('textbox', { name: 'Email' }).fill(memberEmail);
    await owner.getByRole('button', { name: 'Invite' }).click();
    await owner.getByRole('alert').waitFor();

    await roleBox.selectOption('owner');
    let dialog = owner.getByRole('dialog', { name: `Change the role of ${memberEmail}?` });
    await dialog.waitFor();
    await poll(() => focusedText(owner)).toBe('Cancel');
    await expectAccessible(owner, 'the change-role dialog');
    await owner.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await roleBox.inputValue()).toBe('member'); // nothing changed
    const role = async () => (await api.get(`/v1/organizations/${orgId}/members`)).body.items.find((m: { email: string }) => m.email === memberEmail)?.role;
    expect(await role()).toBe('member');
    await roleBox.selectOption('admin');
    await closeDialogWith(dialog, 'Change role');
    await poll(role).toBe('admin');
    // ...which the next success clears.
    expect(await owner.getByRole('alert').count()).toBe(0);

    dialog = await openDialog(owner, `Remove ${memberEmail}`, `Remove ${memberEmail}?`);
    await poll(() => focusedText(owner)).toBe('Cancel');
    await expectAccessible(owner, 'the remove-member dialog');
    await dialog.getByRole('button', { name: 'Remove member' }).click();
    await owner.getByRole('rowheader', { name: memberEmail }).waitFor({ state: 'detached' });
    expect(await role()).toBeUndefined();
  });

  it('the audit log names targets as people know them, says changes in words, and filters by action and target', async () => {
    await goTo(owner, 'Audit log', 'Audit log');
    const table = owner.getByRole('table', { name: 'Audit log' });
    const shop = (await api.get(`/v1/organizations/${orgId}/api-keys?type=publishable`)).body.items[0];
    const renamed = table.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: 'api_key.updated' }) });
    // The page reads the log and the keys' names apart: wait for the name with its display key.
    await renamed.first().getByRole('cell', { name: `Key Shop Widget EU (${shop.displayKey})` }).waitFor();
    expect(await renamed.first().getByRole('cell').allInnerTexts()).toEqual([
      expect.any(String),
      ownerEmail,
      `Key Shop Widget EU (${shop.displayKey})`,
      'Name changed from Shop Widget to Shop Widget EU. Allowed domains changed from https://shop.example, blog.example to https://shop.example, eu.shop.example.',
    ]);
    const removed = table.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: 'member.removed' }) });
    await removed.getByRole('cell', { name: /^Member daily-member-.*@example\.com$/ }).waitFor();
    await expect(removed.getByRole('cell').nth(2).innerText()).resolves.toMatch(/^Member daily-member-.*@example\.com$/);
    await expectAccessible(owner, 'the audit log');

    await owner.getByRole('combobox', { name: 'Action' }).selectOption('api_key.created');
    await poll(async () => new Set(await table.getByRole('rowheader').allInnerTexts())).toEqual(new Set(['api_key.created']));
    await owner.getByRole('combobox', { name: 'Action' }).selectOption('');
    await owner.getByRole('textbox', { name: 'Target' }).fill('Shop Widget EU');
    await owner.getByRole('button', { name: 'Filter' }).click();
    await poll(async () => (await table.getByRole('cell').allInnerTexts()).filter((t) => t.startsWith('Key ')).every((t) => t === `Key Shop Widget EU (${shop.displayKey})`)).toBe(true);
    await poll(async () => (await table.getByRole('rowheader').allInnerTexts()).sort()).toEqual(['api_key.created', 'api_key.updated']);
  });

  it('at 375 px every page fits, the key list is cards with each name, status and Revoke on screen, and the header is short', async () => {
    const phone = await h.newPage(PHONE);
    await h.signIn(phone, ownerEmail);
    await phone.getByRole('heading', { name: 'Your API Keys' }).waitFor();
    await poll(() => keyRow(phone, 'Server').count()).toBe(2);
    await expectNoPageScroll(phone, 'API Keys');
    const rows = phone.getByRole('table', { name: 'Your API Keys' }).getByRole('row').filter({ has: phone.getByRole('rowheader') });
    for (let i = 0; i < (await rows.count()); i += 1) {
      const row = rows.nth(i);
      const name = await row.getByRole('rowheader').innerText();
      await expectOnScreen(phone, row.getByRole('rowheader'), `the name of ${name}`);
      await expectOnScreen(phone, row.locator('.badge[class*="status-"]').first(), `the status of ${name}`);
      await expectOnScreen(phone, row.getByRole('button', { name: `Revoke ${name}` }), `Revoke ${name}`);
    }
    await expectAccessible(phone, 'the API Keys page at 375 px');
    const header = await phone.evaluate(() => document.querySelector('header').getBoundingClientRect().height + document.querySelector('nav').getBoundingClientRect().height);
    expect(header, 'header and navigation height on a phone').toBeLessThanOrEqual(110);
    for (const [link, heading] of [['Assistants', 'Assistants'], ['Members', 'Members'], ['Usage', 'Usage'], ['Audit log', 'Audit log'], ['Databases', 'Databases'], ['Plan and credits', 'Plan and credits'], ['Organizations', 'Organizations']]) {
      await goTo(phone, link!, heading!);
      await phone.waitForLoadState('networkidle');
      await expectNoPageScroll(phone, heading);
    }
    await goTo(phone, 'Members', 'Members');
    await expectOnScreen(phone, phone.getByRole('button', { name: `Remove ${ownerEmail}` }), 'Remove on the members page');

    // The dialogs fit too: Edit, and a new widget key's with its snippet.
    await goTo(phone, 'API Keys', 'API Keys');
    const edit = await openDialog(phone, 'Edit Shop Widget EU');
    await edit.getByRole('combobox', { name: 'Assistant' }).waitFor();
    await expectNoPageScroll(phone, 'the edit dialog');
    await expectOnScreen(phone, edit.getByRole('button', { name: 'Save changes' }), 'Save changes');
    await expectAccessible(phone, 'the edit dialog at 375 px');
    await edit.getByRole('button', { name: 'Cancel' }).click();
    await createKeyInPortal(phone, 'Phone Widget', 'Widget', 'phone.example');
    const created = phone.getByRole('dialog', { name: 'Your new API key' });
    await expectNoPageScroll(phone, 'the new-key dialog');
    await expectOnScreen(phone, created.getByRole('textbox', { name: 'Embed snippet' }), 'the embed snippet');
    await expectOnScreen(phone, created.getByRole('button', { name: 'Done' }), 'Done');
    await expectAccessible(phone, 'the new-key dialog at 375 px');
    await created.getByRole('button', { name: 'Done' }).click();
  });

  it('at 1,440 px a long name does not push the row buttons off screen', async () => {
    await createKey({ name: 'A'.repeat(50), type: 'secret' });
    const wide = await h.newPage({ width: 1440, height: 900 });
    await h.signIn(wide, ownerEmail);
    const revoke = wide.getByRole('button', { name: `Revoke ${'A'.repeat(50)}` });
    await revoke.waitFor();
    await expectOnScreen(wide, revoke, 'Revoke of the long-named key');
    await expectNoPageScroll(wide);
  });

  it('the header names the organization once; the portal has a favicon; the widget demo snippet takes the focus', async () => {
    await api.post('/v1/organizations', { name: 'Second Co' });
    await owner.reload();
    const header = owner.locator('header');
    await header.getByRole('combobox', { name: 'Organization' }).waitFor();
    const named = await header.evaluate((el: any) => {
      const walker = el.ownerDocument.createTreeWalker(el, 4);
      let count = 0;
      for (let node = walker.nextNode(); node; node = walker.nextNode()) if (!node.parentElement.closest('select') && node.textContent.includes('Daily Co')) count += 1;
      return count;
    });
    expect(named, 'the organization name outside the switcher').toBe(0);

    const icon = await owner.evaluate(() => document.querySelector('link[rel~="icon"]')?.href ?? '');
    expect(icon).not.toBe('data:,');
    const res = await fetch(icon);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\//);

    const demo = await h.newPage();
    await demo.goto(`${h.portal}/widget-demo.html`);
    expect(await demo.locator('pre').getAttribute('tabindex')).toBe('0');
    const scrollable = await new AxeBuilder({ page: demo }).withRules(['scrollable-region-focusable']).analyze();
    expect(scrollable.violations).toEqual([]);
  });

  it('an operator finds any organization by name or id prefix and opens its plan, billing and credits', async () => {
    const operator = await h.newPage();
    await h.signIn(operator, uniqueEmail('daily-operator'), true);
    await goTo(operator, 'All organizations', 'All organizations');
    await operator.getByRole('searchbox', { name: 'Search organizations' }).fill('daily c');
    await operator.getByRole('button', { name: 'Search' }).click();
    await operator.getByRole('link', { name: 'Daily Co', exact: true }).waitFor();
    await expectAccessible(operator, 'the All organizations page');
    await operator.getByRole('searchbox', { name: 'Search organizations' }).fill(orgId.slice(0, -3));
    await operator.getByRole('button', { name: 'Search' }).click();
    await poll(() => operator.getByRole('table', { name: 'Organizations found' }).getByRole('link').allInnerTexts()).toEqual(['Daily Co']);
    await operator.getByRole('link', { name: 'Daily Co', exact: true }).click();
    await operator.getByRole('heading', { level: 1, name: 'Plan and credits' }).waitFor();
    await operator.getByRole('combobox', { name: 'Plan' }).waitFor();
    await operator.getByRole('button', { name: 'Grant credits' }).waitFor();
    expect(await operator.getByRole('definition').first().innerText()).toBe('Daily Co');

    // Billing by tokens, on the same page: the rates appear only for that mode.
    const billing = operator.getByRole('combobox', { name: 'Billing' });
    expect(await billing.inputValue()).toBe('reply');
    expect(await operator.getByRole('spinbutton', { name: 'Credits per 1,000 input tokens' }).count()).toBe(0);
    await billing.selectOption({ label: 'Per tokens' });
    await operator.getByRole('spinbutton', { name: 'Credits per 1,000 input tokens' }).fill('2');
    await operator.getByRole('spinbutton', { name: 'Credits per 1,000 output tokens' }).fill('6');
    await expectAccessible(operator, 'the billing controls');
    await operator.getByRole('button', { name: 'Save billing' }).click();
    await operator.getByRole('status').filter({ hasText: 'Billing saved: 2 credits per 1,000 input tokens, 6 per 1,000 output tokens.' }).waitFor();
    expect((await api.get(`/v1/organizations/${orgId}`)).body.billing).toEqual({ mode: 'tokens', inputPer1k: 2, outputPer1k: 6 });
    await operator.getByRole('definition').filter({ hasText: '2 credits per 1,000 input tokens, 6 per 1,000 output tokens' }).waitFor();
    // The API's refusal (both rates 0) shows in an alert; then back to one credit per reply.
    await operator.getByRole('spinbutton', { name: 'Credits per 1,000 input tokens' }).fill('0');
    await operator.getByRole('spinbutton', { name: 'Credits per 1,000 output tokens' }).fill('0');
    await operator.getByRole('button', { name: 'Save billing' }).click();
    await operator.getByRole('alert').waitFor();
    await billing.selectOption({ label: 'Per reply' });
    await operator.getByRole('button', { name: 'Save billing' }).click();
    await poll(async () => (await api.get(`/v1/organizations/${orgId}`)).body.billing).toEqual({ mode: 'reply' });
    expect(await operator.getByRole('alert').count()).toBe(0);
    // The owner reads the billing but has no control over it.
    await goTo(owner, 'Plan and credits', 'Plan and credits');
    await owner.getByRole('definition').filter({ hasText: 'One credit per reply' }).waitFor();
    expect(await owner.getByRole('combobox', { name: 'Billing' }).count()).toBe(0);
  });

  it('an operator without an organization is pointed to All organizations, then reads the one opened without owner controls', async () => {
    // On a phone: these pages fit too.
    const operator = await h.newPage(PHONE);
    await h.signIn(operator, uniqueEmail('daily-viewer'), true);
    await goTo(operator, 'API Keys', 'Choose an organization');
    expect(await operator.getByText('You are not in an organization yet').count()).toBe(0);
    await goTo(operator, 'Organizations', 'Organizations');
    await operator.getByText('As an operator you can open any organization from').waitFor();
    expect(await operator.getByText('You are not in an organization yet').count()).toBe(0);
    await goTo(operator, 'Usage', 'Choose an organization');
    await expectNoPageScroll(operator, 'Choose an organization');
    await expectAccessible(operator, 'an operator without an organization');
    await operator.getByRole('main').getByRole('link', { name: 'All organizations' }).click();
    await operator.getByRole('searchbox', { name: 'Search organizations' }).fill(orgId);
    await operator.getByRole('button', { name: 'Search' }).click();
    await operator.getByRole('link', { name: 'Daily Co', exact: true }).waitFor();
    await expectNoPageScroll(operator, 'All organizations');
    await expectAccessible(operator, 'All organizations at 375 px');
    await operator.getByRole('link', { name: 'Daily Co', exact: true }).click();
    await operator.getByRole('combobox', { name: 'Plan' }).waitFor();
    await operator.getByText('as an operator: read only').waitFor();
    await operator.getByRole('combobox', { name: 'Billing' }).selectOption('tokens');
    await expectNoPageScroll(operator, 'Plan and credits of an organization viewed');
    await expectAccessible(operator, 'Plan and credits at 375 px');
    await goTo(operator, 'API Keys', 'API Keys');
    await keyRow(operator, 'Shop Widget EU').waitFor();
    await expectNoPageScroll(operator, 'API Keys of an organization viewed');
    expect(await operator.getByRole('button', { name: /^(Create API key|Edit|Disable|Enable|Roll|Revoke)/ }).count()).toBe(0);
    await goTo(operator, 'Members', 'Members');
    await operator.getByRole('rowheader', { name: `${ownerEmail}` }).waitFor();
    expect(await operator.getByRole('button', { name: /^(Invite|Remove)/ }).count()).toBe(0);
    await goTo(operator, 'Audit log', 'Audit log');
    await operator.getByRole('table', { name: 'Audit log' }).getByRole('row').nth(1).waitFor();
    await expectAccessible(operator, 'an organization viewed by an operator');
    await operator.getByRole('button', { name: 'Stop viewing' }).click();
    await operator.getByRole('heading', { level: 1, name: 'All organizations' }).waitFor();
    await goTo(operator, 'API Keys', 'Choose an organization');
  });

  it('an operator who is a member of an organization gets a member\'s controls there, not an owner\'s', async () => {
    const email = uniqueEmail('daily-operator-member');
    expect((await api.post(`/v1/organizations/${orgId}/members`, { email, role: 'member' })).status).toBe(201);
    const operator = await h.newPage();
    await h.signIn(operator, email, true);
    await operator.getByRole('heading', { level: 1, name: 'API Keys', exact: true }).waitFor();
    await keyRow(operator, 'Shop Widget EU').waitFor();
    expect(await operator.getByRole('button', { name: /^(Create API key|Edit|Disable|Enable|Roll|Revoke)/ }).count()).toBe(0);
    await goTo(operator, 'Assistants', 'Assistants');
    await operator.getByRole('table', { name: 'Your assistants' }).waitFor();
    expect(await operator.getByRole('button', { name: 'Create assistant' }).count()).toBe(0);
    await goTo(operator, 'Members', 'Members');
    expect(await operator.getByRole('button', { name: /^(Invite|Remove)/ }).count()).toBe(0);
  });
});
