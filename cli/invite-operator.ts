// `keygate operators invite --email you@example.com --stage prod [--region eu-west-1]` (also
// `npm run invite-operator -- …`). The first operator of a deployment: finds the user pool of stack
// Keygate-<stage> from its outputs, invites the email into it (Cognito emails a temporary password;
// an existing user is kept as is) and adds the user to the `operators` group. AWS credentials come
// from the environment.
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminGetUserCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { z } from 'zod';
import { CliError, EXIT } from './errors.ts';
import type { Output } from './commands.ts';
import { describeStackOutputs, type StackOutputs } from './target.ts';
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

export async function inviteOperator(
  options: InviteOptions,
  deps: { cognito: CognitoIdentityProviderClient; stackOutputs?: StackOutputs },
): Promise<InviteResult> {
  const email = z.email().max(254).safeParse(options.email.trim().toLowerCase());
  if (!email.success) throw new CliError(`--email must be an email address, got "${options.email}"`, EXIT.usage);
  if (!STAGE.test(options.stage)) throw new CliError(`--stage must match ${STAGE}, got "${options.stage}"`, EXIT.usage);
  const stackName = `Keygate-${options.stage}`;
  let outputs: Record<string, string>;
  try {
    outputs = await (deps.stackOutputs ?? describeStackOutputs)(stackName, options.region);
  } catch (error) {
    throw new CliError(`Could not read the outputs of stack ${stackName}: ${(error as Error).message}`, EXIT.failure);
  }
  const userPoolId = outputs.UserPoolId;
  if (!userPoolId) throw new CliError(`Stack ${stackName} has no UserPoolId output: is it deployed in this region?`, EXIT.failure);

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

/** The command: a Cognito client for the region, the invitation, and what to tell the operator. */
export async function inviteOperatorCommand(options: InviteOptions): Promise<Output> {
  const cognito = new CognitoIdentityProviderClient(options.region ? { region: options.region } : {});
  try {
    const result = await inviteOperator(options, { cognito });
    const text =
      `${result.invited ? 'Invited' : 'Found'} ${options.email.trim().toLowerCase()} in the user pool ${result.userPoolId} of ${result.stackName}` +
      ` and added them to the ${OPERATORS_GROUP} group.` +
      (result.invited ? ' Cognito emails them a temporary password.' : '') +
      (result.portalUrl ? ` They sign in at ${result.portalUrl}` : '');
    return { json: result, text };
  } finally {
    cognito.destroy();
  }
}
