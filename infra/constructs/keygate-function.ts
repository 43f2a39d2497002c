// One Lambda function as every Keygate function is built: nodejs24.x on arm64, code-split ESM with the
// AWS SDK inside (measured faster cold starts than the runtime's copy), trimmed for the cold start
// (below), active tracing, and its own log group (no `logRetention` custom resource). Its role holds only writes to that log
// group and X-Ray (added by tracing); everything else is granted explicitly (see function-specs.ts).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, type BundlingOptions, DockerImage, type Duration, type ILocalBundling, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';
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
 * - Code splitting: every `import()` becomes its own file (chunk-<hash>.mjs beside index.mjs), so
 *   what a function loads on first use (management's route modules, the Bedrock, Secrets Manager,
 *   KMS and Cognito clients) is also read and parsed on first use, not at start. In one file,
 *   esbuild only wraps such a module in a lazy initialiser, and Node still parses all of it at import.
 * More lives in the code, since a bundler option cannot make it: zod is imported as
 * `import * as z` (esbuild then tree-shakes it), clients only some requests need (Bedrock,
 * Secrets Manager, KMS, Cognito) are loaded by `import()` on first use (test/unit/bundle-contents.test.ts
 * checks both), and request schemas not every importer parses are built on first use (`lazySchema`).
 */
export const COLD_START_ALIASES: Record<string, string> = {
  '@aws-sdk/credential-provider-node': fileURLToPath(new URL('./bundling/credentials-from-env.ts', import.meta.url)),
};

/**
 * What esbuild is told for every function, so a test that builds a bundle itself builds it as the
 * stack does (with an `outdir`: code splitting writes several files).
 * Every output file gets the banner, as each chunk has its own module scope.
 */
export const FUNCTION_BUILD = {
  format: 'esm',
  platform: 'node',
  target: 'node24',
  mainFields: ['module', 'main'],
  minify: true,
  banner: { js: ESM_REQUIRE_SHIM },
  alias: COLD_START_ALIASES,
  splitting: true,
  outExtension: { '.js': '.mjs' },
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
} as const;

/** The handler Lambda is given: `handler` exported by index.mjs, the entry's output. */
export const FUNCTION_HANDLER = 'index.handler';

/**
 * Build one function into `outdir`, as the stack deploys it: index.mjs, its chunks and their source
 * maps (the .map files ship for mapping a stack trace offline; nothing loads them, see above).
 * Synchronous, as the CDK's local bundling is.
 */
export function buildFunction(entry: string, outdir: string): void {
  buildSync({
    ...FUNCTION_BUILD,
    mainFields: [...FUNCTION_BUILD.mainFields],
    absWorkingDir: repoRoot,
    entryPoints: { index: join(repoRoot, entry) },
    outdir,
    bundle: true,
    external: [],
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'warning',
  });
}

/**
 * The CDK's local bundling, run in this process: esbuild writes the asset directory. The asset is
 * hashed from that output, and `aws:cdk:bundling-stacks` (empty in the template tests) still skips it.
 * `entry` is a property so the CDK's asset cache, keyed on the bundling options, tells functions apart.
 */
class EsbuildBundling implements ILocalBundling {
  readonly entry: string;
  constructor(entry: string) {
    this.entry = entry;
  }
  tryBundle(outputDir: string, _options: BundlingOptions): boolean {
    buildFunction(this.entry, outputDir);
    return true;
  }
}

/** The function's code: the directory `buildFunction` writes for `entry` (relative to the repository root). */
export function functionCode(entry: string): lambda.Code {
  return lambda.Code.fromAsset(repoRoot, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      local: new EsbuildBundling(entry),
      // Required by the type; never pulled, since the local bundling always runs.
      image: DockerImage.fromRegistry('keygate-local-bundling-only'),
    },
  });
}

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
  readonly function: lambda.Function;
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

    this.function = new lambda.Function(this, 'Function', {
      functionName,
      code: functionCode(props.entry),
      handler: FUNCTION_HANDLER,
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
