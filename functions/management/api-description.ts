// GET /openapi.json: the API description, generated once per function instance.
import { buildApiDescription, type OpenApiDocument } from '../../shared/api-description/document.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';

let document: string | undefined;

export async function getApiDescription(_req: ApiRequest) {
  document ??= JSON.stringify(
    buildApiDescription({ includeLocalOnly: process.env.KEYGATE_LOCAL_RUNTIME === '1' }) satisfies OpenApiDocument,
  );
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' },
    body: document,
  };
}
