// The audit context tests pass when they call a repository directly (no HTTP request behind it).
import { actorContext } from '../../shared/domain/audit.ts';

export const TEST_AUDIT = actorContext({ type: 'system', id: 'test-suite', email: null });
