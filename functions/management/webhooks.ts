// Webhooks (portal routes, docs/api.md "Webhooks"): create (the secret shown once), list, delete, test.
import { validationError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import { iso } from '../../shared/domain/time.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { createWebhookBody } from '../../shared/domain/webhook-rules.ts';
import { urlPolicyFromEnv, urlProblem } from '../../shared/domain/webhook-urls.ts';
import type { WebhookEvent } from '../../shared/domain/webhooks.ts';
import { claimTest, createWebhook, deleteWebhook, listWebhooks, webhookView } from '../../shared/db/webhooks.ts';
import { auditContext } from '../../shared/http/audit-context.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { dispatch } from '../../shared/webhooks/dispatch.ts';

export async function postWebhook(req: ApiRequest) {
  const input = parseInput(createWebhookBody, req.body);
  const problem = urlProblem(input.url, urlPolicyFromEnv());
  if (problem) throw validationError([{ field: 'url', message: problem }]);
  const { item, secret } = await createWebhook(req.params.orgId!, input, auditContext(req), new Date());
  return json(201, { ...webhookView(item), secret });
}

export async function getWebhooks(req: ApiRequest) {
  return json(200, { items: (await listWebhooks(req.params.orgId!)).map(webhookView) });
}

export async function deleteWebhookById(req: ApiRequest) {
  await deleteWebhook(req.params.orgId!, req.params.webhookId!, auditContext(req), new Date());
  return noContent();
}

/** 202: a `ping` event is queued for this webhook alone; its id is returned to find it at the receiver. */
export async function postWebhookTest(req: ApiRequest) {
  // At most one test per webhook per minute: a test route must not amplify traffic to the receiver.
  const webhook = await claimTest(req.params.orgId!, req.params.webhookId!, new Date());
  const event: WebhookEvent = {
    id: newId('evt', 24),
    type: 'ping',
    createdAt: iso(new Date()),
    organizationId: webhook.organizationId,
    data: { webhookId: webhook.id },
  };
  await dispatch(event, [webhook]);
  return json(202, { id: event.id, type: event.type });
}
