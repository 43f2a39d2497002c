// Who is making a management request, for its audit entry: the portal user (an `operator` when the
// token is in the operators group), the request id, source IP and user agent.
import { MAX_USER_AGENT, type AuditContext } from '../domain/audit.ts';
import type { ApiRequest } from './pipeline.ts';

export function auditContext(req: ApiRequest): AuditContext {
  const user = req.user;
  if (!user) throw new Error('auditContext needs a portal route');
  return {
    actor: { type: user.isOperator ? 'operator' : 'user', id: user.userId, email: user.email ?? null },
    requestId: req.requestId,
    sourceIp: req.sourceIp ?? null,
    userAgent: req.headers['user-agent']?.slice(0, MAX_USER_AGENT) ?? null,
  };
}
