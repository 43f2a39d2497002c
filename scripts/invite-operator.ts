// `npm run invite-operator -- --email you@example.com --stage prod [--region eu-west-1]`
// The first operator of a deployment: finds the user pool of stack Keygate-<stage> from its
// outputs, invites the email into it (Cognito emails a temporary password; an existing user is
// kept as is) and adds the user to the `operators` group. AWS credentials come from the environment.
import { parseArgs } from 'node:util';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminGetUserCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { z } from 'zod';
import { describeStackOutputs, type StackOutputs } from '../cli/target.ts';
import { OPERATORS_GROUP } from '../shared/domain/roles.ts';

const STAGE = /^[a-z][a-z0-9-]{0,15}$/;

export interface InviteOptions {
  email: string;
  stage: string;
  region?: string;
}

export interface InviteResult {
  stackName: string;
  userPoolId: string;
  portalUrl: string | undefined;
  /** false when the email already had an account (no new invitation was sent). */
  invited: boolean;
}

export class InviteError extends Error {}

export async function inviteOperator(
  options: InviteOptions,
  deps: { cognito: CognitoIdentityProviderClient; stackOutputs?: StackOutputs },
): Promise<InviteResult> {
  const email = z.email().max(254).safeParse(options.email.trim().toLowerCase());
  if (!email.success) throw new InviteError(`--email must be an email address, got "${options.email}"`);
  if (!STAGE.test(options.stage)) throw new InviteError(`--stage must match ${STAGE}, got "${options.stage}"`);
  const stackName = `Keygate-${options.stage}`;
  let outputs: Record<string, string>;
  try {
    outputs = await (deps.stackOutputs ?? describeStackOutputs)(stackName, options.region);
  } catch (error) {
    throw new InviteError(`Could not read the outputs of stack ${stackName}: ${(error as Error).message}`);
  }
  const userPoolId = outputs.UserPoolId;
  if (!userPoolId) throw new InviteError(`Stack ${stackName} has no UserPoolId output: is it deployed in this region?`);

  // The pool signs in by email (it is the username), so the email names the user.
  let invited = false;
  try {
    await deps.cognito.send(new AdminGetUserCommand({ UserPoolId: userPoolId, Username: email.data }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'UserNotFoundException') throw error;
    await deps.cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: userPoolId,
        Username: email.data,
        UserAttributes: [
          { Name: 'email', Value: email.data },
          { Name: 'email_verified', Value: 'true' },
        ],
        DesiredDeliveryMediums: ['EMAIL'],
      }),
    );
    invited = true;
  }
  await deps.cognito.send(new AdminAddUserToGroupCommand({ UserPoolId: userPoolId, Username: email.data, GroupName: OPERATORS_GROUP }));
  return { stackName, userPoolId, portalUrl: outputs.PortalUrl, invited };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { email: { type: 'string' }, stage: { type: 'string' }, region: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help || !values.email || !values.stage) {
    console.log('usage: npm run invite-operator -- --email <address> --stage <stage> [--region <region>]');
    process.exit(values.help ? 0 : 2);
  }
  const region = values.region ?? process.env.AWS_REGION;
  const cognito = new CognitoIdentityProviderClient(region ? { region } : {});
  try {
    const result = await inviteOperator({ email: values.email, stage: values.stage, ...(region ? { region } : {}) }, { cognito });
    console.log(
      `${result.invited ? 'Invited' : 'Found'} ${values.email.trim().toLowerCase()} in the user pool ${result.userPoolId} of ${result.stackName}` +
        ` and added them to the ${OPERATORS_GROUP} group.` +
        (result.invited ? ' Cognito emails them a temporary password.' : '') +
        (result.portalUrl ? ` They sign in at ${result.portalUrl}` : ''),
    );
  } catch (error) {
    console.error(`invite-operator: ${(error as Error).message}`);
    process.exit(1);
  } finally {
    cognito.destroy();
  }
}

if (import.meta.main) await main();
