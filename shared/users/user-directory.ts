// The user directory this deployment uses (docs/api.md "Routes", members by email), chosen by USER_DIRECTORY:
// - `cognito` (the stack): the portal's Cognito user pool (USER_POOL_ID), shared/users/cognito-directory.ts;
// - `local` (the local runtime): a DynamoDB Local table, shared/users/local-directory.ts.
// Both are loaded lazily, so a function only initialises the one it uses.
import type { UserDirectory } from './directory.ts';

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
