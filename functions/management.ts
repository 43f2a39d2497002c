// Management API (portal tokens): organizations, members, databases, keys and usage; and the
// public API description.
// Event: API Gateway REST proxy (APIGatewayProxyEvent); the route table assigns the routes.
import middy from '@middy/core';
import httpCors from '@middy/http-cors';
import { getMemberRole } from '../shared/db/organizations.ts';
import { createApiHandler, type RouteHandler } from '../shared/http/pipeline.ts';
import { ASSISTANT, KEY, ORG, type RouteKey } from '../shared/routes.ts';

/**
 * A route module imported on the first request to one of its routes, not with the function: most
 * of the function's code (the request schemas, the public suffix list, the Cognito, KMS and SQS
 * clients, the API description) serves only some routes, and one instance seldom sees them all
 * (cold start, docs/benchmarks.md figure 4). esbuild writes each as its own chunk, read on that request.
 */
function onFirstUse<M>(load: () => Promise<M>) {
  return <K extends { [P in keyof M]: M[P] extends RouteHandler ? P : never }[keyof M]>(name: K): RouteHandler =>
    async (req) => ((await load())[name] as RouteHandler)(req);
}

const orgs = onFirstUse(() => import('./management/organizations.ts'));
const keys = onFirstUse(() => import('./management/api-keys.ts'));
const audit = onFirstUse(() => import('./management/audit-log.ts'));
const webhooks = onFirstUse(() => import('./management/webhooks.ts'));
const upstreams = onFirstUse(() => import('./management/upstreams.ts'));
const assistants = onFirstUse(() => import('./management/assistants.ts'));
const description = onFirstUse(() => import('./management/api-description.ts'));

export const routes = {
  'POST /v1/organizations': orgs('postOrganization'),
  'GET /v1/organizations': orgs('getOrganizations'),
  [`GET ${ORG}`]: orgs('getOrganizationById'),
  [`PATCH ${ORG}`]: orgs('patchOrganization'),
  [`POST ${ORG}/credits`]: orgs('postCredits'),
  [`GET ${ORG}/members`]: orgs('getMembers'),
  [`POST ${ORG}/members`]: orgs('postMember'),
  [`PUT ${ORG}/members/{userId}`]: orgs('putMember'),
  [`DELETE ${ORG}/members/{userId}`]: orgs('deleteMember'),
  [`POST ${ORG}/databases`]: orgs('postDatabase'),
  [`GET ${ORG}/databases`]: orgs('getDatabases'),
  [`PATCH ${ORG}/databases/{databaseId}`]: orgs('patchDatabase'),
  [`POST ${ORG}/assistants`]: assistants('postAssistant'),
  [`GET ${ORG}/assistants`]: assistants('getAssistants'),
  [`GET ${ASSISTANT}`]: assistants('getAssistantById'),
  [`PATCH ${ASSISTANT}`]: assistants('patchAssistant'),
  [`DELETE ${ASSISTANT}`]: assistants('deleteAssistantById'),
  [`POST ${ORG}/api-keys`]: keys('postKey'),
  [`GET ${ORG}/api-keys`]: keys('getKeys'),
  [`GET ${KEY}`]: keys('getKey'),
  [`PATCH ${KEY}`]: keys('patchKey'),
  [`DELETE ${KEY}`]: keys('deleteKey'),
  [`POST ${KEY}/roll`]: keys('postRoll'),
  [`GET ${KEY}/usage`]: keys('getKeyUsage'),
  [`GET ${ORG}/usage`]: keys('getOrganizationUsage'),
  'GET /openapi.json': description('getApiDescription'),
  [`GET ${ORG}/audit-log`]: audit('getAuditLog'),
  [`POST ${ORG}/webhooks`]: webhooks('postWebhook'),
  [`GET ${ORG}/webhooks`]: webhooks('getWebhooks'),
  [`DELETE ${ORG}/webhooks/{webhookId}`]: webhooks('deleteWebhookById'),
  [`POST ${ORG}/webhooks/{webhookId}/test`]: webhooks('postWebhookTest'),
  [`GET ${ORG}/upstreams`]: upstreams('getUpstreams'),
} satisfies Record<RouteKey<'management'>, RouteHandler>;

// The portal front end may live on its own origin(s); PORTAL_ORIGINS lists them (comma-separated).
const portalOrigins = (process.env.PORTAL_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);

export const handler = middy(createApiHandler('management', routes, { loadRole: getMemberRole })).use(
  httpCors({ origins: portalOrigins, headers: 'Content-Type, Authorization', disableBeforePreflightResponse: true }),
);
