// cdk-nag v3 acknowledgements go through CDK's own Validations API and apply to the construct they
// are placed on and everything under it. Each one is placed next to its resource with its reason.
// v3 matches finding ids exactly: an IAM5 finding is acknowledged as `AwsSolutions-IAM5[Resource::*]`,
// never as a bare `AwsSolutions-IAM5` covering every wildcard.
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface NagAcknowledgement {
  /** Full finding id, e.g. `AwsSolutions-APIG2` or `AwsSolutions-IAM5[Resource::*]`. */
  id: `AwsSolutions-${string}`;
  reason: string;
}

export function acknowledge(scope: IConstruct, ...rules: NagAcknowledgement[]): void {
  for (const rule of rules) {
    if (rule.reason.trim().length < 40) throw new Error(`cdk-nag acknowledgement ${rule.id} needs a real reason`);
  }
  Validations.of(scope).acknowledge(...rules);
}
