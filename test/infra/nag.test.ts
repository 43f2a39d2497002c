// cdk-nag AwsSolutions: no finding without a written reason, and no reason without a finding.
// cdk-nag v3 runs as a CDK validation plugin (Validations.of(app).addPlugins), so an unacknowledged
// finding already fails the synth in the fixture; these tests say which and why.
import { Validations, type PolicyViolation } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { synthBeforeAll } from '../support/stack.ts';

interface Acknowledgement {
  id: string;
  reason: string;
  path: string;
}

function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^annotation::/i, ''),
          reason,
          path: construct.node.path,
        })),
      ),
  );
}

/** What the pack finds when acknowledgements are ignored. */
function rawFindings(root: IConstruct): PolicyViolation[] {
  const pack = new AwsSolutionsChecks();
  Object.assign(pack, { isAcknowledged: () => false });
  return pack.validateScope(root).violations;
}

const describeViolations = (violations: PolicyViolation[]) =>
  violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));

// The reviewed list: adding an acknowledgement is a deliberate change here.
const ACKNOWLEDGED = [
  'AwsSolutions-APIG2', // request validation is done in the functions (contract error bodies)
  'AwsSolutions-APIG4', // portal and session routes verify their JWT in the function
  'AwsSolutions-APIG6', // execution logs need the account-wide CloudWatch role
  'AwsSolutions-COG2', // MFA optional
  'AwsSolutions-COG4', // no Cognito authorizer: API keys, and JWTs verified in functions
  'AwsSolutions-COG8', // Essentials feature plan
  'AwsSolutions-IAM5[Resource::*]', // X-Ray, dynamodb:ListStreams, and the portal deploy's CloudFront invalidation (narrowed by a Deny)
  // EventBridge Scheduler's roles may invoke the expiry and credit sweep functions and their versions
  'AwsSolutions-IAM5[Resource::<ExpirySweepFunctionEE80CE0A.Arn>:*]',
  'AwsSolutions-IAM5[Resource::<CreditSweepFunction6D93B784.Arn>:*]',
  'AwsSolutions-SMG4', // session signing key rotation needs dual-key verification first
  // The portal's hosting (infra/constructs/portal-hosting.ts):
  'AwsSolutions-S1', // the static build bucket: CloudFront metrics instead of S3 access logs
  'AwsSolutions-CFR1', // no geo restriction for a signed-in, worldwide portal
  'AwsSolutions-CFR2', // static files only; the API has its web ACL
  'AwsSolutions-CFR3', // no CloudFront standard logs for content-hashed static files
  'AwsSolutions-CFR4', // the default certificate cannot pin TLS 1.2
  // BucketDeployment's handler (aws-cdk-lib's own function, runs only during deploys):
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
  'AwsSolutions-IAM5[Action::s3:GetObject*]',
  'AwsSolutions-IAM5[Action::s3:GetBucket*]',
  'AwsSolutions-IAM5[Action::s3:List*]',
  'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
  'AwsSolutions-IAM5[Action::s3:Abort*]',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
  'AwsSolutions-IAM5[Resource::<PortalHostingBucket1ED002EC.Arn>/*]',
  // The account's API Gateway CloudWatch Logs role (AWS managed policy):
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
  'AwsSolutions-L1',
];
// The model grant of an inference profile names region "*" (the profile routes to any region of its geography).
const PROFILE_MODEL_ACK = 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/anthropic.claude-haiku-5-5]';

describe.each([
  ['the default model (a global inference profile)', {}, [...ACKNOWLEDGED, PROFILE_MODEL_ACK]],
  ['a geographic inference profile', { bedrockModelId: 'eu.anthropic.claude-haiku-5-5' }, [...ACKNOWLEDGED, PROFILE_MODEL_ACK]],
  ['a foundation model called in its own region', { bedrockModelId: 'amazon.nova-lite-v1:0' }, ACKNOWLEDGED],
])('cdk-nag AwsSolutions with %s', (_, context, expected) => {
  const s = synthBeforeAll({ context });

  it('has no unacknowledged finding, error or warning', () => {
    const report = new AwsSolutionsChecks().validateScope(s.stack);
    expect(describeViolations(report.violations)).toEqual([]);
  });

  it('acknowledges exactly the reviewed rules', () => {
    expect([...new Set(acknowledgements(s.stack).map((a) => a.id))].sort()).toEqual([...expected].sort());
  });

  it('gives every acknowledgement a specific reason', () => {
    for (const ack of acknowledgements(s.stack)) {
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(80);
    }
  });

  it('acknowledges only findings that exist, on the construct that has them', () => {
    const findings = rawFindings(s.stack);
    for (const ack of acknowledgements(s.stack)) {
      const matched = findings.some(
        (f) =>
          f.ruleName === ack.id &&
          f.violatingResources.some((r) => r.constructPath === ack.path || r.constructPath?.startsWith(`${ack.path}/`)),
      );
      expect(matched, `stale acknowledgement ${ack.id} at ${ack.path}`).toBe(true);
    }
  });

  it('writes the acknowledgements into the template metadata for audit', () => {
    const written = Object.values(s.resources).flatMap(
      (r) => (r.Metadata?.cdk_nag?.rules_to_suppress ?? []) as { id: string; reason: string }[],
    );
    expect(new Set(written.map((w) => w.id))).toEqual(new Set(expected));
    for (const w of written) expect(w.reason.length).toBeGreaterThanOrEqual(80);
  });
});
