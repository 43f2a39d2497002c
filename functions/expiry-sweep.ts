// Run by EventBridge Scheduler: record the expiry notices due now (shared/webhooks/sweep.ts); the
// api-keys stream turns each into its api_key.expiring / api_key.expired event.
import { logger } from '../shared/log.ts';
import { sweepExpiringKeys } from '../shared/webhooks/sweep.ts';

export async function handler(): Promise<{ notices: number }> {
  const notices = await sweepExpiringKeys(new Date());
  logger.info('expiry sweep', { notices });
  return { notices };
}
