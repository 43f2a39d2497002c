import { App } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { createKeygateApp } from '../../infra/stack.ts';
import { physicalTableName, TABLES, type TableDefinition, type TableKey } from '../../shared/tables.ts';
import { CDK_CONTEXT, functionByName, ofType, SETUP_TIMEOUT_MS, single, synthBeforeAll, synthKeygate, tableLogicalId, type Synthesized } from '../support/stack.ts';

const TABLE_ENTRIES = Object.entries(TABLES) as [TableKey, TableDefinition][];

/** The stack with cdk.json's context, synthesized once for the file (its tests only read it). */
const s = synthBeforeAll();

describe('tables (one per shared/tables.ts entry)', () => {
  it('creates exactly the tables of shared/tables.ts', () => {
    const names = ofType(s.resources, 'AWS::DynamoDB::Table').map(([, r]) => r.Properties!.TableName).sort();
    expect(names).toEqual(TABLE_ENTRIES.map(([, def]) => physicalTableName('dev', def)).sort());
  });

  it('deploys these tables, written out (a change to shared/tables.ts shows here as a deliberate edit)', () => {
    const deployed = Object.fromEntries(
      ofType(s.resources, 'AWS::DynamoDB::Table').map(([, t]) => {
        const p = t.Properties!;
        const keys = (schema: { AttributeName: string }[]) => schema.map((k) => k.AttributeName).join('/');
        return [
          p.TableName,
          {
            key: keys(p.KeySchema),
            indexes: (p.GlobalSecondaryIndexes ?? []).map((i: any) => `${i.IndexName} ${keys(i.KeySchema)} ${i.Projection.ProjectionType}`),
            ttl: p.TimeToLiveSpecification?.AttributeName ?? null,
            retained: t.DeletionPolicy === 'RetainExceptOnCreate',
            stream: p.StreamSpecification?.StreamViewType ?? null,
          },
        ];
      }),
    );
    expect(deployed).toEqual({
      'keygate-dev-organizations': { key: 'id', indexes: [], ttl: null, retained: true, stream: 'NEW_AND_OLD_IMAGES' },
      'keygate-dev-members': { key: 'organizationId/userId', indexes: ['byUser userId/organizationId ALL'], ttl: null, retained: true, stream: null },
      'keygate-dev-databases': { key: 'organizationId/id', indexes: [], ttl: null, retained: true, stream: null },
      'keygate-dev-api-keys': {
        key: 'id',
        indexes: ['byOrganization organizationId/createdAt ALL', 'byDisplayKey displayKey KEYS_ONLY', 'byNoticeDue noticeShard/noticeAt ALL'],
        ttl: 'ttl',
        retained: true,
        stream: 'NEW_AND_OLD_IMAGES',
      },
      'keygate-dev-usage': { key: 'pk/sk', indexes: ['byHoldDue holdShard/holdDue KEYS_ONLY'], ttl: 'ttl', retained: true, stream: null },
      'keygate-dev-sessions': { key: 'id', indexes: ['byOrganization organizationId/createdAt ALL'], ttl: 'ttl', retained: false, stream: null },
      'keygate-dev-messages': { key: 'sessionId/id', indexes: ['byOrganization organizationId/createdAt ALL'], ttl: 'ttl', retained: false, stream: null },
      'keygate-dev-audit-log': { key: 'organizationId/id', indexes: ['byTarget targetKey/id ALL'], ttl: 'ttl', retained: true, stream: null },
      'keygate-dev-webhooks': { key: 'organizationId/id', indexes: [], ttl: null, retained: true, stream: null },
    });
  });

  describe.each(TABLE_ENTRIES)('%s', (key, def) => {
    const table = () => s.resources[tableLogicalId(s, key)]!;

    it('has the partition and sort key, on demand', () => {
      const props = table().Properties!;
      const keySchema = [
        { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
        ...(def.sortKey ? [{ AttributeName: def.sortKey.name, KeyType: 'RANGE' }] : []),
      ];
      expect(props.KeySchema).toEqual(keySchema);
      expect(props.BillingMode).toBe('PAY_PER_REQUEST');
      for (const attribute of [def.partitionKey, def.sortKey].filter((a) => a !== undefined)) {
        expect(props.AttributeDefinitions).toContainEqual({ AttributeName: attribute.name, AttributeType: attribute.type });
      }
    });

    it('has its global secondary indexes, projecting all attributes unless the definition says keys only', () => {
      const expected = (def.indexes ?? []).map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
          ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' }] : []),
        ],
        Projection: { ProjectionType: index.projection ?? 'ALL' },
      }));
      expect(table().Properties!.GlobalSecondaryIndexes ?? []).toEqual(expected);
    });

    it(def.ttlAttribute ? `expires items by ${def.ttlAttribute}` : 'has no TTL', () => {
      const ttl = table().Properties!.TimeToLiveSpecification;
      if (def.ttlAttribute) expect(ttl).toEqual({ AttributeName: def.ttlAttribute, Enabled: true });
      else expect(ttl).toBeUndefined();
    });

    it('has point-in-time recovery', () => {
      expect(table().Properties!.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    });

    it(def.durable ? 'is retained, except by the rollback of the create that made it' : 'is deleted with the stack', () => {
      const t = table();
      expect(t.DeletionPolicy).toBe(def.durable ? 'RetainExceptOnCreate' : 'Delete');
      expect(t.UpdateReplacePolicy).toBe(def.durable ? 'Retain' : 'Delete');
      // Deletion protection would stop that rollback: opt-in (-c deletionProtection=true, test/infra/deploy.test.ts).
      expect(t.Properties!.DeletionProtectionEnabled ?? false).toBe(false);
    });
  });
});

describe('stage from CDK context', () => {
  let prod: Synthesized;
  beforeAll(() => {
    prod = synthKeygate({ context: { stage: 'prod', secretKeyPrefix: 'kg_sk_', initialCredits: '250' } });
  }, SETUP_TIMEOUT_MS);

  it('names the stack Keygate-<stage>', () => {
    expect(prod.stack.stackName).toBe('Keygate-prod');
  });

  it('names every table keygate-prod-*', () => {
    for (const [key, def] of TABLE_ENTRIES) {
      expect(prod.resources[tableLogicalId(prod, key, 'prod')]!.Properties!.TableName).toBe(`keygate-prod-${def.name}`);
    }
  });

  it('passes stage, key prefixes and initial credits to the functions', () => {
    const [, management] = functionByName(prod, 'management', 'prod');
    expect(management.Properties!.Environment.Variables).toMatchObject({
      STAGE: 'prod',
      SECRET_KEY_PREFIX: 'kg_sk_',
      PUBLISHABLE_KEY_PREFIX: CDK_CONTEXT.publishableKeyPrefix,
      INITIAL_CREDITS: '250',
    });
  });

  it('deploys the API stage under the stage name', () => {
    const [, stage] = single(prod.resources, 'AWS::ApiGateway::Stage');
    expect(stage.Properties!.StageName).toBe('prod');
  });

  it.each([
    [{ stage: 'Prod!' }, /Invalid stage/],
    [{ publishableKeyPrefix: CDK_CONTEXT.secretKeyPrefix }, /must differ/],
    [{ initialCredits: 'lots' }, /initialCredits/],
  ])('rejects bad context %j', (context, message) => {
    const app = new App({ context: { ...CDK_CONTEXT, ...context, 'aws:cdk:bundling-stacks': [] } });
    expect(() => createKeygateApp(app)).toThrow(message);
  });
});
