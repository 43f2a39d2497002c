// Response shapes of every route (docs/api.md "Routes"), as zod schemas registered under the name
// they get in the API description's `components.schemas`. The end-to-end suite checks every real
// response against the generated document (test/support/api-description-check.ts), so a handler
// that answers something else fails the tests instead of drifting from its description.
import * as z from 'zod';
import { UPSTREAM_KINDS } from '../chat/upstreams.ts';
import { AUDIT_ACTIONS } from '../domain/audit.ts';
import { EVENT_TYPES } from '../domain/webhooks.ts';
import { ERRORS, type ErrorCode } from '../domain/errors.ts';
import { PLANS } from '../domain/plans.ts';
import { ROLES } from '../domain/roles.ts';
import { SCOPES } from '../domain/scopes.ts';

/** The registry the document's components come from. */
export const components = z.registry<{ id: string; description?: string }>();

function named<T extends z.ZodType>(id: string, description: string, schema: T): T {
  components.add(schema, { id, description });
  return schema;
}

const isoTime = z.iso.datetime().meta({ description: 'ISO-8601 UTC time', examples: ['2026-12-01T09:30:00.000Z'] });
const day = z.iso.date().meta({ description: 'UTC day', examples: ['2026-12-01'] });
const nextCursor = z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' });
const limits = z.strictObject({ perMinute: z.int().positive(), perDay: z.int().positive() });

export const ErrorBody = named(
  'Error',
  'Every error: snake_case `error`, readable `message`, UPPER_CASE `code` (docs/api.md "Errors")',
  z.strictObject({
    error: z.string(),
    message: z.string(),
    code: z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]),
    details: z.array(z.strictObject({ field: z.string(), message: z.string() })).optional(),
    retry_after: z.int().nonnegative().optional().meta({ description: 'Seconds to wait (429)' }),
    requestId: z.string().optional().meta({ description: 'Quote it when reporting a 500' }),
  }),
);

export const Organization = named(
  'Organization',
  'An organization; `limits` are the ones in force for its plan',
  z.strictObject({
    id: z.string(),
    name: z.string(),
    plan: z.enum(PLANS),
    limits,
    credits: z.int(),
    defaultAssistantId: z.string().nullable().meta({ description: 'The assistant that answers unless a request, database or key says otherwise' }),
    createdAt: isoTime,
    role: z.enum(ROLES).optional().meta({ description: "The caller's role (lists and creation)" }),
  }),
);

export const OrganizationList = named('OrganizationList', "The caller's organizations", z.strictObject({ items: z.array(Organization) }));

export const Credits = named('Credits', 'The balance after a grant', z.strictObject({ credits: z.int() }));

export const Member = named(
  'Member',
  'A member of an organization',
  z.strictObject({
    userId: z.string(),
    email: z.string().nullable().meta({ description: 'null when never known (a member added by user id before emails were kept)' }),
    role: z.enum(ROLES),
  }),
);

export const MemberList = named('MemberList', 'Members', z.strictObject({ items: z.array(Member) }));

export const Database = named(
  'Database',
  'A database publishable keys can be scoped to',
  z.strictObject({
    id: z.string(),
    name: z.string(),
    assistantId: z.string().nullable().meta({ description: "The assistant that answers for it (null: the organization's default)" }),
    createdAt: isoTime,
  }),
);

export const Assistant = named(
  'Assistant',
  "An organization's assistant: which deployed upstream and model answer, with what instructions and caps",
  z.strictObject({
    id: z.string().meta({ examples: ['asst_4fGh7JkLmN2pQrStUvWx'] }),
    organizationId: z.string(),
    name: z.string(),
    upstream: z.string().meta({ description: 'Name of a deployed upstream (GET …/upstreams)' }),
    model: z.string().nullable().meta({ description: 'One of the upstream\'s models; null for http and echo upstreams' }),
    instructions: z.string().meta({ description: 'The system prompt ("" for none)' }),
    maxInputTokens: z.int().min(1).max(200_000),
    maxOutputTokens: z.int().min(1).max(32_000),
    temperature: z.number().min(0).max(2).nullable().meta({ description: "null: the upstream's own" }),
    createdAt: isoTime,
  }),
);

export const AssistantList = named('AssistantList', "The organization's assistants, oldest first", z.strictObject({ items: z.array(Assistant) }));

export const DatabaseList = named('DatabaseList', 'Databases', z.strictObject({ items: z.array(Database) }));

export const ApiKey = named(
  'ApiKey',
  'An API key. `key` (the plaintext) is present on creation and roll, and for publishable keys always',
  z.strictObject({
    id: z.string(),
    organizationId: z.string(),
    name: z.string(),
    type: z.enum(['secret', 'publishable']),
    displayKey: z.string().meta({ examples: ['sk_AbCdE••••••••'] }),
    status: z.enum(['active', 'disabled', 'expired']),
    createdAt: isoTime,
    expiresAt: isoTime,
    allowedDomains: z.array(z.string()),
    databaseId: z.string().nullable(),
    assistantId: z.string().nullable().meta({ description: 'Publishable keys: the assistant every reply uses (the pin); null for secret keys' }),
    scopes: z.array(z.enum(SCOPES)),
    rateLimit: z.strictObject({ perMinute: z.int().positive().optional(), perDay: z.int().positive().optional() }).nullable(),
    lastUsedAt: isoTime.nullable(),
    usageCount: z.int().nonnegative(),
    createdBy: z.string(),
    replacedBy: z.string().nullable().meta({ description: 'The id of the key a roll made from this one' }),
    key: z.string().optional(),
  }),
);

export const ApiKeyList = named('ApiKeyList', 'A page of keys, newest first', z.strictObject({ items: z.array(ApiKey), nextCursor }));

export const UsageDays = named(
  'UsageDays',
  'Usage per UTC day, newest first',
  z.strictObject({
    items: z.array(
      z.strictObject({
        date: day,
        requests: z.int().nonnegative(),
        rateLimited: z.int().nonnegative(),
        credits: z.int().nonnegative(),
        inputTokens: z.int().nonnegative().meta({ description: "Replies' input tokens (reported by the upstream, or estimated)" }),
        outputTokens: z.int().nonnegative().meta({ description: "Replies' output tokens (reported by the upstream, or estimated)" }),
      }),
    ),
  }),
);

export const Whoami = named(
  'Whoami',
  "The presented key's identity",
  z.strictObject({
    keyId: z.string(),
    organizationId: z.string(),
    type: z.enum(['secret', 'publishable']),
    scopes: z.array(z.enum(SCOPES)),
    databaseId: z.string().nullable(),
    expiresAt: isoTime,
  }),
);

export const Session = named(
  'Session',
  'A chat or voice session and the short-lived token that authenticates its routes',
  z.strictObject({
    sessionId: z.string(),
    token: z.string(),
    type: z.enum(['chat', 'voice']),
    expiresAt: isoTime,
    assistant: z
      .strictObject({ id: z.string(), name: z.string() })
      .meta({ description: 'The assistant that answers in this session, for its whole life' }),
  }),
);

export const OneShotReply = named(
  'OneShotReply',
  'A one-shot reply and the conversation it continues',
  z.strictObject({
    conversation_id: z.string(),
    message: z.strictObject({ role: z.literal('assistant'), content: z.string() }),
    usage: z.strictObject({ credits: z.int().nonnegative() }),
  }),
);

export const History = named(
  'History',
  "A session's messages, oldest first",
  z.strictObject({
    items: z.array(z.strictObject({ id: z.string(), role: z.enum(['user', 'assistant']), content: z.string(), createdAt: isoTime })),
    nextCursor,
  }),
);

export const SessionEnded = named('SessionEnded', 'The session, ended', z.strictObject({ sessionId: z.string(), status: z.literal('ended') }));

export const ExportPage = named(
  'ExportPage',
  'A page of exported rows (sessions, messages or usage days), oldest first',
  z.strictObject({ items: z.array(z.record(z.string(), z.unknown())), nextCursor }),
);

export const MessageDelta = named('MessageDelta', 'Stream event `message.delta`: the next piece of the reply', z.strictObject({ content: z.string() }));

export const MessageCompleted = named(
  'MessageCompleted',
  'Stream event `message.completed`: the whole reply, stored, and what it cost',
  z.strictObject({ messageId: z.string(), content: z.string(), usage: z.strictObject({ credits: z.int().nonnegative() }) }),
);

export const StreamError = named(
  'StreamError',
  'Stream event `error`: the reply failed after the stream began; the stream then closes',
  z.strictObject({ code: z.string(), message: z.string() }),
);

export const DevToken = named('DevToken', 'A portal token the local runtime accepts', z.strictObject({ token: z.string() }));

export const ApiDescription = named('ApiDescription', 'This document (OpenAPI 3.1)', z.looseObject({ openapi: z.string() }));

export const AuditEntry = named(
  'AuditEntry',
  'One management change (docs/api.md "Audit log")',
  z.strictObject({
    id: z.string(),
    action: z.enum(AUDIT_ACTIONS),
    actor: z.strictObject({ type: z.enum(['user', 'operator', 'system']), id: z.string(), email: z.string().nullable() }),
    target: z.strictObject({ type: z.string(), id: z.string() }),
    occurredAt: isoTime,
    requestId: z.string().nullable(),
    sourceIp: z.string().nullable(),
    userAgent: z.string().nullable(),
    changes: z.array(z.strictObject({ field: z.string(), from: z.unknown(), to: z.unknown() })),
  }),
);

export const AuditLogPage = named(
  'AuditLogPage',
  'Audit entries, newest first',
  z.strictObject({ items: z.array(AuditEntry), nextCursor }),
);

export const Webhook = named(
  'Webhook',
  'A webhook endpoint and the events it receives',
  z.strictObject({ id: z.string(), url: z.string(), events: z.array(z.enum(EVENT_TYPES)), createdAt: isoTime }),
);

export const CreatedWebhook = named(
  'CreatedWebhook',
  'A new webhook with its signing secret (`whsec_…`), shown this once',
  z.strictObject({ id: z.string(), url: z.string(), events: z.array(z.enum(EVENT_TYPES)), createdAt: isoTime, secret: z.string() }),
);

export const WebhookList = named('WebhookList', "The organization's webhooks (at most 10)", z.strictObject({ items: z.array(Webhook) }));

export const UpstreamList = named(
  'UpstreamList',
  'The deployed upstreams, in deployment order; `http` and `echo` upstreams have no models',
  z.strictObject({
    items: z.array(z.strictObject({ name: z.string(), kind: z.enum(UPSTREAM_KINDS), models: z.array(z.string()) })),
  }),
);

export const WebhookTest = named(
  'WebhookTest',
  'The queued `ping` event: its id is the `id` of the delivery the endpoint receives',
  z.strictObject({ id: z.string(), type: z.literal('ping') }),
);
