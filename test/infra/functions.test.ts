import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOYED_FUNCTIONS, FUNCTION_SPECS, type DeployedFunctionName } from '../../infra/constructs/function-specs.ts';
import { TABLE_ACTIONS } from '../../infra/constructs/tables.ts';
import { DEFAULT_BEDROCK_MODEL } from '../../shared/chat/bedrock-model.ts';
import { TABLES, type TableKey } from '../../shared/tables.ts';
import {
  actions,
  CDK_CONTEXT,
  functionByName,
  referencedIds,
  resourcesOf,
  roleStatements,
  SETUP_TIMEOUT_MS,
  synthBeforeAll,
  synthKeygate,
  tableLogicalId,
  type Statement,
  type Synthesized,
} from '../support/stack.ts';

const TABLE_KEYS = Object.keys(TABLES) as TableKey[];
const SECRET_READERS: DeployedFunctionName[] = ['publicApi', 'chatSession', 'chatStream'];
const BEDROCK_CALLERS: DeployedFunctionName[] = ['chatStream'];

/** Reading a table's stream (the webhook events function; test/infra/webhooks.test.ts checks it) is not table access. */
const STREAM_READ = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'];
const dynamoStatements = (statements: Statement[]) =>
  statements.filter((st) => actions(st).some((a) => a.startsWith('dynamodb:')) && !actions(st).every((a) => STREAM_READ.includes(a)));

describe('functions', () => {
  // The one infra test file that bundles for real: it proves every entry builds as configured.
  const s = synthBeforeAll({ bundle: true });

  it('deploys these functions, written out (a change to function-specs.ts shows here as a deliberate edit)', () => {
    const tableOf = Object.fromEntries(TABLE_KEYS.map((key) => [tableLogicalId(s, key), TABLES[key].name]));
    const accessOf = (granted: string[]) =>
      Object.entries(TABLE_ACTIONS).find(([, list]) => [...list].sort().join() === [...granted].sort().join())?.[0] ?? granted.join();
    const deployed = Object.fromEntries(
      DEPLOYED_FUNCTIONS.map((name) => {
        const props = functionByName(s, name)[1].Properties!;
        const tables: Record<string, string> = {};
        for (const st of dynamoStatements(roleStatements(s, name))) {
          for (const id of referencedIds(st.Resource)) if (tableOf[id]) tables[tableOf[id]] = accessOf(actions(st));
        }
        return [name, { memory: props.MemorySize, timeout: props.Timeout, tables }];
      }),
    );
    expect(deployed).toEqual({
      authorizer: { memory: 512, timeout: 10, tables: { 'api-keys': 'read' } },
      management: {
        memory: 512,
        timeout: 10,
        tables: { organizations: 'readWrite', members: 'readWrite', databases: 'readWrite', 'api-keys': 'readWrite', usage: 'readUpdate', 'audit-log': 'readAppend', webhooks: 'readWrite' },
      },
      publicApi: {
        memory: 512,
        timeout: 10,
        tables: { organizations: 'readWrite', usage: 'readWrite', sessions: 'readWrite', 'api-keys': 'readUpdate', databases: 'readWrite', 'audit-log': 'readAppend' },
      },
      chatSession: { memory: 512, timeout: 10, tables: { sessions: 'readWrite', messages: 'read', 'api-keys': 'readUpdate', usage: 'readWrite', organizations: 'read' } },
      chatStream: {
        memory: 512,
        timeout: 330,
        tables: { sessions: 'readWrite', messages: 'readWrite', 'api-keys': 'readUpdate', usage: 'readWrite', organizations: 'readWrite', databases: 'readWrite', 'audit-log': 'readAppend' },
      },
      export: { memory: 512, timeout: 28, tables: { sessions: 'read', messages: 'read', usage: 'readWrite', 'api-keys': 'readUpdate', organizations: 'read' } },
      webhookEvents: { memory: 256, timeout: 30, tables: { webhooks: 'read' } },
      webhookDelivery: { memory: 256, timeout: 30, tables: { webhooks: 'read' } },
      expirySweep: { memory: 256, timeout: 300, tables: { 'api-keys': 'readUpdate' } },
      creditSweep: { memory: 256, timeout: 60, tables: { usage: 'readUpdate', organizations: 'readUpdate' } },
    });
  });

  describe.each(DEPLOYED_FUNCTIONS)('%s', (name) => {
    const spec = FUNCTION_SPECS[name];
    const fn = () => functionByName(s, name)[1].Properties!;

    it('runs nodejs24.x on arm64 with active tracing', () => {
      expect(fn()).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        MemorySize: spec.memorySize,
        // The reply function's comes from the upstreams (the default bedrock one: 300 s + 30 s).
        Timeout: name === 'chatStream' ? 330 : spec.timeout.toSeconds(),
      });
    });

    it('logs to its own log group with a retention', () => {
      const logGroupId: string = fn().LoggingConfig.LogGroup.Ref;
      const logGroup = s.resources[logGroupId]!;
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties).toMatchObject({ LogGroupName: `/aws/lambda/keygate-dev-${name}`, RetentionInDays: 30 });
    });

    it('gets the common environment', () => {
      expect(fn().Environment.Variables).toMatchObject({
        STAGE: 'dev',
        SECRET_KEY_PREFIX: CDK_CONTEXT.secretKeyPrefix,
        PUBLISHABLE_KEY_PREFIX: CDK_CONTEXT.publishableKeyPrefix,
        POWERTOOLS_SERVICE_NAME: 'keygate',
        LOG_LEVEL: 'INFO',
      });
    });

    it('has an execution role without AWS managed policies', () => {
      const roleId: string = fn().Role['Fn::GetAtt'][0];
      expect(s.resources[roleId]!.Properties!.ManagedPolicyArns).toBeUndefined();
    });

    it('gets exactly its tables, each with the access in function-specs.ts and its env var', () => {
      const statements = dynamoStatements(roleStatements(s, name));
      const env = fn().Environment.Variables;
      for (const key of TABLE_KEYS) {
        const tableId = tableLogicalId(s, key);
        const onTable = statements.filter((st) => referencedIds(st.Resource).has(tableId));
        const access = spec.tables[key];
        if (!access) {
          expect(onTable, `${name} must not touch ${key}`).toEqual([]);
          // A stream consumer gets the name (not access) of each table whose stream it reads: it tells their records apart by it.
          const readsStream = roleStatements(s, name).some((st) => actions(st).includes('dynamodb:GetRecords') && referencedIds(st.Resource).has(tableId));
          expect(env[TABLES[key].envVar]).toEqual(readsStream ? { Ref: tableId } : undefined);
          continue;
        }
        expect(onTable).toHaveLength(1);
        expect(actions(onTable[0]!).sort()).toEqual([...TABLE_ACTIONS[access]].sort());
        expect(env[TABLES[key].envVar]).toEqual({ Ref: tableId });
        // Indexes are granted by name, never as index/*.
        const indexArns = resourcesOf(onTable[0]!).filter((r) => JSON.stringify(r).includes('/index/'));
        expect(indexArns.map((r) => JSON.stringify(r).match(/\/index\/([^"]+)"/)![1])).toEqual(
          (TABLES[key] as { indexes?: { name: string }[] }).indexes?.map((i) => i.name) ?? [],
        );
      }
    });

    it('grants "*" only for X-Ray (and ListStreams, which has no resource, to the stream consumer)', () => {
      for (const statement of roleStatements(s, name)) {
        if (!resourcesOf(statement).includes('*')) continue;
        if (name === 'webhookEvents' && actions(statement).includes('dynamodb:ListStreams')) {
          expect(actions(statement)).toEqual(['dynamodb:ListStreams']);
          continue;
        }
        expect(actions(statement).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      }
    });

    it(SECRET_READERS.includes(name) ? 'reads the session signing secret' : 'cannot read the session signing secret', () => {
      const secretStatements = roleStatements(s, name).filter((st) => actions(st).some((a) => a.startsWith('secretsmanager:')));
      const env = fn().Environment.Variables;
      if (!SECRET_READERS.includes(name)) {
        expect(secretStatements).toEqual([]);
        expect(env.SESSION_SECRET_ARN).toBeUndefined();
        return;
      }
      const [secretId] = Object.entries(s.resources).find(([, r]) => r.Type === 'AWS::SecretsManager::Secret')!;
      expect(secretStatements).toHaveLength(1);
      expect(actions(secretStatements[0]!).sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
      expect(secretStatements[0]!.Resource).toEqual({ Ref: secretId });
      expect(env.SESSION_SECRET_ARN).toEqual({ Ref: secretId });
    });

    it(BEDROCK_CALLERS.includes(name) ? 'may invoke the configured Bedrock model' : 'cannot call Bedrock', () => {
      const bedrock = roleStatements(s, name).filter((st) => actions(st).some((a) => a.startsWith('bedrock:')));
      const env = fn().Environment.Variables;
      if (!BEDROCK_CALLERS.includes(name)) {
        expect(bedrock).toEqual([]);
        // Management and the public API list the deployed upstreams and create Default on the
        // default one, so they know the model's name; they never call it.
        if (FUNCTION_SPECS[name].upstreamSettings) expect(env.BEDROCK_MODEL_ID).toBe('global.anthropic.claude-haiku-5-5');
        else expect(env.BEDROCK_MODEL_ID).toBeUndefined();
        return;
      }
      expect(env.BEDROCK_MODEL_ID).toBe(DEFAULT_BEDROCK_MODEL);
      expect(bedrock).toHaveLength(2);
      for (const st of bedrock) expect(actions(st).sort()).toEqual(['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
    });

    it('is bundled as one ESM file with a require shim, source map and the AWS SDK inside', () => {
      const assetHash = (fn().Code.S3Key as string).replace(/\.zip$/, '');
      const assetDir = join(s.app.outdir, `asset.${assetHash}`);
      const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire } from 'node:module';const require = createRequire(import.meta.url);")).toBe(true);
      expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
      expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
    });

    it('is trimmed for the cold start: credentials from the environment only, source maps not loaded at start', () => {
      const assetDir = join(s.app.outdir, `asset.${(fn().Code.S3Key as string).replace(/\.zip$/, '')}`);
      // Code-split: the entry and its chunks each have a source map; together they hold every source.
      const maps = readdirSync(assetDir).filter((file) => file.endsWith('.mjs.map'));
      expect(maps).toContain('index.mjs.map');
      const sources: string[] = maps.flatMap((map) => JSON.parse(readFileSync(join(assetDir, map), 'utf8')).sources);
      const providers = sources.map((src) => /@aws-sdk\/(credential-provider-[a-z-]+)\//.exec(src)?.[1]).filter(Boolean);
      expect([...new Set(providers)]).toEqual(['credential-provider-env']);
      // Node parses the whole map when the bundle loads with --enable-source-maps (docs/benchmarks.md).
      expect(fn().Environment.Variables.NODE_OPTIONS).toBeUndefined();
    });
  });

  it('the authorizer may only read the api-keys table (and its index)', () => {
    const statements = roleStatements(s, 'authorizer').filter((st) => !actions(st).some((a) => /^(logs|xray):/.test(a)));
    expect(statements).toHaveLength(1);
    const [statement] = statements as [Statement];
    expect(actions(statement).every((a) => ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'].includes(a))).toBe(true);
    expect(referencedIds(statement.Resource)).toEqual(new Set([tableLogicalId(s, 'apiKeys')]));
  });

  it('the management function knows the user pool issuer, client and initial credits', () => {
    const env = functionByName(s, 'management')[1].Properties!.Environment.Variables;
    const [poolId] = Object.entries(s.resources).find(([, r]) => r.Type === 'AWS::Cognito::UserPool')!;
    const [clientId] = Object.entries(s.resources).find(([, r]) => r.Type === 'AWS::Cognito::UserPoolClient')!;
    expect(env.PORTAL_ISSUER).toEqual({
      'Fn::Join': ['', ['https://cognito-idp.', { Ref: 'AWS::Region' }, '.amazonaws.com/', { Ref: poolId }]],
    });
    expect(env.PORTAL_CLIENT_ID).toEqual({ Ref: clientId });
    expect(env.INITIAL_CREDITS).toBe(String(CDK_CONTEXT.initialCredits));
  });
});

const PROFILE_ARN = (id: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:inference-profile/${id}`]],
});
const MODEL_ARN = (region: string, id: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:bedrock:${region}::foundation-model/${id}`]],
});

function bedrockStatements(s: Synthesized): Statement[] {
  return roleStatements(s, 'chatStream').filter((st) => actions(st).some((a) => a.startsWith('bedrock:')));
}

describe('the Bedrock model grant', () => {
  it('defaults to a model Bedrock serves now, through a global inference profile', () => {
    expect(DEFAULT_BEDROCK_MODEL).toBe('global.anthropic.claude-haiku-5-5');
    expect(CDK_CONTEXT.bedrockModelId).toBeUndefined(); // one source of truth: the exported constant
  });

  it('a global profile: the profile here, the model in every region and the region-less global ARN, only through the profile', () => {
    const s = synthKeygate();
    const [profile, model] = bedrockStatements(s) as [Statement & { Condition?: unknown }, Statement & { Condition?: unknown }];
    expect(profile.Resource).toEqual(PROFILE_ARN(DEFAULT_BEDROCK_MODEL));
    expect(profile.Condition).toBeUndefined();
    expect(resourcesOf(model)).toEqual([MODEL_ARN('*', 'anthropic.claude-haiku-5-5'), MODEL_ARN('', 'anthropic.claude-haiku-5-5')]);
    expect(model.Condition).toEqual({ StringEquals: { 'bedrock:InferenceProfileArn': PROFILE_ARN(DEFAULT_BEDROCK_MODEL) } });
  }, SETUP_TIMEOUT_MS);

  it('a geographic profile: the model in the regions it routes to (region "*"), only through the profile', () => {
    const s = synthKeygate({ context: { bedrockModelId: 'us.anthropic.claude-haiku-5-5' } });
    const [profile, model] = bedrockStatements(s) as [Statement, Statement & { Condition?: unknown }];
    expect(profile.Resource).toEqual(PROFILE_ARN('us.anthropic.claude-haiku-5-5'));
    expect(model.Resource).toEqual(MODEL_ARN('*', 'anthropic.claude-haiku-5-5'));
    expect(model.Condition).toEqual({ StringEquals: { 'bedrock:InferenceProfileArn': PROFILE_ARN('us.anthropic.claude-haiku-5-5') } });
  }, SETUP_TIMEOUT_MS);

  it('a foundation-model id: that model in this region only', () => {
    const s = synthKeygate({ context: { bedrockModelId: 'amazon.nova-lite-v1:0' } });
    const statements = bedrockStatements(s);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', { Ref: 'AWS::Region' }, '::foundation-model/amazon.nova-lite-v1:0']],
    });
    expect(functionByName(s, 'chatStream')[1].Properties!.Environment.Variables.BEDROCK_MODEL_ID).toBe('amazon.nova-lite-v1:0');
  }, SETUP_TIMEOUT_MS);
});
