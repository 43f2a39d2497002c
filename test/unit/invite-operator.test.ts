// The first-operator command (README "Signing in"): reads the stack's outputs, invites the email
// into the pool when it has no account, and adds it to the operators group (Cognito mocked).
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminGetUserCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { inviteOperator } from '../../cli/invite-operator.ts';
import { cognitoInvitation } from '../support/cognito.ts';

const cognitoMock = mockClient(CognitoIdentityProviderClient);
const cognito = new CognitoIdentityProviderClient({ region: 'eu-west-1' });
const POOL = 'eu-west-1_AbCdEf123';
const outputs = async (stackName: string) => {
  if (stackName !== 'Keygate-prod') throw new Error(`Stack with id ${stackName} does not exist`);
  return { UserPoolId: POOL, PortalUrl: 'https://d111111abcdef8.cloudfront.net/' };
};

beforeEach(() => cognitoMock.reset());

describe('keygate operators invite', () => {
  it('invites a new email into the pool of Keygate-<stage> and adds it to the operators group', async () => {
    cognitoMock.on(AdminGetUserCommand).rejects(Object.assign(new Error('User does not exist.'), { name: 'UserNotFoundException' }));
    cognitoMock.on(AdminCreateUserCommand).resolves({});
    cognitoMock.on(AdminAddUserToGroupCommand).resolves({});
    const result = await inviteOperator({ email: ' Ops@Example.com ', stage: 'prod' }, { cognito, stackOutputs: outputs });
    expect(result).toEqual({ stackName: 'Keygate-prod', userPoolId: POOL, portalUrl: 'https://d111111abcdef8.cloudfront.net/', invited: true });
    expect(cognitoMock.commandCalls(AdminCreateUserCommand)[0]!.args[0].input).toEqual(cognitoInvitation(POOL, 'ops@example.com'));
    expect(cognitoMock.commandCalls(AdminAddUserToGroupCommand)[0]!.args[0].input).toEqual({
      UserPoolId: POOL,
      Username: 'ops@example.com',
      GroupName: 'operators',
    });
  });

  it('an existing user is not invited again, only added to the group', async () => {
    cognitoMock.on(AdminGetUserCommand).resolves({ Username: 'ops@example.com' });
    cognitoMock.on(AdminAddUserToGroupCommand).resolves({});
    const result = await inviteOperator({ email: 'ops@example.com', stage: 'prod' }, { cognito, stackOutputs: outputs });
    expect(result.invited).toBe(false);
    expect(cognitoMock.commandCalls(AdminCreateUserCommand)).toHaveLength(0);
    expect(cognitoMock.commandCalls(AdminAddUserToGroupCommand)).toHaveLength(1);
  });

  it('refuses a bad email or stage, and names a missing stack, before calling Cognito', async () => {
    await expect(inviteOperator({ email: 'not-an-email', stage: 'prod' }, { cognito, stackOutputs: outputs })).rejects.toThrow(/--email/);
    await expect(inviteOperator({ email: 'a@b.co', stage: 'Prod!' }, { cognito, stackOutputs: outputs })).rejects.toThrow(/--stage/);
    await expect(inviteOperator({ email: 'a@b.co', stage: 'dev' }, { cognito, stackOutputs: outputs })).rejects.toThrow(/Keygate-dev/);
    await expect(inviteOperator({ email: 'a@b.co', stage: 'prod' }, { cognito, stackOutputs: async () => ({}) })).rejects.toThrow(/no UserPoolId output/);
    expect(cognitoMock.calls()).toHaveLength(0);
  });

  it('a Cognito failure other than "no such user" is reported, not turned into an invitation', async () => {
    cognitoMock.on(AdminGetUserCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    await expect(inviteOperator({ email: 'a@b.co', stage: 'prod' }, { cognito, stackOutputs: outputs })).rejects.toThrow('Rate exceeded');
    expect(cognitoMock.commandCalls(AdminCreateUserCommand)).toHaveLength(0);
  });
});
