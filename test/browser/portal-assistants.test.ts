// Assistants and usage in the portal (docs/api.md "Portal (web)", "Chat backends (upstreams) and
// assistants"), in headless Chromium against the local API with two upstreams (echo, and an
// OpenAI-compatible one with models that is never called): an owner creates, edits, makes default
// and deletes assistants; a database and widget keys get theirs; a member reads without owner
// controls; usage shows the period's totals and each key first, then the chart, then the days,
// tokens included. axe on every new page and dialog, at 375 px too.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ApiClient } from '../support/api.ts';
import { closeDialogWith, createKeyInPortal, expectAccessible, expectNoPageScroll, goTo, keyRow, openDialog, PHONE, poll, PortalHarness, uniqueEmail } from './portal-support.ts';
import { browserAvailability } from './support.ts';

declare const document: any;

const availability = browserAvailability();
const SCREENSHOTS = resolve(import.meta.dirname, '../../docs/images');
/** `UPDATE_SCREENSHOTS=1` rewrites docs/images/portal-assistants.png and portal-usage.png from this run. */
const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';
const saved = { upstreams: process.env.KEYGATE_UPSTREAMS, default: process.env.KEYGATE_DEFAULT_UPSTREAM };

let h: PortalHarness;
let owner: Page;
let api: ApiClient;
let orgId = '';
const ownerEmail = uniqueEmail('assistants-owner');

interface AssistantBody {
  id: string;
  name: string;
  upstream: string;
  model: string | null;
  instructions: string;
  maxOutputTokens: number;
  maxInputTokens: number;
  temperature: number | null;
}

beforeAll(async () => {
  if (!availability.run) return;
  process.env.KEYGATE_UPSTREAMS = JSON.stringify({
    local: { kind: 'echo' },
    ollama: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-never-called', models: ['llama3.2', 'qwen3'] },
  });
  delete process.env.KEYGATE_DEFAULT_UPSTREAM;
  h = await PortalHarness.start();
  if (updateScreenshots) mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await h?.stop();
  for (const [name, value] of [['KEYGATE_UPSTREAMS', saved.upstreams], ['KEYGATE_DEFAULT_UPSTREAM', saved.default]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

const assistants = async (): Promise<AssistantBody[]> => (await api.get(`/v1/organizations/${orgId}/assistants`)).body.items;
const assistantNamed = async (name: string) => (await assistants()).find((a) => a.name === name);
const assistantRow = (page: Page, name: string) =>
  page.getByRole('table', { name: 'Your assistants' }).getByRole('row').filter({ has: page.getByRole('rowheader', { name: new RegExp(`^${name}( |$)`) }) });

describe.skipIf(!availability.run)('assistants and usage in the portal', () => {
  it('lists the Default assistant and creates one on an upstream with models', async () => {
    ({ page: owner, orgId } = await h.ownerWithOrganization(ownerEmail, 'Assist Co'));
    api = await h.apiAs(owner);
    await goTo(owner, 'Assistants', 'Assistants');
    await assistantRow(owner, 'Default').getByText('Organization default').waitFor();
    await expectAccessible(owner, 'the Assistants page');

    await owner.getByRole('textbox', { name: 'Assistant name' }).fill('Support');
    const upstream = owner.getByRole('combobox', { name: 'Upstream' });
    // echo has no models: no Model combobox; the OpenAI-compatible upstream offers its own.
    expect(await upstream.inputValue()).toBe('local');
    expect(await owner.getByRole('combobox', { name: 'Model' }).count()).toBe(0);
    await upstream.selectOption('ollama');
    const model = owner.getByRole('combobox', { name: 'Model' });
    expect(await model.locator('option').allInnerTexts()).toEqual(['llama3.2', 'qwen3']);
    await model.selectOption('qwen3');
    await owner.getByRole('textbox', { name: 'Instructions' }).fill('Answer questions about orders, briefly.');
    await owner.getByRole('spinbutton', { name: 'Max output tokens' }).fill('512');
    await expectAccessible(owner, 'the create-assistant form');
    await owner.getByRole('button', { name: 'Create assistant' }).click();
    const row = assistantRow(owner, 'Support');
    await row.waitFor();
    expect(await row.getByRole('cell').allInnerTexts()).toEqual(['ollama', 'qwen3', '512', 'Answer questions about orders, briefly.', expect.stringContaining('Edit')]);
    expect(await assistantNamed('Support')).toMatchObject({
      upstream: 'ollama',
      model: 'qwen3',
      instructions: 'Answer questions about orders, briefly.',
      maxOutputTokens: 512,
      maxInputTokens: 8000,
      temperature: null,
    });
  });

  it('edits an assistant in a dialog, refuses a duplicate name in an alert, and makes one the default', async () => {
    const dialog = await openDialog(owner, 'Edit Support');
    await expectAccessible(owner, 'the edit-assistant dialog');
    expect(await dialog.getByRole('combobox', { name: 'Model' }).inputValue()).toBe('qwen3');
    await dialog.getByRole('combobox', { name: 'Model' }).selectOption('llama3.2');
    await dialog.getByRole('spinbutton', { name: 'Temperature' }).fill('0.3');
    await closeDialogWith(dialog, 'Save changes');
    await poll(async () => (await assistantNamed('Support'))?.model).toBe('llama3.2');
    expect((await assistantNamed('Support'))?.temperature).toBe(0.3);

    // The API's refusal shows in the dialog, which stays open.
    await owner.getByRole('button', { name: 'Edit Support' }).click();
    await dialog.getByRole('textbox', { name: 'Assistant name' }).fill('Default');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.getByRole('alert').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await owner.getByRole('button', { name: 'Make default Support' }).click();
    await assistantRow(owner, 'Support').getByText('Organization default').waitFor();
    const org = (await api.get(`/v1/organizations/${orgId}`)).body;
    expect(org.defaultAssistantId).toBe((await assistantNamed('Support'))!.id);
    // And back, so Default answers by default again.
    await owner.getByRole('button', { name: 'Make default Default' }).click();
    await assistantRow(owner, 'Default').getByText('Organization default').waitFor();
  });

  it('a database names its assistant, and its new widget keys are pinned to it', async () => {
    const db = (await api.post(`/v1/organizations/${orgId}/databases`, { name: 'Orders' })).body;
    await goTo(owner, 'Databases', 'Databases');
    await owner.getByRole('link', { name: 'Orders' }).click();
    const assistant = owner.getByRole('combobox', { name: 'Assistant' });
    await poll(() => assistant.locator('option:checked').innerText()).toBe('Organization default (Default)');
    await assistant.selectOption({ label: 'Support' });
    await owner.getByRole('button', { name: 'Save assistant' }).click();
    await owner.getByRole('status').filter({ hasText: 'Saved: Support answers for this database.' }).waitFor();
    const support = (await assistantNamed('Support'))!;
    const stored = (await api.get(`/v1/organizations/${orgId}/databases`)).body.items.find((d: { id: string }) => d.id === db.id);
    expect(stored.assistantId).toBe(support.id);
    await expectAccessible(owner, 'a database page with its assistant');

    await owner.getByRole('button', { name: 'Create New API Key' }).click();
    const keyAssistant = owner.getByRole('form', { name: 'New widget key for this database' }).getByRole('combobox', { name: 'Assistant' });
    await poll(() => keyAssistant.locator('option:checked').innerText()).toBe("This database's (Support)");
    await owner.getByRole('textbox', { name: 'Key name' }).fill('Orders Widget');
    await owner.getByRole('button', { name: 'Generate API key' }).click();
    await owner.getByRole('dialog', { name: 'Your new API key' }).getByRole('button', { name: 'Done' }).click();
    const keys = (await api.get(`/v1/organizations/${orgId}/api-keys?type=publishable`)).body.items;
    expect(keys.find((k: { name: string }) => k.name === 'Orders Widget')).toMatchObject({ databaseId: db.id, assistantId: support.id });
  });

  it('a widget key chooses its assistant at creation and in Edit', async () => {
    await goTo(owner, 'API Keys', 'API Keys');
    await owner.getByRole('button', { name: 'Create API key' }).click();
    await owner.getByRole('radio', { name: 'Widget' }).check();
    const choice = owner.getByRole('combobox', { name: 'Assistant' });
    await poll(() => choice.locator('option').allInnerTexts()).toEqual(['Organization default (Default)', 'Default', 'Support']);
    await choice.selectOption({ label: 'Support' });
    await expectAccessible(owner, 'the widget-key form with its assistant');
    await owner.getByRole('textbox', { name: 'Key name' }).fill('Shop Widget');
    await owner.getByRole('button', { name: 'Generate API key' }).click();
    await owner.getByRole('dialog', { name: 'Your new API key' }).getByRole('button', { name: 'Done' }).click();
    const support = (await assistantNamed('Support'))!;
    const defaultOne = (await assistantNamed('Default'))!;
    const shop = async () => (await api.get(`/v1/organizations/${orgId}/api-keys?type=publishable`)).body.items.find((k: { name: string }) => k.name === 'Shop Widget');
    expect((await shop()).assistantId).toBe(support.id);
    await keyRow(owner, 'Shop Widget').getByText('Assistant: Support').waitFor();

    // A secret key names its assistant per request: its form has no Assistant combobox.
    await owner.getByRole('button', { name: 'Create API key' }).click();
    expect(await owner.getByRole('combobox', { name: 'Assistant' }).count()).toBe(0);
    await owner.getByRole('button', { name: 'Cancel' }).click();

    await keyRow(owner, 'Shop Widget').getByRole('button', { name: 'Edit Shop Widget' }).click();
    const dialog = owner.getByRole('dialog', { name: 'Edit Shop Widget' });
    const edit = dialog.getByRole('combobox', { name: 'Assistant' });
    await poll(() => edit.locator('option:checked').innerText()).toBe('Support');
    await edit.selectOption({ label: 'Default' });
    await closeDialogWith(dialog, 'Save changes');
    await poll(async () => (await shop()).assistantId).toBe(defaultOne.id);
    await keyRow(owner, 'Shop Widget').getByText('Assistant: Default').waitFor();
  });

  it('delete asks first; an assistant still in use is refused in the dialog, an unused one goes', async () => {
    await goTo(owner, 'Assistants', 'Assistants');
    let dialog = await openDialog(owner, 'Delete Support', 'Delete Support?');
    await poll(() => owner.evaluate(() => document.activeElement?.textContent ?? '')).toBe('Cancel');
    await expectAccessible(owner, 'the delete-assistant dialog');
    await dialog.getByRole('button', { name: 'Delete assistant' }).click();
    await dialog.getByRole('alert').waitFor(); // the Orders database names it: 409
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await assistantNamed('Support')).toBeDefined();

    await owner.getByRole('textbox', { name: 'Assistant name' }).fill('Scratch');
    await owner.getByRole('button', { name: 'Create assistant' }).click();
    await assistantRow(owner, 'Scratch').waitFor();
    dialog = await openDialog(owner, 'Delete Scratch', 'Delete Scratch?');
    await closeDialogWith(dialog, 'Delete assistant');
    await assistantRow(owner, 'Scratch').waitFor({ state: 'detached' });
    expect(await assistantNamed('Scratch')).toBeUndefined();
  });

  it('a member reads the assistants and a database assistant without owner controls', async () => {
    const memberEmail = uniqueEmail('assistants-member');
    expect((await api.post(`/v1/organizations/${orgId}/members`, { email: memberEmail, role: 'member' })).status).toBe(201);
    const member = await h.newPage();
    await h.signIn(member, memberEmail);
    await goTo(member, 'Assistants', 'Assistants');
    await assistantRow(member, 'Support').waitFor();
    expect(await member.getByRole('button', { name: 'Create assistant' }).count()).toBe(0);
    expect(await member.getByRole('button', { name: /^(Edit|Delete|Make default) / }).count()).toBe(0);
    await expectAccessible(member, 'the Assistants page of a member');
    if (updateScreenshots) await member.screenshot({ path: resolve(SCREENSHOTS, 'portal-assistants.png') });
    await goTo(member, 'Databases', 'Databases');
    await member.getByRole('link', { name: 'Orders' }).click();
    await member.getByRole('heading', { name: 'Widget Integration' }).waitFor();
    expect(await member.getByRole('combobox', { name: 'Assistant' }).isDisabled()).toBe(true);
    expect(await member.getByRole('button', { name: 'Save assistant' }).count()).toBe(0);
  });

  it('usage: the period first (totals, then each key used), then the chart, then only the days with use, tokens included', async () => {
    await goTo(owner, 'API Keys', 'API Keys');
    const secret = await createKeyInPortal(owner, 'Chat Server', 'Secret');
    await owner.getByRole('dialog', { name: 'Your new API key' }).getByRole('button', { name: 'Done' }).click();
    const chat = new ApiClient(h.keygate.url, { 'X-API-Key': secret });
    for (const message of ['Where is my order?', 'And the invoice?']) {
      const res = await chat.post('/v1/chat/message', { message });
      expect(res.status, res.text).toBe(200);
    }
    const today = new Date().toISOString().slice(0, 10);
    const orgToday = async () => (await api.get(`/v1/organizations/${orgId}/usage?days=30`)).body.items.find((d: { date: string }) => d.date === today);
    await poll(async () => (await orgToday()).outputTokens > 0).toBe(true);
    const day = await orgToday();
    expect(day).toMatchObject({ requests: 2, credits: 2 });

    await goTo(owner, 'Usage', 'Usage');
    const totals = owner.locator('dl.totals');
    await poll(() => totals.getByRole('definition').allInnerTexts()).toEqual(['2', '0', '2', String(day.inputTokens), String(day.outputTokens)]);
    expect(await totals.getByRole('term').allInnerTexts()).toEqual(['Requests', 'Rate limited', 'Credits', 'Input tokens', 'Output tokens']);
    const perKey = owner.getByRole('table', { name: 'Usage per key, last 30 days' });
    const chatRow = perKey.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: /^Chat Server/ }) });
    await poll(() => chatRow.getByRole('cell').allInnerTexts()).toEqual(['2', '0', '2', String(day.inputTokens), String(day.outputTokens)]);
    // Keys without use are counted, not listed.
    expect(await perKey.getByRole('rowheader').count()).toBe(1);
    await owner.getByText(/other keys were not used in this period\.$/).waitFor();

    const days = owner.getByRole('table', { name: 'Usage of Assist Co per UTC day' });
    expect(await days.getByRole('columnheader').allInnerTexts()).toEqual(['Date', 'Requests', 'Rate limited', 'Credits', 'Input tokens', 'Output tokens']);
    await poll(() => days.getByRole('rowheader').allInnerTexts()).toEqual([today]);
    expect(await days.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: today }) }).getByRole('cell').allInnerTexts()).toEqual([
      '2', '0', '2', String(day.inputTokens), String(day.outputTokens),
    ]);
    await owner.getByText('29 days without any use are left out.').waitFor();
    // In this order: the summary, the chart, the table.
    const order = await owner.evaluate(() =>
      [...document.querySelectorAll('dl.totals, figure.chart svg, table')].map((el: any) => (el.tagName === 'TABLE' ? el.querySelector('caption').textContent : el.tagName)),
    );
    expect(order).toEqual(['DL', 'Usage per key, last 30 days', 'svg', 'Usage of Assist Co per UTC day']);
    await owner.getByRole('img', { name: /^Usage of Assist Co: 2 requests, 0 rate limited, 2 credits over 30 UTC days/ }).waitFor();
    await expectAccessible(owner, 'the usage page with a summary');
    if (updateScreenshots) await owner.screenshot({ path: resolve(SCREENSHOTS, 'portal-usage.png'), fullPage: true });

    // A key never used: the summary stays, the days say there was no use.
    await owner.getByRole('combobox', { name: 'Key' }).selectOption({ label: `Shop Widget (${(await api.get(`/v1/organizations/${orgId}/api-keys?type=publishable`)).body.items.find((k: { name: string }) => k.name === 'Shop Widget').displayKey})` });
    await owner.getByText('No use in the last 30 days.').waitFor();
    expect(await owner.getByRole('table', { name: /per UTC day$/ }).count()).toBe(0);
  });

  it('the audit log names assistants and says an assistant change in words', async () => {
    await goTo(owner, 'Audit log', 'Audit log');
    const table = owner.getByRole('table', { name: 'Audit log' });
    const entry = (action: string) => table.getByRole('row').filter({ has: owner.getByRole('rowheader', { name: action }) });
    await entry('assistant.updated').first().waitFor();
    await poll(() => entry('assistant.updated').getByRole('cell').allInnerTexts()).toContainEqual(
      expect.stringContaining('Model changed from qwen3 to llama3.2. Temperature set to 0.3.'),
    );
    expect(await entry('assistant.updated').last().getByRole('cell').nth(2).innerText()).toBe('Assistant Support');
    const keyChanges = await entry('api_key.updated').getByRole('cell').allInnerTexts();
    expect(keyChanges).toContain('Assistant changed from Support to Default.');
    expect(await entry('database.updated').getByRole('cell').allInnerTexts()).toContain('Assistant set to Support.');
  });

  it('the plan page shows the credits held by replies in progress when the API reports some', async () => {
    const orgPath = new RegExp(`/v1/organizations/${orgId}$`);
    await owner.route(orgPath, async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, json: { ...(await res.json()), creditsHeld: 7 } });
    });
    try {
      await goTo(owner, 'Plan and credits', 'Plan and credits');
      await owner.getByRole('definition').filter({ hasText: '7 credits held by replies in progress' }).waitFor();
      await expectAccessible(owner, 'the plan page with held credits');
    } finally {
      await owner.unroute(orgPath);
    }
    await owner.reload();
    await owner.getByRole('definition').filter({ hasText: 'One credit per reply' }).waitFor();
    expect(await owner.getByText('held by replies in progress').count()).toBe(0);
  });

  it('at 375 px the assistants, a database and usage pages fit, their rows as cards with every action on screen', async () => {
    const phone = await h.newPage(PHONE);
    await h.signIn(phone, ownerEmail);
    await goTo(phone, 'Assistants', 'Assistants');
    await assistantRow(phone, 'Support').waitFor();
    await expectNoPageScroll(phone, 'Assistants');
    for (const name of ['Edit Support', 'Delete Support']) {
      const box = (await phone.getByRole('button', { name }).boundingBox())!;
      expect(box.x + box.width, `${name} on screen`).toBeLessThanOrEqual(PHONE.width);
    }
    await expectAccessible(phone, 'the Assistants page at 375 px');
    await openDialog(phone, 'Edit Support');
    await expectNoPageScroll(phone, 'the edit-assistant dialog');
    await expectAccessible(phone, 'the edit-assistant dialog at 375 px');
    await phone.getByRole('button', { name: 'Cancel' }).click();

    await goTo(phone, 'Databases', 'Databases');
    await phone.getByRole('link', { name: 'Orders' }).click();
    await phone.getByRole('button', { name: 'Save assistant' }).waitFor();
    await expectNoPageScroll(phone, 'a database page');
    await expectAccessible(phone, 'a database page at 375 px');

    await goTo(phone, 'Usage', 'Usage');
    await phone.getByRole('table', { name: 'Usage per key, last 30 days' }).waitFor();
    await expectNoPageScroll(phone, 'Usage');
    await expectAccessible(phone, 'the usage page at 375 px');
  });
});
