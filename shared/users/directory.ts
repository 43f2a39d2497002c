// The user directory: who has an account, by email. The management API adds members by email
// (docs/api.md "Routes", POST /v1/organizations/{orgId}/members), so it must find a user's id
// (the portal token's `sub`) from an email, or invite them when they have no account yet.
//
// This module is the interface and its pure helpers only; the implementations (cognito-directory.ts,
// local-directory.ts) import it, and user-directory.ts picks one (so nothing here imports them back).
//
// Only verified emails count (docs/api.md "Authentication"): an address a user typed but never confirmed
// may be anybody's, and must never capture an invitation meant for its owner.
import { createHash } from 'node:crypto';

/** A user as the directory knows them: `userId` is the portal token's `sub`. */
export interface DirectoryUser {
  userId: string;
  /** Normalized (trimmed, lowercase). */
  email: string;
}

export interface UserDirectory {
  /** The user whose verified (normalized) email this is, or undefined when nobody has one. */
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

/**
 * The user with this email, inviting them first when they have no account. `beforeInvite` runs
 * only when an invitation is about to be sent (it may refuse it by throwing: a daily allowance).
 */
export async function findOrInvite(
  directory: UserDirectory,
  email: string,
  beforeInvite: () => Promise<void> = async () => undefined,
): Promise<DirectoryUser & { invited: boolean }> {
  const found = await directory.findByEmail(email);
  if (found) return { ...found, invited: false };
  await beforeInvite();
  return { ...(await directory.inviteByEmail(email)), invited: true };
}
