// Run by EventBridge Scheduler every minute: settle the credit holds whose function died (shared/db/credits.ts
// sweepHolds): returned whole if no delta reached the caller, else charged in full (`settledBy: "sweep"`).
import { sweepHolds } from '../shared/db/credits.ts';
import { logger } from '../shared/log.ts';

export async function handler(): Promise<{ settled: number }> {
  const settled = await sweepHolds(new Date());
  logger.info('credit sweep', { settled });
  return { settled };
}
