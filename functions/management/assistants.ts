// Assistants (portal routes): create, list, read, change and delete an organization's assistants.
// Every organization has `Default`; one made before assistants existed gets it on the first request
// here (or to its organization, a key or database that needs it).
import { defaultAssistantOf } from '../../shared/chat/assistants.ts';
import { listUpstreams } from '../../shared/chat/upstreams.ts';
import { assistantSettings, createAssistantBody, patchAssistantBody, patchedSettings } from '../../shared/domain/assistant-rules.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import {
  assistantView,
  createAssistant,
  deleteAssistant,
  listAssistants,
  requireAssistant,
  updateAssistant,
} from '../../shared/db/assistants.ts';
import { requireOrganization } from '../../shared/db/organizations.ts';
import { auditContext } from '../../shared/http/audit-context.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';
import { json, noContent } from '../../shared/http/response.ts';

async function ensureDefault(orgId: string): Promise<void> {
  const org = await requireOrganization(orgId);
  if (!org.defaultAssistantId) await defaultAssistantOf(org);
}

export async function postAssistant(req: ApiRequest) {
  const orgId = req.params.orgId!;
  await ensureDefault(orgId);
  const settings = assistantSettings(parseInput(createAssistantBody, req.body), listUpstreams());
  return json(201, assistantView(await createAssistant(orgId, settings, auditContext(req), new Date())));
}

export async function getAssistants(req: ApiRequest) {
  const orgId = req.params.orgId!;
  await ensureDefault(orgId);
  return json(200, { items: (await listAssistants(orgId)).map(assistantView) });
}

export async function getAssistantById(req: ApiRequest) {
  const orgId = req.params.orgId!;
  await ensureDefault(orgId);
  return json(200, assistantView(await requireAssistant(orgId, req.params.assistantId!)));
}

export async function patchAssistant(req: ApiRequest) {
  const orgId = req.params.orgId!;
  const input = parseInput(patchAssistantBody, req.body ?? {});
  if (Object.keys(input).length === 0) {
    throw new ApiError('VALIDATION_ERROR', 'Nothing to change', { details: [{ field: 'body', message: 'give at least one field to change' }] });
  }
  const current = await requireAssistant(orgId, req.params.assistantId!);
  const next = patchedSettings(current, input, listUpstreams());
  return json(200, assistantView(await updateAssistant(current, next, auditContext(req), new Date())));
}

export async function deleteAssistantById(req: ApiRequest) {
  await deleteAssistant(req.params.orgId!, req.params.assistantId!, auditContext(req), new Date());
  return noContent();
}
