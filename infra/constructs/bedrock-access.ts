// Lets a function call Bedrock models (ConverseStream needs InvokeModelWithResponseStream, Converse
// needs InvokeModel), and the Secrets Manager secrets its upstreams name.
import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { parseInferenceProfileId } from '../../shared/chat/bedrock-model.ts';
import { acknowledge } from './nag.ts';

export const BEDROCK_MODEL_ENV = 'BEDROCK_MODEL_ID';
const INVOKE_ACTIONS = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];

/**
 * A foundation-model id: one statement on the model in this Region. An inference profile id: the
 * profile in this Region, plus the model in every Region it may route to, the latter only when
 * called through that profile (condition `bedrock:InferenceProfileArn`). The destination Regions of
 * a profile grow over time, so they are `*` rather than a list that would deny a new one; a global
 * profile's model ARN has an empty Region, which is named as well.
 */
export function grantBedrockModel(fn: lambda.Function, modelId: string): void {
  grantBedrockInvoke(fn, modelId, '');
  fn.addEnvironment(BEDROCK_MODEL_ENV, modelId);
}

/** The invoke grant alone; `sidSuffix` keeps statement ids distinct when a function gets several models. */
export function grantBedrockInvoke(fn: lambda.Function, modelId: string, sidSuffix: string): void {
  const stack = Stack.of(fn);
  const profile = parseInferenceProfileId(modelId);
  if (!profile) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `BedrockInvokeModel${sidSuffix}`,
        actions: INVOKE_ACTIONS,
        resources: [`arn:${stack.partition}:bedrock:${stack.region}::foundation-model/${modelId}`],
      }),
    );
  } else {
    const profileArn = `arn:${stack.partition}:bedrock:${stack.region}:${stack.account}:inference-profile/${modelId}`;
    const anyRegionModel = `arn:${stack.partition}:bedrock:*::foundation-model/${profile.foundationModelId}`;
    const modelResources = [anyRegionModel];
    if (profile.geography === 'global') {
      modelResources.push(`arn:${stack.partition}:bedrock:::foundation-model/${profile.foundationModelId}`);
    }
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: `BedrockInvokeInferenceProfile${sidSuffix}`, actions: INVOKE_ACTIONS, resources: [profileArn] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `BedrockInvokeModelThroughProfile${sidSuffix}`,
        actions: INVOKE_ACTIONS,
        resources: modelResources,
        conditions: { StringEquals: { 'bedrock:InferenceProfileArn': profileArn } },
      }),
    );
    acknowledge(fn.role!, {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/${profile.foundationModelId}]`,
      reason:
        'A cross-region inference profile sends each request to any region of its geography; the model ' +
        'grant must name every region (region "*"), still limited to this one model and to calls through the profile.',
    });
  }
}

/**
 * secretsmanager:GetSecretValue on exactly the named secrets. A full ARN is used as it is; a name
 * matches the ARN Secrets Manager gives it (the name, `-` and six random characters).
 */
export function grantSecretValues(fn: lambda.Function, secretNames: readonly string[]): void {
  if (secretNames.length === 0) return;
  const stack = Stack.of(fn);
  const resources = [...new Set(secretNames)].map((name) =>
    name.startsWith('arn:')
      ? name
      : Arn.format({ service: 'secretsmanager', resource: 'secret', resourceName: `${name}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack),
  );
  fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'UpstreamSecrets', actions: ['secretsmanager:GetSecretValue'], resources }));
}

/** A KMS key ARN (not an alias: IAM matches Decrypt against the key's own ARN). */
export const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,128}$/;

/**
 * kms:Decrypt on the customer-managed keys that encrypt upstream secrets (context
 * `upstreamSecretKeys`), only when Secrets Manager asks for it on the function's behalf. A secret
 * under the AWS managed key `aws/secretsmanager` needs none of this.
 */
export function grantSecretKeys(fn: lambda.Function, keyArns: readonly string[]): void {
  if (keyArns.length === 0) return;
  const stack = Stack.of(fn);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'UpstreamSecretKeys',
      actions: ['kms:Decrypt'],
      resources: [...new Set(keyArns)],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.${stack.urlSuffix}` } },
    }),
  );
}
