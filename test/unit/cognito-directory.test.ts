// The Cognito user directory against a mocked user pool (aws-sdk-client-mock): the exact calls
// members-by-email makes in AWS (docs/api.md "Routes"), and how the pool's failures reach the API.
import {
  AdminCreateUserCommand,
  CognitoIdentityProviderClient,
  ListUsersCommand,
  UsernameExistsException,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/domain/errors.ts';
import { CognitoUserDirectory } from '../../shared/users/cognito-directory.ts';
import { findOrInvite } from '../../shared/users/directory.ts';
import { cognitoInvitation } from '../support/cognito.ts';

const POOL = 'eu-west-1_Keygate1';
const client = new CognitoIdentityProviderClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
const cognito = mockClient(client);
const directory = new CognitoUserDirectory(client, POOL);

const SUB = '7c1d2e3f-0000-4000-8000-000000000001';
const userWith = (sub: string, email: string, verified = true) => ({
  Username: sub,
  Attributes: [
    { Name: 'sub', Value: sub },
    { Name: 'email', Value: email },
    { Name: 'email_verified', Value: String(verified) },
  ],
});

function awsError(name: string, status = 400): Error {
  return Object.assign(new Error(`${name} with internal details`), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
}

beforeEach(() => {
  cognito.reset();
});

describe('findByEmail', () => {
  it('lists the pool with the filter email = "<email>" and returns the sub as the user id', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [userWith(SUB, 'ana@example.com')] });
    expect(await directory.findByEmail('ana@example.com')).toEqual({ userId: SUB, email: 'ana@example.com' });
    const calls = cognito.commandCalls(ListUsersCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      UserPoolId: POOL,
      Filter: 'email = "ana@example.com"',
      AttributesToGet: ['sub', 'email', 'email_verified'],
      Limit: 10,
    });
  });

  it('matches verified emails only: an account that set the address without verifying it is not its owner', async () => {
    const ATTACKER = '7c1d2e3f-0000-4000-8000-0000000000aa';
    cognito.on(ListUsersCommand).resolves({ Users: [userWith(ATTACKER, 'cfo@victim.example', false)] });
    expect(await directory.findByEmail('cfo@victim.example')).toBeUndefined();
    cognito.on(ListUsersCommand).resolves({ Users: [userWith(ATTACKER, 'cfo@victim.example', false), userWith(SUB, 'cfo@victim.example')] });
    expect(await directory.findByEmail('cfo@victim.example')).toEqual({ userId: SUB, email: 'cfo@victim.example' });
  });

  it('returns undefined when nobody has that email', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [] });
    expect(await directory.findByEmail('nobody@example.com')).toBeUndefined();
  });

  it('escapes quotes and backslashes in the filter value', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [] });
    await directory.findByEmail('a"b\\c@example.com');
    expect(cognito.commandCalls(ListUsersCommand)[0]!.args[0].input.Filter).toBe('email = "a\\"b\\\\c@example.com"');
  });
});

describe('inviteByEmail', () => {
  it('creates the user with the email (verified) and asks Cognito to email the invitation', async () => {
    cognito.on(AdminCreateUserCommand).resolves({ User: userWith(SUB, 'new@example.com') });
    expect(await directory.inviteByEmail('new@example.com')).toEqual({ userId: SUB, email: 'new@example.com' });
    const calls = cognito.commandCalls(AdminCreateUserCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual(cognitoInvitation(POOL, 'new@example.com'));
  });

  it('a user created meanwhile (UsernameExistsException) is found and returned', async () => {
    cognito
      .on(AdminCreateUserCommand)
      .rejects(new UsernameExistsException({ message: 'User account already exists', $metadata: {} }));
    cognito.on(ListUsersCommand).resolves({ Users: [userWith(SUB, 'race@example.com')] });
    expect(await directory.inviteByEmail('race@example.com')).toEqual({ userId: SUB, email: 'race@example.com' });
  });
});

describe('findOrInvite', () => {
  it('an existing user is not invited again', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [userWith(SUB, 'ana@example.com')] });
    expect(await findOrInvite(directory, 'ana@example.com')).toEqual({ userId: SUB, email: 'ana@example.com', invited: false });
    expect(cognito.commandCalls(AdminCreateUserCommand)).toHaveLength(0);
  });

  it('an unknown email is invited', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [] });
    cognito.on(AdminCreateUserCommand).resolves({ User: userWith(SUB, 'new@example.com') });
    expect(await findOrInvite(directory, 'new@example.com')).toEqual({ userId: SUB, email: 'new@example.com', invited: true });
    expect(cognito.commandCalls(AdminCreateUserCommand)).toHaveLength(1);
  });
});

describe('failures of the user pool', () => {
  it.each(['TooManyRequestsException', 'InternalErrorException'])('%s is 503 SERVICE_UNAVAILABLE with Retry-After', async (name) => {
    cognito.on(ListUsersCommand).rejects(awsError(name, name === 'InternalErrorException' ? 500 : 400));
    const error = await directory.findByEmail('ana@example.com').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, headers: { 'Retry-After': '1' } });
  });

  it('an address the pool refuses (InvalidParameterException) is 400 naming the email field', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [] });
    cognito.on(AdminCreateUserCommand).rejects(awsError('InvalidParameterException'));
    const error = await findOrInvite(directory, 'odd@example.com').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', extra: { details: [{ field: 'email', message: expect.any(String) }] } });
    // The pool's own wording never reaches the caller.
    expect((error as Error).message).not.toContain('internal details');
  });

  it('anything else is left to the pipeline (500 INTERNAL_ERROR, logged by name)', async () => {
    cognito.on(ListUsersCommand).rejects(awsError('NotAuthorizedException'));
    await expect(directory.findByEmail('ana@example.com')).rejects.toMatchObject({ name: 'NotAuthorizedException' });
  });
});
