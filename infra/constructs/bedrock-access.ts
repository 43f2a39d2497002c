// Lets a function call one Bedrock model (ConverseStream needs InvokeModelWithResponseStream,
// Converse needs InvokeModel) and tells it which one in BEDROCK_MODEL_ID.
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { acknowledge } from './nag.ts';

export const BEDROCK_MODEL_ENV = 'BEDROCK_MODEL_ID';
const INVOKE_ACTIONS = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];

/** Cross-region inference profile ids carry a geography prefix, e.g. `us.anthropic.claude-...`. */
const INFERENCE_PROFILE_PREFIX = /^(us|eu|apac|jp|au|ca|us-gov|global)\./;

export function grantBedrockModel(fn: lambda.Function, modelId: string): void {
  const stack = Stack.of(fn);
  const profile = INFERENCE_PROFILE_PREFIX.exec(modelId);
  if (!profile) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'BedrockInvokeModel',
        actions: INVOKE_ACTIONS,
        resources: [`arn:${stack.partition}:bedrock:${stack.region}::foundation-model/${modelId}`],
      }),
    );
  } else {
    // A profile routes each call to a region of its geography, so the model grant spans regions.
    const baseModelId = modelId.slice(profile[0].length);
    const anyRegionModel = `arn:${stack.partition}:bedrock:*::foundation-model/${baseModelId}`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'BedrockInvokeInferenceProfile',
        actions: INVOKE_ACTIONS,
        resources: [`arn:${stack.partition}:bedrock:${stack.region}:${stack.account}:inference-profile/${modelId}`, anyRegionModel],
      }),
    );
    acknowledge(fn.role!, {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/${baseModelId}]`,
      reason:
        'A cross-region inference profile sends each request to any region of its geography; the model ' +
        'grant must name every region (region "*"), still limited to this one model.',
    });
  }
  fn.addEnvironment(BEDROCK_MODEL_ENV, modelId);
}
