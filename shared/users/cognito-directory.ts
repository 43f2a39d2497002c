// The user directory in AWS: the portal's Cognito user pool. The management function holds exactly
// cognito-idp:ListUsers and cognito-idp:AdminCreateUser on this pool (infra/constructs/function-specs.ts).
// The pool signs in by email (email is the username), and a user's id is their `sub` attribute.
import {
  AdminCreateUserCommand,
  CognitoIdentityProviderClient,
  ListUsersCommand,
  type AttributeType,
} from '@aws-sdk/client-cognito-identity-provider';
import { ApiError, validationError } from '../domain/errors.ts';
import type { DirectoryUser, UserDirectory } from './directory.ts';

/** Accounts read per email: normally one; a few more only if unverified copies of the address exist. */
const MATCHES_READ = 10;

/** Cognito's answers that mean "try again later", not "the request was wrong". */
const UNAVAILABLE = new Set(['TooManyRequestsException', 'InternalErrorException', 'LimitExceededException', 'TimeoutError']);

function attribute(attributes: AttributeType[] | undefined, name: string): string | undefined {
  return attributes?.find((a) => a.Name === name)?.Value;
}

/** A ListUsers filter value: double quotes and backslashes escaped (validated emails have none). */
function filterValue(value: string): string {
  return value.replace(/["\\]/g, (c) => `\\${c}`);
}

function translate(error: unknown): never {
  const name = (error as { name?: string })?.name ?? '';
  if (UNAVAILABLE.has(name) || ((error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode ?? 0) >= 500) {
    throw new ApiError('SERVICE_UNAVAILABLE', undefined, {}, { 'Retry-After': '1' });
  }
  if (name === 'InvalidParameterException') {
    throw validationError([{ field: 'email', message: 'is not an email address the user pool accepts' }]);
  }
  throw error;
}

export class CognitoUserDirectory implements UserDirectory {
  readonly client: CognitoIdentityProviderClient;
  readonly userPoolId: string;

  constructor(client: CognitoIdentityProviderClient, userPoolId: string) {
    this.client = client;
    this.userPoolId = userPoolId;
  }

  /**
   * Only an account whose email is verified: the pool keeps a changed email unverified until its
   * code is entered, and an unverified address may be anybody's (ListUsers cannot filter on
   * email_verified, so the few accounts with that email are read and checked here).
   */
  async findByEmail(email: string): Promise<DirectoryUser | undefined> {
    const { Users } = await this.client
      .send(
        new ListUsersCommand({
          UserPoolId: this.userPoolId,
          Filter: `email = "${filterValue(email)}"`,
          AttributesToGet: ['sub', 'email', 'email_verified'],
          Limit: MATCHES_READ,
        }),
      )
      .catch(translate);
    const owner = (Users ?? []).find(
      (user) => attribute(user.Attributes, 'email_verified') === 'true' && attribute(user.Attributes, 'email')?.toLowerCase() === email,
    );
    const sub = attribute(owner?.Attributes, 'sub');
    return sub ? { userId: sub, email } : undefined;
  }

  async inviteByEmail(email: string): Promise<DirectoryUser> {
    try {
      const { User } = await this.client.send(
        new AdminCreateUserCommand({
          UserPoolId: this.userPoolId,
          Username: email,
          UserAttributes: [
            { Name: 'email', Value: email },
            // The owner vouches for the address, and the invitation itself goes to it.
            { Name: 'email_verified', Value: 'true' },
          ],
          DesiredDeliveryMediums: ['EMAIL'],
        }),
      );
      const sub = attribute(User?.Attributes, 'sub');
      if (!sub) throw new Error('AdminCreateUser returned no sub');
      return { userId: sub, email };
    } catch (error) {
      // Invited (or signed up) meanwhile: that account is the one.
      if ((error as { name?: string })?.name === 'UsernameExistsException') {
        const found = await this.findByEmail(email);
        if (found) return found;
        throw new ApiError('CONFLICT', 'An account with this email exists but has not verified it yet');
      }
      return translate(error);
    }
  }
}

export function cognitoUserDirectory(userPoolId: string): CognitoUserDirectory {
  return new CognitoUserDirectory(new CognitoIdentityProviderClient({}), userPoolId);
}
