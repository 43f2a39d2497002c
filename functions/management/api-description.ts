// GET /openapi.json: the API description, generated once per function instance.
// The document code (every response schema, built at module load) is imported on the first request
// for it, not with the function: no other route needs it (cold start, docs/benchmarks.md figure 4).
import type { OpenApiDocument } from '../../shared/api-description/document.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';

let document: string | undefined;

export async function getApiDescription(_req: ApiRequest) {
  if (document === undefined) {
    const { buildApiDescription } = await import('../../shared/api-description/document.ts');
    document = JSON.stringify(
      buildApiDescription({ includeLocalOnly: process.env.KEYGATE_LOCAL_RUNTIME === '1' }) satisfies OpenApiDocument,
    );
  }
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' },
    body: document,
  };
}
