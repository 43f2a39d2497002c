// What a first `cdk deploy` in a new account needs from the template: the API Gateway CloudWatch role,
// retries after a failed create, names unique per account and region, and ordering CloudFormation
// does not infer by itself.
import { describe, expect, it } from 'vitest';
import type { CfnElement } from 'aws-cdk-lib';
import { physicalTableName, TABLES } from '../../shared/tables.ts';
import { validatePattern } from '../../shared/webhooks/event-pattern.ts';
import { STREAM_FILTERS } from '../../shared/webhooks/stream-filters.ts';
import { ofType, SETUP_TIMEOUT_MS, single, synthBeforeAll, synthKeygate, type CfnResource, type Synthesized } from '../support/stack.ts';

/** The stack with cdk.json's context, synthesized once for the file (its tests only read it). */
const s = synthBeforeAll();

describe('a first deploy in a new account', () => {
  describe('the API Gateway CloudWatch Logs role (the stage has access logs)', () => {
    it('is set for the account by the stack, with a role kept on delete', () => {
      const [accountId, account] = single(s.resources, 'AWS::ApiGateway::Account');
      const roleId: string = account.Properties!.CloudWatchRoleArn['Fn::GetAtt'][0];
      const role = s.resources[roleId]!;
      expect(role.Type).toBe('AWS::IAM::Role');
      expect(role.DeletionPolicy).toBe('Retain');
      expect(role.Properties!.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'apigateway.amazonaws.com' });
      expect(JSON.stringify(role.Properties!.ManagedPolicyArns)).toContain('AmazonAPIGatewayPushToCloudWatchLogs');
      // The stage is created only after the account points at the role.
      const [, stage] = single(s.resources, 'AWS::ApiGateway::Stage');
      expect(stage.DependsOn).toContain(accountId);
      expect(stage.Properties!.AccessLogSetting).toBeDefined();
    });

    it('is left to the account with -c apiGatewayCloudWatchRole=false (npm run preflight checks it is set)', () => {
      const without = synthKeygate({ context: { apiGatewayCloudWatchRole: 'false' } });
      expect(ofType(without.resources, 'AWS::ApiGateway::Account')).toEqual([]);
      expect(() => synthKeygate({ context: { apiGatewayCloudWatchRole: 'maybe' } })).toThrow(/apiGatewayCloudWatchRole/);
    }, SETUP_TIMEOUT_MS);
  });

  describe('a failed first create can be retried', () => {
    const stateful = () => [
      ...durableTables(s),
      single(s.resources, 'AWS::Cognito::UserPool'),
      single(s.resources, 'AWS::KMS::Key'),
      single(s.resources, 'AWS::S3::Bucket'),
    ];

    it('the tables, user pool, KMS key and bucket are kept on delete or replacement, but not by the rollback of their own create', () => {
      expect(stateful()).toHaveLength(Object.values(TABLES).filter((t) => t.durable).length + 3);
      for (const [id, r] of stateful()) {
        expect(r.DeletionPolicy, id).toBe('RetainExceptOnCreate');
        expect(r.UpdateReplacePolicy, id).toBe('Retain');
      }
    });

    it('nothing else is retained on a failed create except the account-wide API Gateway setting and its role', () => {
      const retained = Object.entries(s.resources).filter(([, r]) => r.DeletionPolicy === 'Retain');
      expect(retained.map(([, r]) => r.Type).sort()).toEqual(['AWS::ApiGateway::Account', 'AWS::IAM::Role']);
    });

    it('deletion protection, which would make that rollback fail, is off by default', () => {
      for (const [, t] of durableTables(s)) expect(t.Properties!.DeletionProtectionEnabled ?? false).toBe(false);
      expect(single(s.resources, 'AWS::Cognito::UserPool')[1].Properties!.DeletionProtection ?? 'INACTIVE').toBe('INACTIVE');
    });

    it('-c deletionProtection=true protects the durable tables and the user pool once the stack exists', () => {
      const p = synthKeygate({ context: { deletionProtection: 'true' } });
      for (const [, t] of durableTables(p)) expect(t.Properties!.DeletionProtectionEnabled).toBe(true);
      for (const [, t] of ofType(p.resources, 'AWS::DynamoDB::Table').filter(([, t]) => !durableNames.has(t.Properties!.TableName))) {
        expect(t.Properties!.DeletionProtectionEnabled ?? false).toBe(false);
      }
      expect(single(p.resources, 'AWS::Cognito::UserPool')[1].Properties!.DeletionProtection).toBe('ACTIVE');
      expect(() => synthKeygate({ context: { deletionProtection: 'yes' } })).toThrow(/deletionProtection/);
    }, SETUP_TIMEOUT_MS);
  });
});

describe("the user pool's email", () => {
  it("is Cognito's own without sesFromAddress", () => {
    expect(single(s.resources, 'AWS::Cognito::UserPool')[1].Properties!.EmailConfiguration?.EmailSendingAccount ?? 'COGNITO_DEFAULT').toBe('COGNITO_DEFAULT');
  });

  it('goes through SES from the verified address with -c sesFromAddress (and the domain identity with -c sesIdentity)', () => {
    const s = synthKeygate({ context: { sesFromAddress: 'no-reply@example.com', sesIdentity: 'example.com' } });
    const email = single(s.resources, 'AWS::Cognito::UserPool')[1].Properties!.EmailConfiguration;
    expect(email).toEqual({
      EmailSendingAccount: 'DEVELOPER',
      From: 'no-reply@example.com',
      SourceArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ses:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':identity/example.com']] },
    });
    expect(() => synthKeygate({ context: { sesFromAddress: 'not-an-address' } })).toThrow(/sesFromAddress/);
  }, SETUP_TIMEOUT_MS);
});

describe('names unique per account and region, and ordering', () => {
  const regional = (suffix: string) => ({ 'Fn::Join': ['', ['Keygate-dev-', { Ref: 'AWS::Region' }, `-${suffix}`]] });

  it('CloudFront response headers policies and the origin access control carry the stack name and region', () => {
    const policies = ofType(s.resources, 'AWS::CloudFront::ResponseHeadersPolicy').map(([, p]) => p.Properties!.ResponseHeadersPolicyConfig.Name);
    expect(policies.length).toBeGreaterThanOrEqual(2);
    expect(policies).toContainEqual(regional('portal-headers'));
    for (const name of policies) expect(JSON.stringify(name)).toContain('"Ref":"AWS::Region"');
    const [, oac] = single(s.resources, 'AWS::CloudFront::OriginAccessControl');
    expect(oac.Properties!.OriginAccessControlConfig.Name).toEqual(regional('portal-oac'));
  });

  it('the dashboard carries the region; SQS queues have generated names', () => {
    const [, dashboard] = single(s.resources, 'AWS::CloudWatch::Dashboard');
    expect(JSON.stringify(dashboard.Properties!.DashboardName)).toContain('"Ref":"AWS::Region"');
    for (const [id, queue] of ofType(s.resources, 'AWS::SQS::Queue')) expect(queue.Properties!.QueueName, id).toBeUndefined();
  });

  it('the web ACL is associated only once the stage exists', () => {
    const [, association] = single(s.resources, 'AWS::WAFv2::WebACLAssociation');
    const [stageId] = single(s.resources, 'AWS::ApiGateway::Stage');
    expect(association.DependsOn).toContain(stageId);
  });

  it("the portal deploy's CloudFront invalidations are denied on every distribution but the portal's", () => {
    const [distributionId] = single(s.resources, 'AWS::CloudFront::Distribution');
    const denies = ofType(s.resources, 'AWS::IAM::Policy')
      .flatMap(([, p]) => p.Properties!.PolicyDocument.Statement as Record<string, any>[])
      .filter((st) => st.Effect === 'Deny');
    expect(denies).toHaveLength(1);
    expect(denies[0]!.Action).toEqual(['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation']);
    expect(JSON.stringify(denies[0]!.NotResource)).toContain(`"${distributionId}"`);
    expect(denies[0]!.Resource).toBeUndefined();
  });
});

describe('event source mapping filters', () => {
  it('every mapping deploys valid patterns (±5e9 numbers, 4096 characters, at most 5 filters), the very ones the local runtime applies', () => {
    const mappings = ofType(s.resources, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => m.Properties!.FilterCriteria);
    expect(mappings).toHaveLength(2);
    for (const table of ['apiKeys', 'organizations'] as const) {
      const id = s.stack.getLogicalId(s.stack.tables.tables[table].node.defaultChild as CfnElement);
      const [, mapping] = mappings.find(([, m]) => JSON.stringify(m.Properties!.EventSourceArn).includes(`"${id}"`))!;
      const filters: { Pattern: string }[] = mapping.Properties!.FilterCriteria.Filters;
      expect(filters.length).toBeLessThanOrEqual(5);
      const patterns = filters.map((f) => JSON.parse(f.Pattern) as unknown);
      for (const pattern of patterns) expect(() => validatePattern(pattern)).not.toThrow();
      expect(patterns).toEqual(STREAM_FILTERS[table]);
    }
  });
});

const durableNames = new Set(Object.values(TABLES).filter((t) => t.durable).map((t) => physicalTableName('dev', t)));

function durableTables(s: Synthesized): [string, CfnResource][] {
  return ofType(s.resources, 'AWS::DynamoDB::Table').filter(([, t]) => durableNames.has(t.Properties!.TableName));
}
