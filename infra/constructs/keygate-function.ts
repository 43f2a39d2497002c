// One Lambda function as every Keygate function is built: nodejs24.x on arm64, ESM bundle with the
// AWS SDK inside (measured faster cold starts than the runtime's copy), trimmed for the cold start
// (below), active tracing, and its own log group (no `logRetention` custom resource). Its role holds only writes to that log
// group and X-Ray (added by tracing); everything else is granted explicitly (see function-specs.ts).
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

// ESM bundles have no `require`; some CommonJS dependencies still call it.
const ESM_REQUIRE_SHIM = "import { createRequire } from 'node:module';const require = createRequire(import.meta.url);";

/**
 * Cold-start trimming, applied to every function built here (figures: docs/benchmarks.md, `npm run bench`).
 * - The SDK's default credential chain is replaced by its first link, the environment: that is
 *   where Lambda puts the execution role's credentials (bundling/credentials-from-env.ts). It is
 *   about 40% of a DynamoDB-only bundle (STS, SSO and the other providers).
 * - No `--enable-source-maps`: Node then parses the whole source map when the bundle loads,
 *   measured at 15-20% of the import time. The .map still ships in the asset, so a stack trace
 *   from the logs can be mapped back offline.
 * Two more live in the code, since a bundler option cannot make them: zod is imported as
 * `import * as z` (esbuild then tree-shakes it), and clients only some requests need (Bedrock,
 * Secrets Manager, KMS, Cognito) are loaded by `import()` on first use. test/unit/bundle-contents.test.ts checks both.
 */
export const COLD_START_ALIASES: Record<string, string> = {
  '@aws-sdk/credential-provider-node': fileURLToPath(new URL('./bundling/credentials-from-env.ts', import.meta.url)),
};

/**
 * What esbuild is told for every function (the construct passes these through its bundling options),
 * so a test that builds a bundle itself builds it as the stack does.
 */
export const FUNCTION_BUILD = {
  format: 'esm',
  platform: 'node',
  target: 'node24',
  mainFields: ['module', 'main'],
  minify: true,
  banner: { js: ESM_REQUIRE_SHIM },
  alias: COLD_START_ALIASES,
} as const;

export interface KeygateFunctionProps {
  stage: string;
  /** Logical name, e.g. `publicApi`; the physical name is `keygate-<stage>-<name>`. */
  name: string;
  /** Entry file relative to the repository root (functions/…). */
  entry: string;
  memorySize: number;
  timeout: Duration;
  environment: Record<string, string>;
}

export class KeygateFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly logGroup: logs.LogGroup;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: KeygateFunctionProps) {
    super(scope, id);
    const functionName = `keygate-${props.stage}-${props.name}`;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // Own role instead of AWSLambdaBasicExecutionRole: logs go to this one log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${functionName}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      functionName,
      entry: `${repoRoot}${props.entry}`,
      handler: 'handler',
      projectRoot: repoRoot,
      depsLockFilePath: `${repoRoot}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        STAGE: props.stage,
        POWERTOOLS_SERVICE_NAME: 'keygate',
        LOG_LEVEL: 'INFO',
        ...props.environment,
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: FUNCTION_BUILD.target,
        platform: FUNCTION_BUILD.platform,
        mainFields: [...FUNCTION_BUILD.mainFields],
        minify: FUNCTION_BUILD.minify,
        sourceMap: true,
        sourceMapMode: nodejs.SourceMapMode.DEFAULT,
        sourcesContent: false,
        banner: FUNCTION_BUILD.banner.js,
        esbuildArgs: { '--alias': Object.entries(FUNCTION_BUILD.alias).map(([from, to]) => `${from}=${to}`) },
        bundleAwsSDK: true,
        externalModules: [],
        logLevel: nodejs.LogLevel.WARNING,
      },
    });

    acknowledge(this.role, {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, and a DynamoDB stream trigger adds ' +
        'dynamodb:ListStreams: none supports resource-level permissions (Resource "*"). Nothing else on this role is ' +
        'granted on "*"; the infra tests check that.',
    });
  }
}
