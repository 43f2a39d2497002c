// The user directory: who has an account, by email. The management API adds members by email
// (docs/api.md section 3, POST /v1/organizations/{orgId}/members), so it must find a user's id
// (the portal token's `sub`) from an email, or invite them when they have no account yet.
//
// Two implementations, chosen by USER_DIRECTORY:
// - `cognito` (the stack): the portal's Cognito user pool (USER_POOL_ID), shared/users/cognito-directory.ts;
// - `local` (the local runtime): a DynamoDB Local table, shared/users/local-directory.ts.
// Both are loaded lazily, so a function only initialises the one it uses.
import { createHash } from 'node:crypto';

/** A user as the directory knows them: `userId` is the portal token's `sub`. */
export interface DirectoryUser {
  userId: string;
  /** Normalized (trimmed, lowercase). */
  email: string;
}

export interface UserDirectory {
  /** The user with this (normalized) email, or undefined when nobody has an account with it. */
  findByEmail(email: string): Promise<DirectoryUser | undefined>;
  /**
   * Create an account for this (normalized) email and send its invitation. When an account
   * appeared meanwhile (a concurrent invite), that account is returned instead.
   */
  inviteByEmail(email: string): Promise<DirectoryUser>;
}

/** One spelling per address: trimmed and lowercased (the portal signs in case-insensitively). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The user id the local directory gives an email's account (pure, so sign-in code needs no database). */
export function localUserId(email: string): string {
  return `local-${createHash('sha256').update(normalizeEmail(email)).digest('hex').slice(0, 24)}`;
}

/** The user with this email, inviting them first when they have no account. */
export async function findOrInvite(directory: UserDirectory, email: string): Promise<DirectoryUser & { invited: boolean }> {
  const found = await directory.findByEmail(email);
  if (found) return { ...found, invited: false };
  return { ...(await directory.inviteByEmail(email)), invited: true };
}

let cached: { key: string; directory: Promise<UserDirectory> } | undefined;

/** The directory this deployment uses, built once per configuration. */
export function userDirectory(env: NodeJS.ProcessEnv = process.env): Promise<UserDirectory> {
  const kind = env.USER_DIRECTORY;
  const key = `${kind}:${env.USER_POOL_ID ?? ''}:${env.LOCAL_USERS_TABLE ?? ''}`;
  if (cached?.key !== key) {
    let directory: Promise<UserDirectory>;
    if (kind === 'cognito') {
      const poolId = env.USER_POOL_ID;
      if (!poolId) throw new Error('Missing environment variable USER_POOL_ID');
      directory = import('./cognito-directory.ts').then((m) => m.cognitoUserDirectory(poolId));
    } else if (kind === 'local') {
      directory = import('./local-directory.ts').then((m) => m.localUserDirectory(env));
    } else {
      throw new Error(`USER_DIRECTORY must be "cognito" or "local", not ${JSON.stringify(kind)}`);
    }
    cached = { key, directory };
  }
  return cached.directory;
}
