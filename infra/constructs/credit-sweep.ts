// The credit sweep in AWS: EventBridge Scheduler runs `creditSweep` (function-specs.ts) every minute,
// so a hold whose function died is settled within its deadline plus SETTLE_MARGIN_MS plus a minute
// (docs/limits.md "Credits").
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { SWEEP_EVERY_MS } from '../../shared/limits/credit-holds.ts';
import { scheduleInvocations } from './scheduled-invoke.ts';

export const CREDIT_SWEEP_RATE = Duration.millis(SWEEP_EVERY_MS);

export interface CreditSweepProps {
  stage: string;
  sweep: lambda.IFunction;
}

export class CreditSweep extends Construct {
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: CreditSweepProps) {
    super(scope, id);
    this.schedule = scheduleInvocations(this, {
      roleId: 'SchedulerRole',
      scheduleId: 'Schedule',
      scheduleName: `keygate-${props.stage}-credit-sweep`,
      functionName: `keygate-${props.stage}-creditSweep`,
      description: 'Settles credit holds whose function died (shared/db/credits.ts sweepHolds)',
      rate: Duration.minutes(CREDIT_SWEEP_RATE.toMinutes()),
      fn: props.sweep,
      maxEventAge: Duration.minutes(5),
    });
  }
}
