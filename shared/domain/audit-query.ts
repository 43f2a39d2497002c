// Query of GET /v1/organizations/{orgId}/audit-log (docs/api.md "Audit log"). Apart from audit.ts,
// which every function that writes an audit entry loads, so those functions do not load zod for it
// (cold start, docs/benchmarks.md figure 4).
import * as z from 'zod';
import { AUDIT_ACTIONS } from './audit.ts';
import { intQuery } from './validation.ts';

const queryTime = z.iso.datetime({ offset: true, error: 'must be an ISO-8601 date-time' }).transform((s) => new Date(s));

/** Query of GET /v1/organizations/{orgId}/audit-log: `from` inclusive, `to` exclusive. */
export const auditLogQuery = z.object({
  limit: intQuery(1, 100, 50),
  cursor: z.string().max(1024).optional(),
  action: z.enum(AUDIT_ACTIONS, { error: `must be one of ${AUDIT_ACTIONS.join(', ')}` }).optional(),
  // Target ids are ours (org_, key_, db_, wh_) or user ids: short, and a DynamoDB key must stay under 2 KiB.
  targetId: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').optional(),
  from: queryTime.optional(),
  to: queryTime.optional(),
});
