// Data export (GET /api/export): an organization's sessions, messages or daily usage created in
// [from, to), oldest first, as JSON `{items, nextCursor}` or CSV (nextCursor in X-Next-Cursor).
// Sessions and messages page through their tables' byOrganization index (organizationId,
// createdAt); the organization always comes from the key, never from the query or the cursor.
import * as z from 'zod';
import type { MessageItem } from '../db/messages.ts';
import { queryOrganizationRange, sessionStatus, type SessionItem } from '../db/sessions.ts';
import { dailyUsage, type DailyUsage } from '../db/usage.ts';
import { publicConversationId } from '../domain/conversations.ts';
import { validationError } from '../domain/errors.ts';
import { DAY_MS, epochSeconds, iso, utcDay } from '../domain/time.ts';
import { intQuery, parseInput } from '../domain/validation.ts';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';

export const EXPORT_RESOURCES = ['sessions', 'messages', 'usage'] as const;
export type ExportResource = (typeof EXPORT_RESOURCES)[number];
export const MAX_EXPORT_RANGE_DAYS = 90;
export const DEFAULT_EXPORT_RANGE_MS = DAY_MS;
/** A page stops early once its rows reach this size, to stay well inside Lambda's 6 MB response. */
export const EXPORT_PAGE_BYTES = 4 * 1024 * 1024;
export const NEXT_CURSOR_HEADER = 'X-Next-Cursor';

const instant = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: 'must be an ISO-8601 date (YYYY-MM-DD) or date-time with a time zone (e.g. 2025-01-31T12:00:00Z)',
});

export const exportQuery = z.object({
  resource: z.enum(EXPORT_RESOURCES, { error: 'must be sessions, messages or usage' }),
  from: instant.optional(),
  to: instant.optional(),
  format: z.enum(['json', 'csv'], { error: 'must be json or csv' }).optional(),
  limit: intQuery(1, 1000, 100),
  cursor: z.string().max(1024, 'is not a cursor this API returned').optional(),
});

export interface ExportRequest {
  resource: ExportResource;
  from: Date;
  to: Date;
  format: 'json' | 'csv';
  limit: number;
  cursor: string | undefined;
}

/** Parse and check the query: `to` after `from`, at most 90 days apart; default the last 24 hours. */
export function parseExportQuery(query: Record<string, string>, now: Date): ExportRequest {
  const q = parseInput(exportQuery, query);
  const to = q.to ? new Date(q.to) : q.from ? new Date(Math.max(now.getTime(), Date.parse(q.from) + 1)) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_EXPORT_RANGE_MS);
  if (to.getTime() <= from.getTime()) throw validationError([{ field: 'to', message: 'must be after from' }]);
  if (to.getTime() - from.getTime() > MAX_EXPORT_RANGE_DAYS * DAY_MS) {
    throw validationError([{ field: 'from', message: `the range must be at most ${MAX_EXPORT_RANGE_DAYS} days` }]);
  }
  return { resource: q.resource, from, to, format: q.format ?? 'json', limit: q.limit, cursor: q.cursor };
}

export const COLUMNS = {
  sessions: ['id', 'type', 'status', 'keyId', 'origin', 'databaseId', 'createdAt', 'expiresAt', 'endedAt', 'metadata'],
  messages: ['id', 'sessionId', 'role', 'content', 'keyId', 'createdAt'],
  usage: ['date', 'requests', 'rateLimited', 'credits', 'inputTokens', 'outputTokens'],
} as const;

export type ExportRow = Record<string, unknown>;

export interface ExportPage {
  items: ExportRow[];
  nextCursor: string | null;
}

// Conversations are exported under the id the client knows (docs/api.md "Routes"); keyId tells
// apart publishable keys' conversations that share a name.
function sessionRow(item: SessionItem, now: Date): ExportRow {
  return {
    id: publicConversationId(item.id),
    type: item.type,
    status: sessionStatus(item, now),
    keyId: item.keyId,
    origin: item.origin,
    databaseId: item.databaseId,
    createdAt: item.createdAt,
    expiresAt: item.expiresAt,
    endedAt: item.endedAt ?? null,
    metadata: item.metadata,
  };
}

function messageRow(item: MessageItem): ExportRow {
  return {
    id: item.id,
    sessionId: publicConversationId(item.sessionId),
    role: item.role,
    content: item.content,
    keyId: item.keyId,
    createdAt: item.createdAt,
  };
}

/** The index position of an item, as the cursor carries it (without the organization). */
function position(resource: 'sessions' | 'messages', item: Record<string, unknown>): Record<string, string> {
  const base = { r: resource, id: String(item.id), createdAt: String(item.createdAt) };
  return resource === 'messages' ? { ...base, sessionId: String(item.sessionId) } : base;
}

function startKey(request: ExportRequest, organizationId: string): Record<string, unknown> | undefined {
  if (!request.cursor) return undefined;
  const resource = request.resource as 'sessions' | 'messages';
  const fields = resource === 'messages' ? (['r', 'id', 'createdAt', 'sessionId'] as const) : (['r', 'id', 'createdAt'] as const);
  const p = decodeCursor(request.cursor, fields as readonly string[], (c) => {
    const at = Date.parse(c.createdAt!);
    // A cursor of another resource, outside this range or with an empty key would make DynamoDB refuse the query.
    if (c.id === '' || (resource === 'messages' && c.sessionId === '')) return false;
    // Items hold canonical ISO-8601 UTC times (iso()); any other spelling of a time Date.parse takes
    // (`Tue, 01 Dec 2026 …`, `+002026-…`) sorts outside the key range and DynamoDB refuses the query.
    if (Number.isNaN(at) || iso(new Date(at)) !== c.createdAt) return false;
    return c.r === resource && at >= request.from.getTime() && at < request.to.getTime();
  });
  const { r: _r, ...key } = p;
  return { ...key, organizationId };
}

async function rangePage(
  request: ExportRequest,
  organizationId: string,
  now: Date,
): Promise<ExportPage> {
  const resource = request.resource as 'sessions' | 'messages';
  const page = await queryOrganizationRange<Record<string, unknown>>(
    resource,
    organizationId,
    request.from,
    request.to,
    request.limit,
    startKey(request, organizationId),
  );
  const nowSeconds = epochSeconds(now);
  const items: ExportRow[] = [];
  let bytes = 0;
  let passed: Record<string, unknown> | undefined;
  for (const item of page.items) {
    // Past retention (TTL has not removed it yet): skipped, never exported.
    if (typeof item.ttl === 'number' && item.ttl <= nowSeconds) {
      passed = item;
      continue;
    }
    const row =
      resource === 'sessions' ? sessionRow(item as unknown as SessionItem, now) : messageRow(item as unknown as MessageItem);
    const size = Buffer.byteLength(JSON.stringify(row));
    if (items.length > 0 && bytes + size > EXPORT_PAGE_BYTES) {
      // Too big for one response: stop here and continue after the last row read.
      return { items, nextCursor: encodeCursor(position(resource, passed!)) };
    }
    items.push(row);
    bytes += size;
    passed = item;
  }
  return { items, nextCursor: page.last ? encodeCursor(position(resource, page.last)) : null };
}

function usageRows(usage: DailyUsage[], request: ExportRequest): ExportRow[] {
  const first = utcDay(request.from);
  const last = utcDay(new Date(request.to.getTime() - 1));
  return usage
    .filter((u) => u.date >= first && u.date <= last)
    .sort((a, b) => a.date.localeCompare(b.date))
    .map((u) => ({ date: u.date, requests: u.requests, rateLimited: u.rateLimited, credits: u.credits, inputTokens: u.inputTokens, outputTokens: u.outputTokens }));
}

/** One page of the export. Usage is daily and org-wide, at most 91 rows: always one page. */
export async function exportPage(request: ExportRequest, organizationId: string, now: Date): Promise<ExportPage> {
  if (request.resource === 'usage') {
    const days = Math.floor((Date.parse(utcDay(now)) - Date.parse(utcDay(request.from))) / DAY_MS) + 1;
    if (days <= 0) return { items: [], nextCursor: null };
    const usage = await dailyUsage({ organizationId }, Math.min(days, 400), now);
    return { items: usageRows(usage, request), nextCursor: null };
  }
  return rangePage(request, organizationId, now);
}

export function exportFileName(request: ExportRequest): string {
  const stamp = (d: Date) => iso(d).replace(/[:.]/g, '-');
  return `keygate-${request.resource}-${stamp(request.from)}-${stamp(request.to)}.csv`;
}
