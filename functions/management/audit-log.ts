// GET /v1/organizations/{orgId}/audit-log (owner, admin; operators for any org): newest first,
// filters action, targetId, from (inclusive) and to (exclusive), cursor pagination (docs/api.md "Audit log").
import { auditLogQuery } from '../../shared/domain/audit-query.ts';
import { validationError } from '../../shared/domain/errors.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { listAuditLog } from '../../shared/db/audit-log.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';
import { json } from '../../shared/http/response.ts';

export async function getAuditLog(req: ApiRequest) {
  const query = parseInput(auditLogQuery, req.query);
  if (query.from && query.to && query.from >= query.to) {
    throw validationError([{ field: 'to', message: 'must be after from' }]);
  }
  return json(200, await listAuditLog(req.params.orgId!, query));
}
