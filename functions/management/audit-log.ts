// GET /v1/organizations/{orgId}/audit-log (owner, admin; operators for any org): newest first,
// filters action, targetId, from (inclusive) and to (exclusive), cursor pagination (docs/api.md section 11).
import { z } from 'zod';
import { AUDIT_ACTIONS } from '../../shared/domain/audit.ts';
import { validationError } from '../../shared/domain/errors.ts';
import { intQuery, parseInput } from '../../shared/domain/validation.ts';
import { listAuditLog } from '../../shared/db/audit-log.ts';
import type { ApiRequest } from '../../shared/http/pipeline.ts';
import { json } from '../../shared/http/response.ts';

const time = z.iso.datetime({ offset: true, error: 'must be an ISO-8601 date-time' }).transform((s) => new Date(s));

const auditQuery = z.object({
  limit: intQuery(1, 100, 50),
  cursor: z.string().max(1024).optional(),
  action: z.enum(AUDIT_ACTIONS, { error: `must be one of ${AUDIT_ACTIONS.join(', ')}` }).optional(),
  // Target ids are ours (org_, key_, db_, wh_) or user ids: short, and a DynamoDB key must stay under 2 KiB.
  targetId: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').optional(),
  from: time.optional(),
  to: time.optional(),
});

export async function getAuditLog(req: ApiRequest) {
  const query = parseInput(auditQuery, req.query);
  if (query.from && query.to && query.from >= query.to) {
    throw validationError([{ field: 'to', message: 'must be after from' }]);
  }
  return json(200, await listAuditLog(req.params.orgId!, query));
}
