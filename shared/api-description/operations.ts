// What the route table does not say about each route: a summary, the request schemas its handler
// validates with (imported, never copied), its success responses and an example. The document
// builder (document.ts) refuses a route without an entry here, so a new route cannot go undescribed.
import type * as z from 'zod';
import { exportQuery } from '../chat/export.ts';
import { completionRequestSchema } from '../chat/openai-wire.ts';
import { createSessionBody, historyQuery, oneShotBody, sessionMessageBody } from '../chat/schemas.ts';
import { auditLogQuery } from '../domain/audit-query.ts';
import { createWebhookBody } from '../domain/webhook-rules.ts';
import { createKeyBody, listKeysQuery, patchKeyBody, rollKeyBody, usageQuery } from '../domain/key-rules.ts';
import {
  addMemberBody,
  createDatabaseBody,
  createOrganizationBody,
  grantCreditsBody,
  memberRoleBody,
  patchDatabaseBody,
  organizationSearchQuery,
  patchOrganizationBody,
} from '../domain/organization-rules.ts';
import { KEY, ORG, SESSION, type RouteKey } from '../routes.ts';
import { createAssistantBody, patchAssistantBody } from '../domain/assistant-rules.ts';
import { devTokenBody } from '../users/dev-token-body.ts';
import * as S from './schemas.ts';

export interface SuccessResponse {
  status: number;
  description: string;
  /** JSON body schema; omitted for 204 and for non-JSON bodies. */
  schema?: z.ZodType;
  /** Non-JSON bodies: their media type (SSE, CSV). */
  mediaType?: string;
  /** Non-JSON bodies: an example of the body (JSON bodies take their component's example). */
  example?: string;
  /** Server-Sent Events: the schema of each event's JSON `data`, by event name. */
  events?: Record<string, z.ZodType>;
}

export interface Operation {
  /** One line: what it does and who may call it. */
  summary: string;
  /** What a client needs to know to call it: a few sentences (required, as is an example; test/unit/api-description.test.ts). */
  description: string;
  tag: string;
  body?: z.ZodType;
  /** Whether a body may be omitted altogether. */
  bodyOptional?: boolean;
  /** Required with `body`: a request that succeeds. */
  bodyExample?: unknown;
  query?: z.ZodObject;
  responses: SuccessResponse[];
  /** Accepts `Idempotency-Key` (reply requests). */
  idempotent?: boolean;
  /** Extra error codes beyond those every route of its auth kind can answer. */
  errors?: readonly string[];
}

const ok = (schema: z.ZodType, description = 'OK'): SuccessResponse => ({ status: 200, description, schema });
const created = (schema: z.ZodType, description = 'Created'): SuccessResponse => ({ status: 201, description, schema });
const noContent = (description: string): SuccessResponse => ({ status: 204, description });
/** A JSON body the handler validates with `schema`, and a request that succeeds. */
const requestBody = (schema: z.ZodType, example: unknown): Pick<Operation, 'body' | 'bodyExample'> => ({ body: schema, bodyExample: example });
/** The same, for a body that may be omitted altogether. */
const optionalBody = (schema: z.ZodType, example: unknown): Pick<Operation, 'body' | 'bodyExample' | 'bodyOptional'> => ({ ...requestBody(schema, example), bodyOptional: true });

const ONE_SHOT: Operation = {
  summary: 'One-shot message: a reply, continuing `conversation_id` (yours or one returned earlier)',
  description: 'Sends one message and answers with the whole reply as JSON, no session needed. Pass `conversation_id` to continue a conversation (one you name, or one returned earlier). Costs credits per reply (402 `INSUFFICIENT_CREDITS` when the balance is out); an `Idempotency-Key` makes a retry return the stored reply without charging again.',
  tag: 'Chat',
  ...requestBody(oneShotBody(), { message: 'Show me sales data', conversation_id: 'conv-abc' }),
  responses: [ok(S.OneShotReply)],
  idempotent: true,
  errors: ['CONFLICT', 'INSUFFICIENT_CREDITS'],
};

/** One entry per route of the table, local-only ones included (the compiler checks the keys). */
export const OPERATIONS: Record<RouteKey, Operation> = {
  'POST /v1/organizations': {
    summary: 'Create an organization (the caller becomes its owner; plan free, initial credits)', description: 'Creates an organization on the free plan with its initial credits; the signed-in user becomes its owner. A user can create a limited number of organizations (409 `CONFLICT` beyond).',
    tag: 'Organizations',
    ...requestBody(createOrganizationBody, { name: 'Acme' }),
    responses: [created(S.Organization)],
    // A user may create at most maxOrganizationsPerUser organizations (the free-credit bound).
    errors: ['CONFLICT'],
  },
  'GET /v1/organizations': {
    summary: "The caller's organizations with their role; operators with all=true find any organization (q: a part of the name or an id prefix)",
    description:
      "Lists every organization the signed-in user is a member of, each with the caller's role. With `all=true` (operators only, 403 otherwise) it lists any organizations whose name contains `q` (any case) or whose id starts with it, a page at a time (`limit`, `cursor`, `nextCursor`), without `role`.",
    tag: 'Organizations',
    query: organizationSearchQuery,
    responses: [ok(S.OrganizationList)],
    errors: ['INSUFFICIENT_PERMISSIONS'],
  },
  [`GET ${ORG}`]: { summary: 'An organization (member+)', description: 'Returns the organization with its plan, the limits in force and its credit balance. Any member may read it.', tag: 'Organizations', responses: [ok(S.Organization)] },
  [`PATCH ${ORG}`]: {
    summary: 'Change the plan, enterprise limits or billing (operators), or the name or default assistant (owner)', description: 'Platform operators move the organization to another plan or set enterprise limits (the change reaches every key\'s copy of the limits), or set its `billing`: `{"mode":"reply"}` (one credit per reply) or `{"mode":"tokens","inputPer1k":N,"outputPer1k":M}` (whole credits per 1,000 tokens; a reply costs `ceil((input × N + output × M) / 1000)`; a reply is billed as the billing stood when it started; audited as `organization.updated`). The owner renames it or chooses its default assistant.',
    tag: 'Organizations',
    ...optionalBody(patchOrganizationBody, { defaultAssistantId: 'asst_4fGh7JkLmN2pQrStUvWx' }),
    responses: [ok(S.Organization)],
  },
  [`POST ${ORG}/credits`]: {
    summary: 'Grant (or, negative, take back) credits (operators)', description: 'Platform operators only: adds credits to the balance, or takes them back with a negative amount (never below zero: 409 `CONFLICT`). Answers the new balance.',
    tag: 'Organizations',
    ...requestBody(grantCreditsBody, { amount: 500, reason: 'welcome' }),
    responses: [ok(S.Credits)],
    errors: ['CONFLICT'],
  },
  [`GET ${ORG}/members`]: { summary: 'Members with their email and role (member+)', description: 'Lists the members of the organization with their email (when known) and role. Any member may read it.', tag: 'Members', responses: [ok(S.MemberList)] },
  [`POST ${ORG}/members`]: {
    summary:
      'Add a member by email (owner); an email with no account is invited to the user pool first (at most 20 invitations a UTC day per organization, 429 beyond); 409 if already a member', description: 'The owner adds a member by verified email with a role. An email without an account is invited to the user pool first (a limited number of invitations per organization per day).',
    tag: 'Members',
    ...requestBody(addMemberBody, { email: 'bob@example.com', role: 'admin' }),
    responses: [created(S.Member)],
    errors: ['CONFLICT', 'RATE_LIMIT_EXCEEDED'],
  },
  [`PUT ${ORG}/members/{userId}`]: {
    summary: "Change a member's role (owner)", description: 'The owner changes a member\'s role. The last owner cannot be demoted (409 `CONFLICT`).',
    tag: 'Members',
    ...requestBody(memberRoleBody, { role: 'admin' }),
    responses: [ok(S.Member)],
    errors: ['CONFLICT'],
  },
  [`DELETE ${ORG}/members/{userId}`]: {
    summary: 'Remove a member (owner); 409 for the last owner', description: 'The owner removes a member. The last owner cannot be removed (409 `CONFLICT`).',
    tag: 'Members',
    responses: [noContent('Removed')],
    errors: ['CONFLICT'],
  },
  [`POST ${ORG}/databases`]: {
    summary: 'Create a database (owner, admin)', description: 'Owners and admins create a database: a name publishable keys can be scoped to, so a key only reaches that database\'s data.',
    tag: 'Databases',
    ...requestBody(createDatabaseBody, { name: 'Sales' }),
    responses: [created(S.Database)],
  },
  [`GET ${ORG}/databases`]: { summary: 'Databases (member+)', description: 'Lists the organization\'s databases. Any member may read them.', tag: 'Databases', responses: [ok(S.DatabaseList)] },
  [`PATCH ${ORG}/databases/{databaseId}`]: {
    summary: 'Rename a database or choose the assistant that answers for it (owner, admin); assistantId null: the org default', description: 'Owners and admins rename a database or choose the assistant that answers requests scoped to it; `assistantId: null` returns it to the organization\'s default.',
    tag: 'Databases',
    ...optionalBody(patchDatabaseBody, { assistantId: 'asst_4fGh7JkLmN2pQrStUvWx' }),
    responses: [ok(S.Database)],
    errors: ['CONFLICT'],
  },
  [`POST ${ORG}/assistants`]: {
    summary: 'Create an assistant (owner): a deployed upstream and model, instructions, input and output caps, temperature; 409 for a name in use', description: 'The owner creates an assistant: which deployed upstream and model answer, the instructions (system prompt), input and output token caps and temperature. Names are unique in the organization (409 `CONFLICT`).',
    tag: 'Assistants',
    ...requestBody(createAssistantBody, { name: 'Support', upstream: 'bedrock', instructions: 'Answer questions about our product. Be brief.', maxOutputTokens: 512 }),
    responses: [created(S.Assistant)],
    errors: ['CONFLICT'],
  },
  [`GET ${ORG}/assistants`]: { summary: "The organization's assistants, `Default` included (member+)", description: 'Lists the organization\'s assistants, oldest first, the built-in `Default` included. Any member may read them.', tag: 'Assistants', responses: [ok(S.AssistantList)] },
  [`GET ${ORG}/assistants/{assistantId}`]: { summary: 'An assistant (member+)', description: 'Returns one assistant with its upstream, model, instructions and caps. Any member may read it.', tag: 'Assistants', responses: [ok(S.Assistant)] },
  [`PATCH ${ORG}/assistants/{assistantId}`]: {
    summary: "Change an assistant (owner); changing only the upstream moves to its first model. Sessions keep the settings they started with", description: 'The owner changes an assistant\'s settings; sessions already started keep the settings they started with. Changing only the upstream moves to that upstream\'s first model.',
    tag: 'Assistants',
    ...optionalBody(patchAssistantBody, { temperature: 0.2 }),
    responses: [ok(S.Assistant)],
    errors: ['CONFLICT'],
  },
  [`DELETE ${ORG}/assistants/{assistantId}`]: {
    summary: 'Delete an assistant (owner); 409 while the org default, a database or a key names it', description: 'The owner deletes an assistant. While the organization\'s default, a database or a publishable key names it, it cannot be deleted (409 `CONFLICT`).',
    tag: 'Assistants',
    responses: [noContent('Deleted')],
    errors: ['CONFLICT'],
  },
  [`POST ${ORG}/api-keys`]: {
    summary: 'Create a key (owner); the response holds its plaintext `key`, shown once for secret keys', description: 'The owner creates a secret key (server side) or a publishable key (browsers, limited to `allowedDomains`). The plaintext `key` is in this response; for a secret key it is never shown again.',
    tag: 'API keys',
    ...requestBody(createKeyBody, { name: 'Website', type: 'widget', allowedDomains: ['mysite.com'], assistantId: 'asst_4fGh7JkLmN2pQrStUvWx' }),
    responses: [created(S.ApiKey)],
  },
  [`GET ${ORG}/api-keys`]: {
    summary: 'List keys, newest first, filtered by type and status (member+)', description: 'Lists the organization\'s keys, newest first, a page at a time (`limit`, `cursor`), optionally filtered by type and status. Secret keys show only their `displayKey`.',
    tag: 'API keys',
    query: listKeysQuery,
    responses: [ok(S.ApiKeyList)],
  },
  [`GET ${KEY}`]: { summary: 'A key (member+); publishable keys include `key`', description: 'Returns one key with its status, limits and usage count. A publishable key includes its plaintext `key`; a secret key never does.', tag: 'API keys', responses: [ok(S.ApiKey)] },
  [`PATCH ${KEY}`]: {
    summary: "Rename, change allowed domains, disable or enable, set a rate limit, re-pin a publishable key's assistant (owner); effective at once", description: 'The owner renames a key, changes its allowed domains, disables or enables it, sets its own rate limit, or pins a publishable key to another assistant. The authorizer sees the change on the next request.',
    tag: 'API keys',
    ...optionalBody(patchKeyBody, { status: 'disabled' }),
    responses: [ok(S.ApiKey)],
    errors: ['CONFLICT'],
  },
  [`DELETE ${KEY}`]: {
    summary: 'Revoke a key (owner): permanent and immediate, its sessions end', description: 'The owner revokes a key: permanent and immediate. Requests with it get 401 and its chat sessions end.',
    tag: 'API keys',
    responses: [noContent('Revoked')],
  },
  [`POST ${KEY}/roll`]: {
    summary: 'Roll a key (owner): a replacement now, the old key expires after the grace period', description: 'The owner replaces a key: the replacement works at once and is in this response with its plaintext `key`; the old key keeps working until the grace period ends.',
    tag: 'API keys',
    ...optionalBody(rollKeyBody, { gracePeriodHours: 2 }),
    responses: [created(S.ApiKey, 'The replacement, with its plaintext `key`')],
  },
  [`GET ${KEY}/usage`]: { summary: "A key's usage per UTC day (member+)", description: 'Requests, rate-limited requests and credits of one key per UTC day, newest first, for the last `days` days.', tag: 'Usage', query: usageQuery, responses: [ok(S.UsageDays)] },
  [`GET ${ORG}/usage`]: { summary: "The organization's usage per UTC day (member+)", description: 'Requests, rate-limited requests and credits of the whole organization per UTC day, newest first, for the last `days` days.', tag: 'Usage', query: usageQuery, responses: [ok(S.UsageDays)] },
  [`GET ${ORG}/audit-log`]: {
    summary: 'Audit log, newest first; filters action, targetId, from (inclusive), to (exclusive) (owner, admin)', description: 'Owners and admins read who changed what in the organization (keys, members, databases, webhooks, plan and credits), newest first, a page at a time, filtered by action, target and time range.',
    tag: 'Audit log',
    query: auditLogQuery,
    responses: [ok(S.AuditLogPage)],
  },
  [`POST ${ORG}/webhooks`]: {
    summary: 'Create a webhook; the signing secret is in this response only (owner; at most 10)', description: 'The owner registers an HTTPS endpoint for key events (expiring, expired, revoked, ...). Deliveries are signed; the signing secret is in this response only. At most 10 webhooks per organization.',
    tag: 'Webhooks',
    ...requestBody(createWebhookBody, { url: 'https://example.com/keygate', events: ['api_key.expiring', 'api_key.revoked'] }),
    responses: [created(S.CreatedWebhook)],
    errors: ['CONFLICT'],
  },
  [`GET ${ORG}/webhooks`]: { summary: "The organization's webhooks (owner, admin)", description: 'Owners and admins list the organization\'s webhooks and the events each receives (never their secrets).', tag: 'Webhooks', responses: [ok(S.WebhookList)] },
  [`DELETE ${ORG}/webhooks/{webhookId}`]: { summary: 'Delete a webhook (owner)', description: 'The owner deletes a webhook; no further events are delivered to it.', tag: 'Webhooks', responses: [noContent('Deleted')] },
  [`POST ${ORG}/webhooks/{webhookId}/test`]: {
    summary: 'Send a ping event to this webhook (owner); at most one test per webhook per minute (429 beyond)', description: 'The owner queues a `ping` event to the webhook, delivered and signed like any other event. At most one test per webhook per minute (429 beyond).',
    tag: 'Webhooks',
    responses: [{ status: 202, description: 'Queued', schema: S.WebhookTest }],
    errors: ['RATE_LIMIT_EXCEEDED'],
  },
  [`GET ${ORG}/upstreams`]: {
    summary: 'The deployed chat upstreams an assistant can use, with their models (member+)', description: 'Lists the chat upstreams this deployment is configured with (name, kind and models), in deployment order. Any member may read them.',
    tag: 'Assistants',
    responses: [ok(S.UpstreamList)],
  },

  'GET /v1/auth/whoami': { summary: "The presented key's identity", description: 'Answers which key made the request: its id, organization, type, scopes, database and expiry. A cheap way to check a key works.', tag: 'Keys in use', responses: [ok(S.Whoami)] },
  'POST /v1/chat/sessions': {
    summary: 'Start a chat session; its token authenticates the session routes', description: 'Starts a chat session and returns a short-lived session token; send the conversation\'s messages with that token. A publishable key binds the session to the Origin it was created from.',
    tag: 'Chat',
    ...optionalBody(createSessionBody(), { metadata: { page: 'checkout' } }),
    responses: [created(S.Session)],
    errors: ['INSUFFICIENT_CREDITS'],
  },
  'POST /v1/chat/voice-sessions': {
    summary: 'Start a voice session', description: 'Starts a voice session; like a chat session, its token authenticates the session routes.',
    tag: 'Chat',
    ...optionalBody(createSessionBody(), { metadata: { page: 'support' } }),
    responses: [created(S.Session)],
    errors: ['INSUFFICIENT_CREDITS'],
  },
  'POST /v1/chat/message': ONE_SHOT,
  'POST /api/v1/chat/message': {
    ...ONE_SHOT,
    summary: 'One-shot message (the same as POST /v1/chat/message, at the path dialektai clients use)', description: 'The same as `POST /v1/chat/message`, at the path dialektai clients call.',
  },
  'GET /api/export': {
    summary: "Export the organization's sessions, messages or usage (secret keys with the export scope)", description: 'Secret keys with the `export` scope download the organization\'s sessions, messages or daily usage for a time range, as JSON pages or CSV, following `nextCursor` (JSON) or `X-Next-Cursor` (CSV).',
    tag: 'Export',
    query: exportQuery,
    responses: [
      ok(S.ExportPage, 'format=json'),
      {
        status: 200,
        description: 'format=csv; the next cursor is in X-Next-Cursor',
        mediaType: 'text/csv',
        example: 'date,requests,rateLimited,credits,inputTokens,outputTokens\n2026-12-01,1200,3,240,96000,54000\n',
      },
    ],
  },

  'GET /v1/models': {
    summary: 'OpenAI-compatible: the assistants this key may use, as models (scope completions)',
    description:
      "OpenAI's `GET /v1/models`, so OpenAI SDKs and tools list what they can call: each assistant of the organization by name (a publishable key: only its pinned one). Errors use OpenAI's body (`{error:{message,type,param,code}}`).",
    tag: 'OpenAI-compatible',
    responses: [ok(S.ModelList)],
  },
  'POST /v1/chat/completions': {
    summary: 'OpenAI-compatible Chat Completions: a reply from the assistant `model` names, as JSON or a stream (scope completions)',
    description:
      "OpenAI's `POST /v1/chat/completions`: point an OpenAI SDK's base URL at `<API URL>/v1`. `model` is an assistant's name or id; the client sends the whole conversation (nothing is stored). `tools`, `functions`, `n` > 1, a non-text `response_format`, audio and non-text content parts are refused with 400 naming the field in `param`. Limits, credits and `Idempotency-Key` as for one-shot messages; errors use OpenAI's body, and OpenAI's `x-ratelimit-*-requests` headers come beside `X-RateLimit-*`.",
    tag: 'OpenAI-compatible',
    ...requestBody(completionRequestSchema(), { model: 'Support', messages: [{ role: 'user', content: 'Show me sales data' }] }),
    responses: [
      ok(S.ChatCompletion, 'without `stream`'),
      {
        status: 200,
        description: 'with `stream: true`: text/event-stream of `data: <chat.completion.chunk>` lines, then `data: [DONE]`',
        mediaType: 'text/event-stream',
        events: { data: S.ChatCompletionChunk },
        example:
          'data: {"id":"chatcmpl-msg_01","object":"chat.completion.chunk","created":1764581400,"model":"Support","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n' +
          'data: {"id":"chatcmpl-msg_01","object":"chat.completion.chunk","created":1764581400,"model":"Support","choices":[{"index":0,"delta":{"content":"Hi!"},"finish_reason":null}]}\n\n' +
          'data: {"id":"chatcmpl-msg_01","object":"chat.completion.chunk","created":1764581400,"model":"Support","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
          'data: [DONE]\n\n',
      },
    ],
    idempotent: true,
    errors: ['INSUFFICIENT_CREDITS', 'CONFLICT'],
  },

  [`POST ${SESSION}/messages`]: {
    summary: 'Send a message; the reply streams as Server-Sent Events (message.delta..., message.completed, or error)', description: 'Sends the user\'s message and streams the reply as Server-Sent Events: `message.delta` pieces, then `message.completed` with the stored reply and its cost, or `error`. An `Idempotency-Key` makes a retry replay the stored reply without charging again.',
    tag: 'Sessions',
    ...requestBody(sessionMessageBody(), { content: 'Hello there' }),
    responses: [
      {
        status: 200,
        description: 'text/event-stream of message.delta, message.completed or error events',
        mediaType: 'text/event-stream',
        events: { 'message.delta': S.MessageDelta, 'message.completed': S.MessageCompleted, error: S.StreamError },
        example:
          'event: message.delta\ndata: {"content":"Hi! How"}\n\nevent: message.delta\ndata: {"content":" can I help?"}\n\n' +
          'event: message.completed\ndata: {"messageId":"msg_02","content":"Hi! How can I help?","usage":{"credits":1}}\n\n',
      },
    ],
    idempotent: true,
    errors: ['CONFLICT', 'INSUFFICIENT_CREDITS'],
  },
  [`GET ${SESSION}/messages`]: { summary: 'History, oldest first', description: 'The session\'s messages, oldest first, a page at a time (`limit`, `cursor`).', tag: 'Sessions', query: historyQuery(), responses: [ok(S.History)] },
  [`POST ${SESSION}/end`]: { summary: 'End the session', description: 'Ends the session: its token stops working for new messages.', tag: 'Sessions', responses: [ok(S.SessionEnded)] },

  'GET /openapi.json': { summary: 'This API description (OpenAPI 3.1)', description: 'This document: every route with its parameters, bodies, responses and errors. No credentials needed.', tag: 'API description', responses: [ok(S.ApiDescription)] },
  'POST /_dev/token': {
    summary: 'Local runtime only: a portal token for any user (never deployed)', description: 'Local runtime only, never deployed: signs a portal token for any user id, as the user pool would. An `email` registers that user in the local user directory (unless `email_verified` is false), and `groups: ["operators"]` makes a platform operator.',
    tag: 'Local runtime',
    ...requestBody(devTokenBody, { sub: 'alice', email: 'alice@example.com', email_verified: true, groups: ['operators'] }),
    responses: [ok(S.DevToken)],
    // The email is registered for that sub in the local user directory; another sub's email is 409.
    errors: ['CONFLICT'],
  },
};
