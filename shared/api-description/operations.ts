// What the route table does not say about each route: a summary, the request schemas its handler
// validates with (imported, never copied), its success responses and an example. The document
// builder (document.ts) refuses a route without an entry here, so a new route cannot go undescribed.
import type * as z from 'zod';
import { exportQuery } from '../chat/export.ts';
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
  patchOrganizationBody,
} from '../domain/organization-rules.ts';
import { KEY, ORG, SESSION, type RouteKey } from '../routes.ts';
import { createAssistantBody, patchAssistantBody } from '../domain/assistants.ts';
import * as S from './schemas.ts';

export interface SuccessResponse {
  status: number;
  description: string;
  /** JSON body schema; omitted for 204 and for non-JSON bodies. */
  schema?: z.ZodType;
  /** Non-JSON bodies: their media type (SSE, CSV). */
  mediaType?: string;
}

export interface Operation {
  summary: string;
  tag: string;
  body?: z.ZodType;
  /** Whether a body may be omitted altogether. */
  bodyOptional?: boolean;
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

const ONE_SHOT: Operation = {
  summary: 'One-shot message: a reply, continuing `conversation_id` (yours or one returned earlier)',
  tag: 'Chat',
  body: oneShotBody,
  bodyExample: { message: 'Show me sales data', conversation_id: 'conv-abc' },
  responses: [ok(S.OneShotReply)],
  idempotent: true,
  errors: ['CONFLICT', 'INSUFFICIENT_CREDITS'],
};

/** One entry per route of the table, local-only ones included (the compiler checks the keys). */
export const OPERATIONS: Record<RouteKey, Operation> = {
  'POST /v1/organizations': {
    summary: 'Create an organization (the caller becomes its owner; plan free, initial credits)',
    tag: 'Organizations',
    body: createOrganizationBody,
    bodyExample: { name: 'Acme' },
    responses: [created(S.Organization)],
    // A user may create at most maxOrganizationsPerUser organizations (the free-credit bound).
    errors: ['CONFLICT'],
  },
  'GET /v1/organizations': { summary: "The caller's organizations with their role", tag: 'Organizations', responses: [ok(S.OrganizationList)] },
  [`GET ${ORG}`]: { summary: 'An organization (member+)', tag: 'Organizations', responses: [ok(S.Organization)] },
  [`PATCH ${ORG}`]: {
    summary: 'Change the plan or enterprise limits (operators), or the name or default assistant (owner)',
    tag: 'Organizations',
    body: patchOrganizationBody,
    bodyOptional: true,
    bodyExample: { defaultAssistantId: 'asst_4fGh7JkLmN2pQrStUvWx' },
    responses: [ok(S.Organization)],
  },
  [`POST ${ORG}/credits`]: {
    summary: 'Grant (or, negative, take back) credits (operators)',
    tag: 'Organizations',
    body: grantCreditsBody,
    bodyExample: { amount: 500, reason: 'welcome' },
    responses: [ok(S.Credits)],
    errors: ['CONFLICT'],
  },
  [`GET ${ORG}/members`]: { summary: 'Members with their email and role (member+)', tag: 'Members', responses: [ok(S.MemberList)] },
  [`POST ${ORG}/members`]: {
    summary:
      'Add a member by email (owner); an email with no account is invited to the user pool first (at most 20 invitations a UTC day per organization, 429 beyond); 409 if already a member',
    tag: 'Members',
    body: addMemberBody,
    bodyExample: { email: 'bob@example.com', role: 'admin' },
    responses: [created(S.Member)],
    errors: ['CONFLICT', 'RATE_LIMIT_EXCEEDED'],
  },
  [`PUT ${ORG}/members/{userId}`]: {
    summary: "Change a member's role (owner)",
    tag: 'Members',
    body: memberRoleBody,
    bodyExample: { role: 'admin' },
    responses: [ok(S.Member)],
    errors: ['CONFLICT'],
  },
  [`DELETE ${ORG}/members/{userId}`]: {
    summary: 'Remove a member (owner); 409 for the last owner',
    tag: 'Members',
    responses: [noContent('Removed')],
    errors: ['CONFLICT'],
  },
  [`POST ${ORG}/databases`]: {
    summary: 'Create a database (owner, admin)',
    tag: 'Databases',
    body: createDatabaseBody,
    bodyExample: { name: 'Sales' },
    responses: [created(S.Database)],
  },
  [`GET ${ORG}/databases`]: { summary: 'Databases (member+)', tag: 'Databases', responses: [ok(S.DatabaseList)] },
  [`PATCH ${ORG}/databases/{databaseId}`]: {
    summary: 'Rename a database or choose the assistant that answers for it (owner, admin); assistantId null: the org default',
    tag: 'Databases',
    body: patchDatabaseBody,
    bodyOptional: true,
    bodyExample: { assistantId: 'asst_4fGh7JkLmN2pQrStUvWx' },
    responses: [ok(S.Database)],
    errors: ['CONFLICT'],
  },
  [`POST ${ORG}/assistants`]: {
    summary: 'Create an assistant (owner): a deployed upstream and model, instructions, input and output caps, temperature; 409 for a name in use',
    tag: 'Assistants',
    body: createAssistantBody,
    bodyExample: { name: 'Support', upstream: 'bedrock', instructions: 'Answer questions about our product. Be brief.', maxOutputTokens: 512 },
    responses: [created(S.Assistant)],
    errors: ['CONFLICT'],
  },
  [`GET ${ORG}/assistants`]: { summary: "The organization's assistants, `Default` included (member+)", tag: 'Assistants', responses: [ok(S.AssistantList)] },
  [`GET ${ORG}/assistants/{assistantId}`]: { summary: 'An assistant (member+)', tag: 'Assistants', responses: [ok(S.Assistant)] },
  [`PATCH ${ORG}/assistants/{assistantId}`]: {
    summary: "Change an assistant (owner); changing only the upstream moves to its first model. Sessions keep the settings they started with",
    tag: 'Assistants',
    body: patchAssistantBody,
    bodyOptional: true,
    bodyExample: { temperature: 0.2 },
    responses: [ok(S.Assistant)],
    errors: ['CONFLICT'],
  },
  [`DELETE ${ORG}/assistants/{assistantId}`]: {
    summary: 'Delete an assistant (owner); 409 while the org default, a database or a key names it',
    tag: 'Assistants',
    responses: [noContent('Deleted')],
    errors: ['CONFLICT'],
  },
  [`POST ${ORG}/api-keys`]: {
    summary: 'Create a key (owner); the response holds its plaintext `key`, shown once for secret keys',
    tag: 'API keys',
    body: createKeyBody,
    bodyExample: { name: 'Website', type: 'widget', allowedDomains: ['mysite.com'], assistantId: 'asst_4fGh7JkLmN2pQrStUvWx' },
    responses: [created(S.ApiKey)],
  },
  [`GET ${ORG}/api-keys`]: {
    summary: 'List keys, newest first, filtered by type and status (member+)',
    tag: 'API keys',
    query: listKeysQuery,
    responses: [ok(S.ApiKeyList)],
  },
  [`GET ${KEY}`]: { summary: 'A key (member+); publishable keys include `key`', tag: 'API keys', responses: [ok(S.ApiKey)] },
  [`PATCH ${KEY}`]: {
    summary: "Rename, change allowed domains, disable or enable, set a rate limit, re-pin a publishable key's assistant (owner); effective at once",
    tag: 'API keys',
    body: patchKeyBody,
    bodyOptional: true,
    bodyExample: { status: 'disabled' },
    responses: [ok(S.ApiKey)],
    errors: ['CONFLICT'],
  },
  [`DELETE ${KEY}`]: {
    summary: 'Revoke a key (owner): permanent and immediate, its sessions end',
    tag: 'API keys',
    responses: [noContent('Revoked')],
  },
  [`POST ${KEY}/roll`]: {
    summary: 'Roll a key (owner): a replacement now, the old key expires after the grace period',
    tag: 'API keys',
    body: rollKeyBody,
    bodyOptional: true,
    bodyExample: { gracePeriodHours: 2 },
    responses: [created(S.ApiKey, 'The replacement, with its plaintext `key`')],
  },
  [`GET ${KEY}/usage`]: { summary: "A key's usage per UTC day (member+)", tag: 'Usage', query: usageQuery, responses: [ok(S.UsageDays)] },
  [`GET ${ORG}/usage`]: { summary: "The organization's usage per UTC day (member+)", tag: 'Usage', query: usageQuery, responses: [ok(S.UsageDays)] },
  [`GET ${ORG}/audit-log`]: {
    summary: 'Audit log, newest first; filters action, targetId, from (inclusive), to (exclusive) (owner, admin)',
    tag: 'Audit log',
    query: auditLogQuery,
    responses: [ok(S.AuditLogPage)],
  },
  [`POST ${ORG}/webhooks`]: {
    summary: 'Create a webhook; the signing secret is in this response only (owner; at most 10)',
    tag: 'Webhooks',
    body: createWebhookBody,
    bodyExample: { url: 'https://example.com/keygate', events: ['api_key.expiring', 'api_key.revoked'] },
    responses: [created(S.CreatedWebhook)],
    errors: ['CONFLICT'],
  },
  [`GET ${ORG}/webhooks`]: { summary: "The organization's webhooks (owner, admin)", tag: 'Webhooks', responses: [ok(S.WebhookList)] },
  [`DELETE ${ORG}/webhooks/{webhookId}`]: { summary: 'Delete a webhook (owner)', tag: 'Webhooks', responses: [noContent('Deleted')] },
  [`POST ${ORG}/webhooks/{webhookId}/test`]: {
    summary: 'Send a ping event to this webhook (owner); at most one test per webhook per minute (429 beyond)',
    tag: 'Webhooks',
    responses: [{ status: 202, description: 'Queued', schema: S.WebhookTest }],
    errors: ['RATE_LIMIT_EXCEEDED'],
  },
  [`GET ${ORG}/upstreams`]: {
    summary: 'The deployed chat upstreams an assistant can use, with their models (member+)',
    tag: 'Assistants',
    responses: [ok(S.UpstreamList)],
  },

  'GET /v1/auth/whoami': { summary: "The presented key's identity", tag: 'Keys in use', responses: [ok(S.Whoami)] },
  'POST /v1/chat/sessions': {
    summary: 'Start a chat session; its token authenticates the session routes',
    tag: 'Chat',
    body: createSessionBody,
    bodyOptional: true,
    bodyExample: { metadata: { page: 'checkout' } },
    responses: [created(S.Session)],
    errors: ['INSUFFICIENT_CREDITS'],
  },
  'POST /v1/chat/voice-sessions': {
    summary: 'Start a voice session',
    tag: 'Chat',
    body: createSessionBody,
    bodyOptional: true,
    responses: [created(S.Session)],
    errors: ['INSUFFICIENT_CREDITS'],
  },
  'POST /v1/chat/message': ONE_SHOT,
  'POST /api/v1/chat/message': {
    ...ONE_SHOT,
    summary: 'One-shot message (the same as POST /v1/chat/message, at the path dialektai clients use)',
  },
  'GET /api/export': {
    summary: "Export the organization's sessions, messages or usage (secret keys with the export scope)",
    tag: 'Export',
    query: exportQuery,
    responses: [
      ok(S.ExportPage, 'format=json'),
      { status: 200, description: 'format=csv; the next cursor is in X-Next-Cursor', mediaType: 'text/csv' },
    ],
  },

  [`POST ${SESSION}/messages`]: {
    summary: 'Send a message; the reply streams as Server-Sent Events (message.delta..., message.completed, or error)',
    tag: 'Sessions',
    body: sessionMessageBody,
    bodyExample: { content: 'Hello there' },
    responses: [{ status: 200, description: 'text/event-stream of message.delta, message.completed or error events', mediaType: 'text/event-stream' }],
    idempotent: true,
    errors: ['CONFLICT', 'INSUFFICIENT_CREDITS'],
  },
  [`GET ${SESSION}/messages`]: { summary: 'History, oldest first', tag: 'Sessions', query: historyQuery, responses: [ok(S.History)] },
  [`POST ${SESSION}/end`]: { summary: 'End the session', tag: 'Sessions', responses: [ok(S.SessionEnded)] },

  'GET /openapi.json': { summary: 'This API description (OpenAPI 3.1)', tag: 'API description', responses: [ok(S.ApiDescription)] },
  'POST /_dev/token': {
    summary: 'Local runtime only: a portal token for any user (never deployed)',
    tag: 'Local runtime',
    bodyExample: { sub: 'alice', email: 'alice@example.com', groups: ['operators'] },
    responses: [ok(S.DevToken)],
    // The email is registered for that sub in the local user directory; another sub's email is 409.
    errors: ['CONFLICT'],
  },
};
