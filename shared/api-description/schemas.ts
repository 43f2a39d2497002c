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

/** The registry the document's components come from; each has an example, checked against it (test/unit/api-description.test.ts). */
export const components = z.registry<{ id: string; description: string; examples: [unknown] }>();

/** Description and example of each component by name, for the document (zod's output carries neither). */
export const componentNotes = new Map<string, { description: string; example: unknown }>();

function named<T extends z.ZodType>(id: string, description: string, schema: T, example: z.output<T>): T {
  components.add(schema, { id, description, examples: [example] });
  componentNotes.set(id, { description, example });
  return schema;
}

/** The example a component was registered with. */
export function exampleOf(schema: z.ZodType): unknown {
  return components.get(schema)?.examples[0];
}

// Example values, shared by the examples below so they describe one consistent organization.
const AT = '2026-12-01T09:30:00.000Z';
const EXPIRES = '2027-12-01T09:30:00.000Z';
const ORG_ID = 'org_7Hq2LwX9aPz4Kd1Rt5Vb';
const KEY_ID = 'key_3Fs8NmQ2cYw6Jp0Lx4Ge';
const USER_ID = 'user-2f8c1a';
const SESSION_ID = 'conv-9bW2kQ7xN4';
const ASSISTANT_ID = 'asst_4fGh7JkLmN2pQrStUvWx';
const organizationExample = {
  id: ORG_ID,
  name: 'Acme',
  plan: 'starter' as const,
  limits: { perMinute: 600, perDay: 100000 },
  billing: { mode: 'tokens' as const, inputPer1k: 1, outputPer1k: 4 },
  credits: 1000,
  creditsHeld: 12,
  defaultAssistantId: ASSISTANT_ID,
  createdAt: AT,
  role: 'owner' as const,
};
const apiKeyExample = {
  id: KEY_ID,
  organizationId: ORG_ID,
  name: 'Website',
  type: 'publishable' as const,
  displayKey: 'pk_AbCdE••••••••',
  status: 'active' as const,
  createdAt: AT,
  expiresAt: EXPIRES,
  allowedDomains: ['mysite.com'],
  databaseId: null,
  assistantId: ASSISTANT_ID,
  scopes: ['chat' as const],
  rateLimit: null,
  lastUsedAt: null,
  usageCount: 0,
  createdBy: USER_ID,
  replacedBy: null,
  key: 'pk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab',
};
const databaseExample = { id: 'db_1Qa2Ws3Ed4Rf5Tg6Yh7U', name: 'Sales', assistantId: null, createdAt: AT };
const assistantExample = {
  id: ASSISTANT_ID,
  organizationId: ORG_ID,
  name: 'Support',
  upstream: 'bedrock',
  model: 'anthropic.claude-sonnet-4',
  instructions: 'Answer questions about our product. Be brief.',
  maxInputTokens: 8000,
  maxOutputTokens: 512,
  temperature: null,
  createdAt: AT,
};
const usageDayExample = { date: '2026-12-01', requests: 1200, rateLimited: 3, credits: 240, inputTokens: 96000, outputTokens: 54000 };
const webhookExample = { id: 'wh_5Tg7Yh9Uj1Ik3Ol5Pz7X', url: 'https://example.com/keygate', events: ['api_key.expiring' as const, 'api_key.revoked' as const], createdAt: AT };

const isoTime = z.iso.datetime().meta({ description: 'ISO-8601 UTC time', examples: ['2026-12-01T09:30:00.000Z'] });
const day = z.iso.date().meta({ description: 'UTC day', examples: ['2026-12-01'] });
const nextCursor = z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' });
const tokensPerMinute = z.int().positive().optional().meta({ description: 'Tokens (input and output) of replies per UTC minute; absent: no token window' });
const tokensPerDay = z.int().positive().optional().meta({ description: 'Tokens (input and output) of replies per UTC day; absent: no token window' });
const limits = z.strictObject({ perMinute: z.int().positive(), perDay: z.int().positive(), tokensPerMinute, tokensPerDay });

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
  { error: 'validation_error', message: 'Request validation failed', code: 'VALIDATION_ERROR', details: [{ field: 'name', message: 'must not be empty' }] },
);

export const Organization = named(
  'Organization',
  'An organization; `limits` are the ones in force for its plan',
  z.strictObject({
    id: z.string(),
    name: z.string(),
    plan: z.enum(PLANS),
    limits,
    billing: z
      .discriminatedUnion('mode', [
        z.strictObject({ mode: z.literal('reply') }),
        z.strictObject({ mode: z.literal('tokens'), inputPer1k: z.int().nonnegative(), outputPer1k: z.int().nonnegative() }),
      ])
      .meta({ description: 'How replies are charged: one credit per reply, or whole credits per 1,000 input and output tokens (set by operators)' }),
    credits: z.int().meta({ description: 'Credits spendable now' }),
    creditsHeld: z.int().nonnegative().meta({ description: 'Credits held by replies in progress (settled to what each used when it ends); credits + creditsHeld is the settled balance' }),
    defaultAssistantId: z.string().nullable().meta({ description: 'The assistant that answers unless a request, database or key says otherwise' }),
    createdAt: isoTime,
    role: z.enum(ROLES).optional().meta({ description: "The caller's role (lists and creation)" }),
  }),
  organizationExample,
);

export const OrganizationList = named(
  'OrganizationList',
  "The caller's organizations with their role; with `all=true` (operators) any organizations matching `q`, a page at a time",
  z.strictObject({ items: z.array(Organization), nextCursor: nextCursor.optional() }),
  { items: [organizationExample] },
);

export const Credits = named('Credits', 'The balance after a grant', z.strictObject({ credits: z.int() }), { credits: 1500 });

export const Member = named(
  'Member',
  'A member of an organization',
  z.strictObject({
    userId: z.string(),
    email: z.string().nullable().meta({ description: 'null when never known (a member added by user id before emails were kept)' }),
    role: z.enum(ROLES),
  }),
  { userId: USER_ID, email: 'bob@example.com', role: 'admin' },
);

export const MemberList = named('MemberList', 'Members', z.strictObject({ items: z.array(Member) }), { items: [{ userId: USER_ID, email: 'alice@example.com', role: 'owner' }] });

export const Database = named(
  'Database',
  'A database publishable keys can be scoped to',
  z.strictObject({
    id: z.string(),
    name: z.string(),
    assistantId: z.string().nullable().meta({ description: "The assistant that answers for it (null: the organization's default)" }),
    createdAt: isoTime,
  }),
  databaseExample,
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
  assistantExample,
);

export const AssistantList = named('AssistantList', "The organization's assistants, oldest first", z.strictObject({ items: z.array(Assistant) }), { items: [assistantExample] });

export const DatabaseList = named('DatabaseList', 'Databases', z.strictObject({ items: z.array(Database) }), { items: [databaseExample] });

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
    rateLimit: z
      .strictObject({ perMinute: z.int().positive().optional(), perDay: z.int().positive().optional(), tokensPerMinute, tokensPerDay })
      .nullable()
      .meta({ description: "The key's own limits, applied besides its organization's (the stricter wins)" }),
    lastUsedAt: isoTime.nullable(),
    usageCount: z.int().nonnegative(),
    createdBy: z.string(),
    replacedBy: z.string().nullable().meta({ description: 'The id of the key a roll made from this one' }),
    key: z.string().optional(),
  }),
  apiKeyExample,
);

export const ApiKeyList = named('ApiKeyList', 'A page of keys, newest first', z.strictObject({ items: z.array(ApiKey), nextCursor }), { items: [apiKeyExample], nextCursor: null });

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
  { items: [usageDayExample] },
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
  { keyId: KEY_ID, organizationId: ORG_ID, type: 'secret', scopes: ['chat', 'completions', 'export'], databaseId: null, expiresAt: EXPIRES },
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
  {
    sessionId: SESSION_ID,
    token: 'eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJjb252LTliVzJrUTd4TjQifQ.c2lnbmF0dXJl',
    type: 'chat',
    expiresAt: '2026-12-01T10:30:00.000Z',
    assistant: { id: ASSISTANT_ID, name: 'Support' },
  },
);

export const OneShotReply = named(
  'OneShotReply',
  'A one-shot reply and the conversation it continues',
  z.strictObject({
    conversation_id: z.string(),
    message: z.strictObject({ role: z.literal('assistant'), content: z.string() }),
    usage: z.strictObject({ credits: z.int().nonnegative() }),
  }),
  { conversation_id: 'conv-abc', message: { role: 'assistant', content: 'Sales grew 12% in November.' }, usage: { credits: 1 } },
);

export const History = named(
  'History',
  "A session's messages, oldest first",
  z.strictObject({
    items: z.array(z.strictObject({ id: z.string(), role: z.enum(['user', 'assistant']), content: z.string(), createdAt: isoTime })),
    nextCursor,
  }),
  {
    items: [
      { id: 'msg_01', role: 'user', content: 'Hello there', createdAt: AT },
      { id: 'msg_02', role: 'assistant', content: 'Hi! How can I help?', createdAt: AT },
    ],
    nextCursor: null,
  },
);

export const SessionEnded = named('SessionEnded', 'The session, ended', z.strictObject({ sessionId: z.string(), status: z.literal('ended') }), { sessionId: SESSION_ID, status: 'ended' });

const exportedSessionExample = {
  id: SESSION_ID,
  type: 'chat' as const,
  status: 'ended' as const,
  keyId: KEY_ID,
  origin: 'https://app.mysite.com',
  databaseId: null,
  createdAt: AT,
  expiresAt: '2026-12-01T10:30:00.000Z',
  endedAt: '2026-12-01T09:45:00.000Z',
  metadata: { page: 'checkout' },
};

const metadataValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const ExportedSession = named(
  'ExportedSession',
  'A row of `resource=sessions`: a chat or voice session, or a one-shot conversation',
  z.strictObject({
    id: z.string(),
    type: z.enum(['chat', 'voice', 'conversation']),
    status: z.enum(['active', 'ended', 'expired']),
    keyId: z.string(),
    origin: z.string().nullable().optional().meta({ description: 'The Origin it was created from (publishable keys)' }),
    databaseId: z.string().nullable().optional(),
    createdAt: isoTime,
    expiresAt: isoTime,
    endedAt: isoTime.nullable().optional(),
    metadata: z.record(z.string(), metadataValue).nullable().optional(),
  }),
  exportedSessionExample,
);

export const ExportedMessage = named(
  'ExportedMessage',
  'A row of `resource=messages`',
  z.strictObject({ id: z.string(), sessionId: z.string(), role: z.enum(['user', 'assistant']), content: z.string(), keyId: z.string(), createdAt: isoTime }),
  { id: 'msg_01', sessionId: SESSION_ID, role: 'user', content: 'Hello there', keyId: KEY_ID, createdAt: AT },
);

export const ExportedUsageDay = named(
  'ExportedUsageDay',
  'A row of `resource=usage`: one UTC day of the organization',
  z.strictObject({
    date: day,
    requests: z.int().nonnegative(),
    rateLimited: z.int().nonnegative(),
    credits: z.int().nonnegative(),
    inputTokens: z.int().nonnegative(),
    outputTokens: z.int().nonnegative(),
  }),
  usageDayExample,
);

export const ExportPage = named(
  'ExportPage',
  'A page of exported rows (sessions, messages or usage days), oldest first',
  z.strictObject({ items: z.array(z.union([ExportedSession, ExportedMessage, ExportedUsageDay])), nextCursor }),
  { items: [exportedSessionExample], nextCursor: null },
);

export const MessageDelta = named('MessageDelta', 'Stream event `message.delta`: the next piece of the reply', z.strictObject({ content: z.string() }), { content: 'Hi! How' });

export const MessageCompleted = named(
  'MessageCompleted',
  'Stream event `message.completed`: the whole reply, stored, and what it cost',
  z.strictObject({ messageId: z.string(), content: z.string(), usage: z.strictObject({ credits: z.int().nonnegative() }) }),
  { messageId: 'msg_02', content: 'Hi! How can I help?', usage: { credits: 1 } },
);

export const StreamError = named(
  'StreamError',
  'Stream event `error`: the reply failed after the stream began; the stream then closes',
  z.strictObject({ code: z.string(), message: z.string() }),
  { code: 'SERVICE_UNAVAILABLE', message: 'A dependency is unavailable, try again shortly' },
);

// The OpenAI-compatible routes (docs/openai.md): OpenAI's own shapes.
export const ModelList = named(
  'ModelList',
  'The assistants the key may use, as OpenAI models (`id` is the assistant name; a publishable key: its pinned one)',
  z.strictObject({
    object: z.literal('list'),
    data: z.array(z.strictObject({ id: z.string(), object: z.literal('model'), created: z.int().nonnegative(), owned_by: z.string() })),
  }),
  { object: 'list', data: [{ id: 'Support', object: 'model', created: 1764581400, owned_by: ORG_ID }] },
);

const completionUsage = z.strictObject({ prompt_tokens: z.int().nonnegative(), completion_tokens: z.int().nonnegative(), total_tokens: z.int().nonnegative() });

export const ChatCompletion = named(
  'ChatCompletion',
  'A whole reply (without `stream`), as OpenAI answers `POST /v1/chat/completions`',
  z.strictObject({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.int().nonnegative(),
    model: z.string(),
    choices: z.array(
      z.strictObject({
        index: z.literal(0),
        message: z.strictObject({ role: z.literal('assistant'), content: z.string() }),
        finish_reason: z.enum(['stop', 'length']),
      }),
    ),
    usage: completionUsage,
  }),
  {
    id: 'chatcmpl-msg_0mfz3k9a1bQ2wE4rT6yU8',
    object: 'chat.completion',
    created: 1764581400,
    model: 'Support',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Sales grew 12% in November.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
  },
);

export const ChatCompletionChunk = named(
  'ChatCompletionChunk',
  'One `data:` line of a streamed reply: the first carries `delta.role`, then `delta.content` pieces, the last a `finish_reason`; with `stream_options.include_usage` a last chunk has `choices: []` and `usage`. The stream ends with `data: [DONE]`',
  z.strictObject({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.int().nonnegative(),
    model: z.string(),
    choices: z.array(
      z.strictObject({
        index: z.literal(0),
        delta: z.strictObject({ role: z.literal('assistant').optional(), content: z.string().optional() }),
        finish_reason: z.enum(['stop', 'length']).nullable(),
      }),
    ),
    usage: completionUsage.optional(),
  }),
  {
    id: 'chatcmpl-msg_0mfz3k9a1bQ2wE4rT6yU8',
    object: 'chat.completion.chunk',
    created: 1764581400,
    model: 'Support',
    choices: [{ index: 0, delta: { content: 'Sales grew' }, finish_reason: null }],
  },
);

export const OpenAiError = named(
  'OpenAiError',
  "Every error Keygate decides on the OpenAI-compatible routes: OpenAI's body, with Keygate's message, error (`type`), field (`param`) and code. In a stream that already began, the same object is the last `data:` line",
  z.strictObject({
    error: z.strictObject({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]),
    }),
  }),
  { error: { message: 'Rate limit exceeded. Try again in 12 seconds.', type: 'rate_limit_exceeded', param: null, code: 'RATE_LIMIT_EXCEEDED' } },
);

export const DevToken = named('DevToken', 'A portal token the local runtime accepts', z.strictObject({ token: z.string() }), { token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl' });

export const ApiDescription = named('ApiDescription', 'This document (OpenAPI 3.1)', z.looseObject({ openapi: z.string() }), { openapi: '3.1.1' });

const auditEntryExample = {
  id: 'aud_8Ik9Ol0Pz1Xc2Vb3Nm4Q',
  action: 'api_key.created' as const,
  actor: { type: 'user' as const, id: USER_ID, email: 'alice@example.com' },
  target: { type: 'api_key', id: KEY_ID },
  occurredAt: AT,
  requestId: 'c6b1f1a2-7d7e-4d3b-9a51-2f0c8e1d4b6a',
  sourceIp: '203.0.113.7',
  userAgent: 'Mozilla/5.0',
  changes: [{ field: 'name', from: null, to: 'Website' }],
};

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
  auditEntryExample,
);

export const AuditLogPage = named(
  'AuditLogPage',
  'Audit entries, newest first',
  z.strictObject({ items: z.array(AuditEntry), nextCursor }),
  { items: [auditEntryExample], nextCursor: null },
);

export const Webhook = named(
  'Webhook',
  'A webhook endpoint and the events it receives',
  z.strictObject({ id: z.string(), url: z.string(), events: z.array(z.enum(EVENT_TYPES)), createdAt: isoTime }),
  webhookExample,
);

export const CreatedWebhook = named(
  'CreatedWebhook',
  'A new webhook with its signing secret (`whsec_…`), shown this once',
  z.strictObject({ id: z.string(), url: z.string(), events: z.array(z.enum(EVENT_TYPES)), createdAt: isoTime, secret: z.string() }),
  { ...webhookExample, secret: 'whsec_2kF9sL1qW8eR3tY6uI0oP4aS7dG5hJ' },
);

export const WebhookList = named('WebhookList', "The organization's webhooks (at most 10)", z.strictObject({ items: z.array(Webhook) }), { items: [webhookExample] });

export const UpstreamList = named(
  'UpstreamList',
  'The deployed upstreams, in deployment order; `http` and `echo` upstreams have no models',
  z.strictObject({
    items: z.array(z.strictObject({ name: z.string(), kind: z.enum(UPSTREAM_KINDS), models: z.array(z.string()) })),
  }),
  { items: [{ name: 'claude', kind: 'bedrock', models: ['anthropic.claude-sonnet-4'] }, { name: 'local', kind: 'echo', models: [] }] },
);

export const WebhookTest = named(
  'WebhookTest',
  'The queued `ping` event: its id is the `id` of the delivery the endpoint receives',
  z.strictObject({ id: z.string(), type: z.literal('ping') }),
  { id: 'evt_4Rf6Tg8Yh0Uj2Ik4Ol6P', type: 'ping' },
);
