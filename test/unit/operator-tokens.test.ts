// The user pool's pre-token-generation trigger (functions/operator-tokens.ts) against a mocked pool:
// `operators` stays in a token only for a user with TOTP MFA enabled (docs/api.md "Authentication").
import { AdminGetUserCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { PreTokenGenerationTriggerEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/operator-tokens.ts';
import { tokenGroups } from '../../shared/domain/roles.ts';

const cognito = mockClient(CognitoIdentityProviderClient);

function event(groups: string[]): PreTokenGenerationTriggerEvent {
  return {
    version: '1',
    triggerSource: 'TokenGeneration_HostedAuth',
    region: 'eu-west-1',
    userPoolId: 'eu-west-1_Pool',
    userName: 'c0ffee00-0000-4000-8000-000000000001',
    callerContext: { awsSdkVersion: '1', clientId: 'client' },
    request: { userAttributes: { sub: 'c0ffee00-0000-4000-8000-000000000001' }, groupConfiguration: { groupsToOverride: groups, iamRolesToOverride: [] } },
    response: { claimsOverrideDetails: {} },
  } as PreTokenGenerationTriggerEvent;
}

beforeEach(() => {
  cognito.reset();
});

describe('tokenGroups', () => {
  it('keeps operators only with TOTP; other groups always', () => {
    expect(tokenGroups(['operators', 'beta'], true)).toEqual(['operators', 'beta']);
    expect(tokenGroups(['operators', 'beta'], false)).toEqual(['beta']);
    expect(tokenGroups([], false)).toEqual([]);
  });
});

describe('pre-token-generation trigger', () => {
  it('an operator with TOTP MFA keeps the group (the event goes back unchanged)', async () => {
    cognito.on(AdminGetUserCommand).resolves({ Username: 'u', UserMFASettingList: ['SOFTWARE_TOKEN_MFA'] });
    const out = await handler(event(['operators']));
    expect(out.response.claimsOverrideDetails).toEqual({});
    expect(cognito.commandCalls(AdminGetUserCommand)[0]!.args[0].input).toEqual({
      UserPoolId: 'eu-west-1_Pool',
      Username: 'c0ffee00-0000-4000-8000-000000000001',
    });
  });

  it.each([
    ['no MFA', {}],
    ['an empty MFA list', { UserMFASettingList: [] }],
    ['SMS only', { UserMFASettingList: ['SMS_MFA'] }],
  ])('an operator with %s loses the group', async (_, settings) => {
    cognito.on(AdminGetUserCommand).resolves({ Username: 'u', ...settings });
    const out = await handler(event(['operators', 'beta']));
    expect(out.response.claimsOverrideDetails.groupOverrideDetails).toEqual({ groupsToOverride: ['beta'], iamRolesToOverride: [] });
  });

  it('the group is dropped when the settings cannot be read', async () => {
    cognito.on(AdminGetUserCommand).rejects(Object.assign(new Error('throttled'), { name: 'TooManyRequestsException' }));
    const out = await handler(event(['operators']));
    expect(out.response.claimsOverrideDetails.groupOverrideDetails?.groupsToOverride).toEqual([]);
  });

  it('a user outside operators is not looked up', async () => {
    const out = await handler(event(['beta']));
    expect(out.response.claimsOverrideDetails).toEqual({});
    expect(cognito.commandCalls(AdminGetUserCommand)).toHaveLength(0);
  });
});
