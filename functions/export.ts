// Data export (secret API keys with the `export` scope): GET /api/export.
// Event: API Gateway REST proxy (APIGatewayProxyEvent) with the authorizer's context.
// The authorizer enforces the scope; this function refuses publishable keys again, defensively.
import { admit } from '../shared/db/rate-limits.ts';
import { ApiError } from '../shared/domain/errors.ts';
import { toCsv } from '../shared/chat/csv.ts';
import { COLUMNS, exportFileName, exportPage, NEXT_CURSOR_HEADER, parseExportQuery } from '../shared/chat/export.ts';
import { createApiHandler, type ApiRequest, type RouteHandler } from '../shared/http/pipeline.ts';
import { json } from '../shared/http/response.ts';
import type { RouteKey } from '../shared/routes.ts';

async function getExport(req: ApiRequest) {
  const key = req.key!;
  if (key.type !== 'secret' || !key.scopes.includes('export')) throw new ApiError('INSUFFICIENT_PERMISSIONS');
  const now = new Date();
  const request = parseExportQuery(req.query, now);
  const page = await exportPage(request, key.organizationId, now);
  if (request.format === 'json') return json(200, page);
  return {
    statusCode: 200,
    headers: {
      'Content-Type': 'text/csv; charset=utf-8; header=present',
      'Content-Disposition': `attachment; filename="${exportFileName(request)}"`,
      ...(page.nextCursor ? { [NEXT_CURSOR_HEADER]: page.nextCursor } : {}),
    },
    body: toCsv(COLUMNS[request.resource], page.items),
  };
}

export const routes = { 'GET /api/export': getExport } satisfies Record<RouteKey<'export'>, RouteHandler>;

export const handler = createApiHandler('export', routes, { admit });
