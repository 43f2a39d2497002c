// The deployed chat upstreams (portal route, docs/upstreams.md): names, kinds and models, never a
// URL or a secret. Org owners choose among them when they create an assistant.
import { listUpstreams } from '../../shared/chat/upstreams.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';
import { json } from '../../shared/http/response.ts';

export async function getUpstreams(_req: ApiRequest) {
  return json(200, { items: listUpstreams() });
}
