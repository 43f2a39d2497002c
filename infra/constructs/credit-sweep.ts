// The credit sweep in AWS: EventBridge Scheduler runs `creditSweep` (function-specs.ts) every minute,
// so a hold whose function died is settled within its deadline plus SETTLE_MARGIN_MS plus a minute
// (docs/limits.md "Credits").
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { SWEEP_EVERY_MS } from '../../shared/limits/credit-holds.ts';
import { acknowledge } from './nag.ts';

export const CREDIT_SWEEP_RATE = Duration.millis(SWEEP_EVERY_MS);

export interface CreditSweepProps {
  stage: string;
  sweep: lambda.IFunction;
}

export class CreditSweep extends Construct {
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: CreditSweepProps) {
    super(scope, id);
    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: `Lets EventBridge Scheduler invoke keygate-${props.stage}-creditSweep`,
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      scheduleName: `keygate-${props.stage}-credit-sweep`,
      description: 'Settles credit holds whose function died (shared/db/credits.ts sweepHolds)',
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(CREDIT_SWEEP_RATE.toMinutes())),
      target: new LambdaInvoke(props.sweep, { role, retryAttempts: 2, maxEventAge: Duration.minutes(5) }),
    });
    const sweepId = Stack.of(this).getLogicalId(props.sweep.node.defaultChild as lambda.CfnFunction);
    acknowledge(role, {
      id: `AwsSolutions-IAM5[Resource::<${sweepId}.Arn>:*]`,
      reason:
        'The Scheduler target grants lambda:InvokeFunction on the sweep function and its versions (ARN:*); the role ' +
        'can invoke that one function only and is assumable only by scheduler.amazonaws.com.',
    });
  }
}
