#!/usr/bin/env node
// `npm run preflight`: reads the account's settings in the target region (read-only calls) and says
// what would fail or misbehave before `cdk deploy`: Lambda concurrency, the API Gateway CloudWatch
// Logs role, access to the Bedrock model, and SES when the user pool sends through it. Settings come
// from cdk.json's context and `-c key=value`, as for `cdk deploy`. Exit code 1 when a check fails.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { APIGatewayClient, GetAccountCommand as GetApiGatewayAccountCommand } from '@aws-sdk/client-api-gateway';
import {
  BedrockClient,
  GetFoundationModelAvailabilityCommand,
  GetFoundationModelCommand,
  GetInferenceProfileCommand,
} from '@aws-sdk/client-bedrock';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetAccountCommand as GetSesAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { DEFAULT_ACCOUNT_CONCURRENCY_LIMIT } from '../infra/constructs/alarm-thresholds.ts';
import { DEFAULT_BEDROCK_MODEL, parseInferenceProfileId } from '../shared/chat/bedrock-model.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warning or failure. */
  fix?: string;
}

export interface PreflightClients {
  lambda: LambdaClient;
  apiGateway: APIGatewayClient;
  bedrock: BedrockClient;
  ses: SESv2Client;
}

export interface PreflightSettings {
  bedrockModelId: string;
  /** The stack sets the account's API Gateway CloudWatch role (context apiGatewayCloudWatchRole). */
  apiGatewayCloudWatchRole: boolean;
  /** The limit the concurrency alarm assumes (context accountConcurrencyLimit). */
  accountConcurrencyLimit: number;
  sesFromAddress?: string;
}

/** Chat replies stream for seconds and hold a concurrent execution each; below this, bursts are throttled. */
export const MIN_USEFUL_CONCURRENCY = 100;

export async function runPreflight(clients: PreflightClients, settings: PreflightSettings): Promise<CheckResult[]> {
  return [
    ...(await concurrency(clients.lambda, settings)),
    await cloudWatchRole(clients.apiGateway, settings),
    ...(await bedrockModel(clients.bedrock, settings.bedrockModelId)),
    ...(await email(clients.ses, settings.sesFromAddress)),
  ];
}

async function concurrency(lambda: LambdaClient, settings: PreflightSettings): Promise<CheckResult[]> {
  const check = 'Lambda concurrency';
  try {
    const { AccountLimit } = await lambda.send(new GetAccountSettingsCommand({}));
    const limit = AccountLimit?.ConcurrentExecutions ?? 0;
    const results: CheckResult[] = [];
    if (limit < MIN_USEFUL_CONCURRENCY) {
      results.push({
        check,
        status: 'warn',
        detail: `the account may run ${limit} functions at once: about ${limit} chat replies in flight, then 429s and throttled authorizers`,
        fix: `request "Concurrent executions" (Service Quotas, AWS Lambda, L-B99A9384) of ${DEFAULT_ACCOUNT_CONCURRENCY_LIMIT} or more`,
      });
    } else {
      results.push({ check, status: 'ok', detail: `${limit} concurrent executions (${AccountLimit?.UnreservedConcurrentExecutions ?? '?'} unreserved)` });
    }
    if (limit !== settings.accountConcurrencyLimit) {
      results.push({
        check: 'Concurrency alarm',
        status: 'warn',
        detail: `the AccountConcurrency alarm assumes ${settings.accountConcurrencyLimit}, the account has ${limit}`,
        fix: `deploy with -c accountConcurrencyLimit=${limit} (or set it in cdk.json)`,
      });
    }
    return results;
  } catch (error) {
    return [unchecked(check, error)];
  }
}

async function cloudWatchRole(apiGateway: APIGatewayClient, settings: PreflightSettings): Promise<CheckResult> {
  const check = 'API Gateway CloudWatch role';
  try {
    const { cloudwatchRoleArn } = await apiGateway.send(new GetApiGatewayAccountCommand({}));
    if (settings.apiGatewayCloudWatchRole) {
      return {
        check,
        status: 'ok',
        detail: cloudwatchRoleArn
          ? `set (${cloudwatchRoleArn}); the stack will point it at its own role, kept on delete`
          : 'not set yet; the stack creates it (kept on delete)',
      };
    }
    return cloudwatchRoleArn
      ? { check, status: 'ok', detail: `set (${cloudwatchRoleArn})` }
      : {
          check,
          status: 'fail',
          detail: 'not set, and -c apiGatewayCloudWatchRole=false: the API stage (access logs) would fail to create',
          fix: 'deploy without apiGatewayCloudWatchRole=false, or set the role in API Gateway settings',
        };
  } catch (error) {
    return unchecked(check, error);
  }
}

async function bedrockModel(bedrock: BedrockClient, modelId: string): Promise<CheckResult[]> {
  const check = `Bedrock ${modelId}`;
  const profile = parseInferenceProfileId(modelId);
  const foundationModelId = profile?.foundationModelId ?? modelId;
  const results: CheckResult[] = [];
  try {
    if (profile) {
      const { status } = await bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: modelId }));
      if (status !== 'ACTIVE') results.push({ check, status: 'fail', detail: `inference profile status ${status}` });
    }
    const { modelDetails } = await bedrock.send(new GetFoundationModelCommand({ modelIdentifier: foundationModelId }));
    if (modelDetails?.modelLifecycle?.status === 'LEGACY') {
      results.push({ check, status: 'warn', detail: `${foundationModelId} is Legacy: it will reach end of life`, fix: 'choose an Active model (-c bedrockModelId=...)' });
    }
    const availability = await bedrock.send(new GetFoundationModelAvailabilityCommand({ modelId: foundationModelId }));
    if (availability.regionAvailability === 'NOT_AVAILABLE') {
      results.push({ check, status: 'fail', detail: 'the model is not offered in this region', fix: 'use an inference profile of its geography, or another region' });
    }
    if (availability.authorizationStatus === 'NOT_AUTHORIZED') {
      results.push({
        check,
        status: 'fail',
        detail: 'model access not granted: replies would fail with AccessDeniedException',
        fix: 'Bedrock console > Model access: submit the Anthropic use-case form once for the account, then enable the model',
      });
    }
    if (availability.entitlementAvailability === 'NOT_AVAILABLE' || (availability.agreementAvailability?.status && availability.agreementAvailability.status !== 'AVAILABLE')) {
      results.push({
        check,
        status: availability.agreementAvailability?.status === 'PENDING' ? 'warn' : 'fail',
        detail: `Marketplace subscription ${availability.agreementAvailability?.status ?? 'missing'}${availability.agreementAvailability?.errorMessage ? ` (${availability.agreementAvailability.errorMessage})` : ''}`,
        fix: 'make one Bedrock call (docs/deploy.md, Bedrock one-time steps) as a principal allowed aws-marketplace:Subscribe, ViewSubscriptions and Unsubscribe; the subscription then holds for the account',
      });
    }
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'ResourceNotFoundException' || name === 'ValidationException') {
      return [{ check, status: 'fail', detail: `${profile ? 'inference profile' : 'model'} not found in this region`, fix: `use ${DEFAULT_BEDROCK_MODEL} or a model listed by aws bedrock list-inference-profiles` }];
    }
    return [unchecked(check, error)];
  }
  return results.length > 0 ? results : [{ check, status: 'ok', detail: `${profile ? 'inference profile active, ' : ''}model access granted` }];
}

async function email(ses: SESv2Client, from: string | undefined): Promise<CheckResult[]> {
  if (!from) {
    return [
      {
        check: 'User pool email',
        status: 'warn',
        detail: "Cognito's own email: a few messages a day, for trying Keygate out (invitations and password resets)",
        fix: 'verify an address or domain in SES and deploy with -c sesFromAddress=<address>',
      },
    ];
  }
  const check = `SES ${from}`;
  try {
    const results: CheckResult[] = [];
    const identity = from.includes('@') ? from : `@${from}`;
    const domain = identity.split('@')[1]!;
    const verified = await identityVerified(ses, from).catch(async (error: unknown) => {
      if ((error as { name?: string }).name !== 'NotFoundException') throw error;
      return identityVerified(ses, domain);
    });
    if (!verified) {
      results.push({ check, status: 'fail', detail: 'neither the address nor its domain is verified in SES in this region: the user pool would not be created', fix: `verify ${from} (or ${domain}) in SES` });
    }
    const account = await ses.send(new GetSesAccountCommand({}));
    if (!account.ProductionAccessEnabled) {
      results.push({ check, status: 'warn', detail: 'SES sandbox: mail goes only to verified recipients', fix: 'request SES production access' });
    }
    return results.length > 0 ? results : [{ check, status: 'ok', detail: 'verified, production access' }];
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFoundException') {
      return [{ check, status: 'fail', detail: 'not an SES identity in this region', fix: `verify ${from} in SES` }];
    }
    return [unchecked(check, error)];
  }
}

async function identityVerified(ses: SESv2Client, identity: string): Promise<boolean> {
  const result = await ses.send(new GetEmailIdentityCommand({ EmailIdentity: identity }));
  return result.VerifiedForSendingStatus === true;
}

function unchecked(check: string, error: unknown): CheckResult {
  const { name, message } = error as { name?: string; message?: string };
  return { check, status: 'warn', detail: `could not check: ${name ?? 'Error'}: ${message ?? String(error)}`, fix: 'run with credentials allowed read-only calls (ReadOnlyAccess)' };
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

export function formatReport(results: readonly CheckResult[], region: string): string {
  const lines = [`Keygate preflight (${region})`];
  for (const r of results) {
    lines.push(`${MARK[r.status]} ${r.check}: ${r.detail}`);
    if (r.fix && r.status !== 'ok') lines.push(`     fix: ${r.fix}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push(failed > 0 ? `${failed} check(s) failed: cdk deploy would fail or chat would not answer.` : `ready to deploy${warned ? ` (${warned} warning(s))` : ''}.`);
  return lines.join('\n');
}

/** Context as `cdk deploy` sees it: cdk.json, then `-c key=value` arguments. */
export function settingsFromArgs(args: readonly string[], cdkJson: { context?: Record<string, unknown> }): PreflightSettings {
  const context: Record<string, unknown> = { ...cdkJson.context };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const pair = arg === '-c' || arg === '--context' ? args[++i] : arg.startsWith('--context=') ? arg.slice('--context='.length) : undefined;
    if (!pair) continue;
    const eq = pair.indexOf('=');
    if (eq > 0) context[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const text = (key: string) => (typeof context[key] === 'string' && context[key] !== '' ? (context[key] as string) : undefined);
  return {
    bedrockModelId: text('bedrockModelId') ?? DEFAULT_BEDROCK_MODEL,
    apiGatewayCloudWatchRole: String(context.apiGatewayCloudWatchRole ?? 'true') !== 'false',
    accountConcurrencyLimit: Number(context.accountConcurrencyLimit ?? DEFAULT_ACCOUNT_CONCURRENCY_LIMIT),
    ...(text('sesFromAddress') ? { sesFromAddress: text('sesFromAddress')! } : {}),
  };
}

async function main(): Promise<void> {
  const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as { context?: Record<string, unknown> };
  const settings = settingsFromArgs(process.argv.slice(2), cdkJson);
  const lambda = new LambdaClient({});
  const region = await lambda.config.region();
  const clients = { lambda, apiGateway: new APIGatewayClient({}), bedrock: new BedrockClient({}), ses: new SESv2Client({}) };
  const results = await runPreflight(clients, settings);
  console.log(formatReport(results, region));
  process.exitCode = results.some((r) => r.status === 'fail') ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(`preflight: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
