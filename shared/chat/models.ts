// `GET /v1/models` of the OpenAI-compatible API (docs/openai.md): the assistants a key may use, as
// OpenAI models. Apart from completions.ts, so the public function does not load the reply path.
import { listAssistants } from '../db/assistants.ts';
import type { Assistant } from '../domain/assistants.ts';
import type { ApiRequest } from '../http/pipeline.ts';
import { json, type HttpResult } from '../http/response.ts';
import { resolveAssistant } from './assistants.ts';

/** `GET /v1/models`: the assistants the key may use, by name (a publishable key: its pinned one). */
export async function listModels(req: ApiRequest): Promise<HttpResult> {
  const key = req.key!;
  let assistants: Assistant[];
  if (key.type === 'publishable') {
    assistants = [await resolveAssistant({ key })];
  } else {
    assistants = await listAssistants(key.organizationId);
    // An organization from before assistants gets its Default on first use.
    if (assistants.length === 0) assistants = [await resolveAssistant({ key })];
  }
  return json(200, {
    object: 'list',
    data: assistants.map((a) => ({
      id: a.name,
      object: 'model',
      created: Math.floor(Date.parse(a.createdAt) / 1000),
      owned_by: key.organizationId,
    })),
  });
}
