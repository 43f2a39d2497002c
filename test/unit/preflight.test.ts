// npm run preflight against mocked AWS accounts: a new account (low concurrency, no model access, no
// SES), a ready one, and the settings it reads the way cdk deploy does.
import { APIGatewayClient, GetAccountCommand as GetApiGatewayAccountCommand } from '@aws-sdk/client-api-gateway';
import { BedrockClient, GetFoundationModelAvailabilityCommand, GetFoundationModelCommand, GetInferenceProfileCommand } from '@aws-sdk/client-bedrock';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetAccountCommand as GetSesAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { formatReport, runPreflight, settingsFromArgs, type PreflightSettings } from '../../cli/preflight.ts';
import { DEFAULT_BEDROCK_MODEL } from '../../shared/chat/bedrock-model.ts';

const config = { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } };
const clients = { lambda: new LambdaClient(config), apiGateway: new APIGatewayClient(config), bedrock: new BedrockClient(config), ses: new SESv2Client(config) };
const lambda = mockClient(clients.lambda);
const apiGateway = mockClient(clients.apiGateway);
const bedrock = mockClient(clients.bedrock);
const ses = mockClient(clients.ses);

const DEFAULTS: PreflightSettings = { bedrockModelId: DEFAULT_BEDROCK_MODEL, apiGatewayCloudWatchRole: true, accountConcurrencyLimit: 1000 };
const awsError = (name: string) => Object.assign(new Error(`${name} message`), { name, $fault: 'client' });

/** The model's availability in the region, with or without access granted (agreement, authorization, entitlement). */
function modelAvailability(granted: boolean) {
  return {
    modelId: 'anthropic.claude-haiku-5-5',
    agreementAvailability: { status: granted ? 'AVAILABLE' : 'NOT_AVAILABLE' },
    authorizationStatus: granted ? 'AUTHORIZED' : 'NOT_AUTHORIZED',
    entitlementAvailability: granted ? 'AVAILABLE' : 'NOT_AVAILABLE',
    regionAvailability: 'AVAILABLE',
  } as const;
}

function readyAccount() {
  lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 } });
  apiGateway.on(GetApiGatewayAccountCommand).resolves({ cloudwatchRoleArn: 'arn:aws:iam::111122223333:role/apigw-logs' });
  bedrock.on(GetInferenceProfileCommand).resolves({ status: 'ACTIVE' } as never);
  bedrock.on(GetFoundationModelCommand).resolves({ modelDetails: { modelLifecycle: { status: 'ACTIVE' } } } as never);
  bedrock.on(GetFoundationModelAvailabilityCommand).resolves(modelAvailability(true));
  ses.on(GetEmailIdentityCommand).resolves({ VerifiedForSendingStatus: true });
  ses.on(GetSesAccountCommand).resolves({ ProductionAccessEnabled: true });
}

beforeEach(() => {
  for (const m of [lambda, apiGateway, bedrock, ses]) m.reset();
});

describe('npm run preflight', () => {
  it('a new account: says what would fail (model access) and what to change (concurrency, alarm, email)', async () => {
    readyAccount();
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 } });
    apiGateway.on(GetApiGatewayAccountCommand).resolves({});
    bedrock.on(GetFoundationModelAvailabilityCommand).resolves(modelAvailability(false));
    const results = await runPreflight(clients, DEFAULTS);
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['Lambda concurrency', 'warn'],
      ['Concurrency alarm', 'warn'],
      ['API Gateway CloudWatch role', 'ok'],
      [`Bedrock ${DEFAULT_BEDROCK_MODEL}`, 'fail'],
      [`Bedrock ${DEFAULT_BEDROCK_MODEL}`, 'fail'],
      ['User pool email', 'warn'],
    ]);
    const report = formatReport(results, 'us-east-1');
    expect(report).toContain('fix: deploy with -c accountConcurrencyLimit=10');
    expect(report).toContain('Anthropic use-case form');
    expect(report).toContain('aws-marketplace:Subscribe');
    expect(report.split('\n').at(-1)).toBe('2 check(s) failed: cdk deploy would fail or chat would not answer.');
    // The profile's foundation model is what access is granted on.
    expect(bedrock.commandCalls(GetFoundationModelAvailabilityCommand)[0]!.args[0].input).toEqual({ modelId: 'anthropic.claude-haiku-5-5' });
    expect(bedrock.commandCalls(GetInferenceProfileCommand)[0]!.args[0].input).toEqual({ inferenceProfileIdentifier: DEFAULT_BEDROCK_MODEL });
  });

  it('a ready account with SES: every check passes', async () => {
    readyAccount();
    const results = await runPreflight(clients, { ...DEFAULTS, sesFromAddress: 'no-reply@example.com' });
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(formatReport(results, 'eu-west-1').split('\n').at(-1)).toBe('ready to deploy.');
    expect(ses.commandCalls(GetEmailIdentityCommand)[0]!.args[0].input).toEqual({ EmailIdentity: 'no-reply@example.com' });
  });

  it('an SES address verified through its domain passes; an unverified one, or a sandbox, is reported', async () => {
    readyAccount();
    ses.on(GetEmailIdentityCommand, { EmailIdentity: 'no-reply@example.com' }).rejects(awsError('NotFoundException'));
    ses.on(GetEmailIdentityCommand, { EmailIdentity: 'example.com' }).resolves({ VerifiedForSendingStatus: true });
    expect((await runPreflight(clients, { ...DEFAULTS, sesFromAddress: 'no-reply@example.com' })).at(-1)!.status).toBe('ok');
    ses.on(GetEmailIdentityCommand, { EmailIdentity: 'example.com' }).resolves({ VerifiedForSendingStatus: false });
    ses.on(GetSesAccountCommand).resolves({ ProductionAccessEnabled: false });
    const results = (await runPreflight(clients, { ...DEFAULTS, sesFromAddress: 'no-reply@example.com' })).filter((r) => r.check.startsWith('SES'));
    expect(results.map((r) => r.status)).toEqual(['fail', 'warn']);
  });

  it('without the stack creating it, a missing API Gateway CloudWatch role fails', async () => {
    readyAccount();
    apiGateway.on(GetApiGatewayAccountCommand).resolves({});
    const [role] = (await runPreflight(clients, { ...DEFAULTS, apiGatewayCloudWatchRole: false })).filter((r) => r.check === 'API Gateway CloudWatch role');
    expect(role!.status).toBe('fail');
  });

  it('a model or profile not offered in the region fails; a Legacy model warns', async () => {
    readyAccount();
    bedrock.on(GetInferenceProfileCommand).rejects(awsError('ResourceNotFoundException'));
    const [missing] = (await runPreflight(clients, { ...DEFAULTS, bedrockModelId: 'jp.anthropic.claude-haiku-5-5' })).filter((r) => r.check.startsWith('Bedrock'));
    expect(missing).toMatchObject({ status: 'fail', detail: 'inference profile not found in this region' });
    readyAccount();
    bedrock.on(GetFoundationModelCommand).resolves({ modelDetails: { modelLifecycle: { status: 'LEGACY' } } } as never);
    const [legacy] = (await runPreflight(clients, DEFAULTS)).filter((r) => r.check.startsWith('Bedrock'));
    expect(legacy!.status).toBe('warn');
  });

  it('a call it may not make is a warning that names the error, never a crash', async () => {
    readyAccount();
    lambda.on(GetAccountSettingsCommand).rejects(awsError('AccessDeniedException'));
    const [first] = await runPreflight(clients, DEFAULTS);
    expect(first).toMatchObject({ check: 'Lambda concurrency', status: 'warn', detail: 'could not check: AccessDeniedException: AccessDeniedException message' });
  });

  it('reads settings as cdk deploy does: cdk.json context, then -c key=value', () => {
    expect(settingsFromArgs([], { context: {} })).toEqual(DEFAULTS);
    expect(
      settingsFromArgs(['-c', 'bedrockModelId=eu.anthropic.claude-haiku-5-5', '--context=accountConcurrencyLimit=10', '-c', 'apiGatewayCloudWatchRole=false', '-c', 'sesFromAddress=a@example.com'], {
        context: { accountConcurrencyLimit: 500 },
      }),
    ).toEqual({ bedrockModelId: 'eu.anthropic.claude-haiku-5-5', accountConcurrencyLimit: 10, apiGatewayCloudWatchRole: false, sesFromAddress: 'a@example.com' });
  });
});
