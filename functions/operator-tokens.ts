// The user pool's pre-token-generation trigger: a token carries the `operators` group only when its
// user signs in with TOTP MFA (docs/api.md "Authentication"). The pool's MFA is optional, and a user with
// TOTP enabled is always asked for a code at sign-in, so "has TOTP enabled" is "signed in with it";
// a refresh re-checks, so disabling TOTP drops the group from the next tokens. When the user's MFA
// settings cannot be read the group is dropped (the user still signs in, as a non-operator).
import { AdminGetUserCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { PreTokenGenerationTriggerEvent } from 'aws-lambda';
import { OPERATORS_GROUP, tokenGroups } from '../shared/domain/roles.ts';
import { describeError, logger } from '../shared/log.ts';

const cognito = new CognitoIdentityProviderClient({});

async function signsInWithTotp(userPoolId: string, username: string): Promise<boolean> {
  const user = await cognito.send(new AdminGetUserCommand({ UserPoolId: userPoolId, Username: username }));
  return user.UserMFASettingList?.includes('SOFTWARE_TOKEN_MFA') ?? false;
}

export async function handler(event: PreTokenGenerationTriggerEvent): Promise<PreTokenGenerationTriggerEvent> {
  const groups = event.request.groupConfiguration?.groupsToOverride ?? [];
  if (!groups.includes(OPERATORS_GROUP)) return event;
  const totp = await signsInWithTotp(event.userPoolId, event.userName).catch((error: unknown) => {
    logger.warn('operator MFA settings unreadable: operators group dropped', { error: describeError(error) });
    return false;
  });
  const kept = tokenGroups(groups, totp);
  if (kept.length === groups.length) return event;
  logger.info('operators group dropped: no TOTP MFA', { trigger: event.triggerSource });
  event.response.claimsOverrideDetails = {
    ...event.response.claimsOverrideDetails,
    groupOverrideDetails: { ...event.request.groupConfiguration, groupsToOverride: kept },
  };
  return event;
}
