// A function that EventBridge Scheduler invokes at a fixed rate (the expiry sweep, the credit sweep):
// its own role that can invoke only that function, assumable only by the scheduler.
import { type Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { acknowledge } from './nag.ts';

export interface ScheduledInvokeProps {
  /** Construct ids of the role and of the schedule. */
  roleId: string;
  scheduleId: string;
  scheduleName: string;
  /** Named in the role's description. */
  functionName: string;
  description: string;
  rate: Duration;
  fn: lambda.IFunction;
  /** How long a failed invocation is retried (twice at most). */
  maxEventAge: Duration;
}

export function scheduleInvocations(scope: Construct, props: ScheduledInvokeProps): scheduler.Schedule {
  const role = new iam.Role(scope, props.roleId, {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
    description: `Lets EventBridge Scheduler invoke ${props.functionName}`,
  });
  const schedule = new scheduler.Schedule(scope, props.scheduleId, {
    scheduleName: props.scheduleName,
    description: props.description,
    schedule: scheduler.ScheduleExpression.rate(props.rate),
    target: new LambdaInvoke(props.fn, { role, retryAttempts: 2, maxEventAge: props.maxEventAge }),
  });
  const fnId = Stack.of(scope).getLogicalId(props.fn.node.defaultChild as lambda.CfnFunction);
  acknowledge(role, {
    id: `AwsSolutions-IAM5[Resource::<${fnId}.Arn>:*]`,
    reason:
      'The Scheduler target grants lambda:InvokeFunction on the sweep function and its versions (ARN:*); the role ' +
      'can invoke that one function only and is assumable only by scheduler.amazonaws.com.',
  });
  return schedule;
}
