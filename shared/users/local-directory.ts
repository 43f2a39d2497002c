// The local user directory: the local runtime's stand-in for the Cognito user pool, and the single
// place that maps email <-> user id locally. One item per normalized email in the local-only table
// LOCAL_TABLES.localUsers (DynamoDB Local; shared/tables.ts), so the mapping survives restarts.
//
// Interface (for the local runtime's sign-in paths and the management API):
// - `localUserDirectory(env?)`        the directory over LOCAL_USERS_TABLE (what USER_DIRECTORY=local loads);
// - `dir.signIn(email)`               the local sign-in page: the account of that email, created on
//                                     first sign-in with id `localUserId(email)`; returns {userId, email};
// - `dir.register({userId, email})`   POST /_dev/token {sub, email} with the email verified (the default):
//                                     binds that email to that sub (an unverified one is never registered,
//                                     as Cognito keeps the original email until a new one is verified);
//                                     409 CONFLICT when the email already belongs to another user id;
// - `dir.findByEmail(email)`          the account of an email, or undefined (UserDirectory);
// - `dir.inviteByEmail(email)`        POST .../members for an unknown email: creates the account with
//                                     id `localUserId(email)` (no email is sent locally) (UserDirectory);
// - `localUserId(email)` (directory.ts) `local-` + 24 hex of SHA-256(normalized email): deterministic, so an
//                                     invited user who later signs in with that email is the same user.
// Emails are normalized (trimmed, lowercase) by every entry point.
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ApiError } from '../domain/errors.ts';
import { iso } from '../domain/time.ts';
import { db, isConditionFailed } from '../db/client.ts';
import { LOCAL_TABLES } from '../tables.ts';
import { localUserId, normalizeEmail, type DirectoryUser, type UserDirectory } from './directory.ts';

/** How an account came to be: signed in on the local sign-in page, a dev token, or an invitation. */
export type LocalUserSource = 'sign-in' | 'dev-token' | 'invitation';

interface LocalUserItem extends DirectoryUser {
  source: LocalUserSource;
  createdAt: string;
}

export class LocalUserDirectory implements UserDirectory {
  readonly tableName: string;

  constructor(tableName: string) {
    this.tableName = tableName;
  }

  async findByEmail(email: string): Promise<DirectoryUser | undefined> {
    const { Item } = await db.send(
      new GetCommand({ TableName: this.tableName, Key: { email: normalizeEmail(email) }, ConsistentRead: true }),
    );
    return Item ? { userId: (Item as LocalUserItem).userId, email: (Item as LocalUserItem).email } : undefined;
  }

  /** Locally an invitation only creates the account: whoever signs in with that email is that user. */
  inviteByEmail(email: string): Promise<DirectoryUser> {
    return this.create(email, 'invitation');
  }

  async signIn(email: string): Promise<DirectoryUser> {
    return (await this.findByEmail(email)) ?? this.create(email, 'sign-in');
  }

  /** Bind `email` to `userId` (a dev token's sub); refused when the email is another user's. */
  async register(user: DirectoryUser): Promise<DirectoryUser> {
    const email = normalizeEmail(user.email);
    const item: LocalUserItem = { userId: user.userId, email, source: 'dev-token', createdAt: iso(new Date()) };
    try {
      await db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(email) OR userId = :u',
          ExpressionAttributeValues: { ':u': user.userId },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const owner = await this.findByEmail(email);
      throw new ApiError('CONFLICT', `${email} already belongs to the local user ${owner?.userId ?? 'another user'}`);
    }
    return { userId: user.userId, email };
  }

  /** A new account with the derived id; a concurrent creation of the same email wins and is returned. */
  private async create(rawEmail: string, source: LocalUserSource): Promise<DirectoryUser> {
    const email = normalizeEmail(rawEmail);
    const item: LocalUserItem = { userId: localUserId(email), email, source, createdAt: iso(new Date()) };
    try {
      await db.send(new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(email)' }));
      return { userId: item.userId, email };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const existing = await this.findByEmail(email);
      if (!existing) throw error;
      return existing;
    }
  }
}

export function localUserDirectory(env: NodeJS.ProcessEnv = process.env): LocalUserDirectory {
  const name = env[LOCAL_TABLES.localUsers.envVar];
  if (!name) throw new Error(`Missing environment variable ${LOCAL_TABLES.localUsers.envVar}`);
  return new LocalUserDirectory(name);
}
