// Which Keygate the CLI talks to, and the environment (table names, endpoint) the shared/db code
// reads. The rule, so that nothing reaches a deployed stage by accident:
//   DYNAMODB_ENDPOINT set   -> that DynamoDB (the setting `npm start` reads), stage `--stage` or `local`;
//   else --stage <stage>    -> the deployed stack Keygate-<stage>: table names from its outputs,
//                              AWS credentials and region from the environment (or --region);
//   else                    -> the running `npm start` (its .keygate/runtime.json).
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { readRuntimeInfo } from '../shared/runtime-file.ts';
import { physicalTableName, tableOutputId, TABLES, type TableDefinition, type TableKey } from '../shared/tables.ts';
import { CliError, EXIT } from './errors.ts';

export interface Target {
  /** For messages: `local (http://127.0.0.1:8000, stage local)` or `stage prod (stack Keygate-prod)`. */
  description: string;
  stage: string;
  /** Environment variables to set before the shared/db modules load. */
  env: Record<string, string>;
}

export type StackOutputs = (stackName: string, region: string | undefined) => Promise<Record<string, string>>;

export async function describeStackOutputs(stackName: string, region: string | undefined): Promise<Record<string, string>> {
  const client = new CloudFormationClient(region ? { region } : {});
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    return Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } finally {
    client.destroy();
  }
}

const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,15}$/;

function localTarget(endpoint: string, stage: string, how: string): Target {
  const env: Record<string, string> = { DYNAMODB_ENDPOINT: endpoint };
  for (const def of Object.values(TABLES) as TableDefinition[]) env[def.envVar] = physicalTableName(stage, def);
  return { description: `local DynamoDB ${endpoint} (stage ${stage}, ${how})`, stage, env };
}

export async function resolveTarget(
  options: { stage?: string; region?: string },
  env: NodeJS.ProcessEnv = process.env,
  stackOutputs: StackOutputs = describeStackOutputs,
): Promise<Target> {
  if (options.stage !== undefined && !STAGE_PATTERN.test(options.stage)) {
    throw new CliError('--stage must match [a-z][a-z0-9-]{0,15}', EXIT.usage);
  }
  if (env.DYNAMODB_ENDPOINT) return localTarget(env.DYNAMODB_ENDPOINT, options.stage ?? 'local', 'DYNAMODB_ENDPOINT');
  if (options.stage !== undefined) {
    const stackName = `Keygate-${options.stage}`;
    let outputs: Record<string, string>;
    try {
      outputs = await stackOutputs(stackName, options.region ?? env.AWS_REGION);
    } catch (error) {
      const e = error as { name?: string; message?: string };
      if (e.name === 'ValidationError') throw new CliError(`stack ${stackName} not found in this account and region`, EXIT.failure);
      throw new CliError(`cannot read stack ${stackName}: ${e.name ?? 'Error'}: ${e.message ?? ''}`.trim(), EXIT.failure);
    }
    const tableEnv: Record<string, string> = {};
    const missing: string[] = [];
    for (const [key, def] of Object.entries(TABLES) as [TableKey, TableDefinition][]) {
      const name = outputs[tableOutputId(key)];
      if (name) tableEnv[def.envVar] = name;
      else missing.push(tableOutputId(key));
    }
    if (missing.length) throw new CliError(`stack ${stackName} has no output ${missing.join(', ')} (deployed from an older version?)`, EXIT.failure);
    const region = options.region ?? env.AWS_REGION;
    return { description: `stage ${options.stage} (stack ${stackName})`, stage: options.stage, env: { ...tableEnv, ...(region ? { AWS_REGION: region } : {}) } };
  }
  const running = readRuntimeInfo();
  if (running) return localTarget(running.dynamodbEndpoint, running.stage, `npm start at ${running.url}`);
  throw new CliError(
    'no Keygate to talk to: start the local runtime (npm start), set DYNAMODB_ENDPOINT, or pass --stage <stage> for a deployed stage',
    EXIT.usage,
  );
}
