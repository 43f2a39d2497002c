// Audit log rules (docs/api.md "Audit log"): who may appear as an actor, which actions exist, and how
// a change is described as `{field, from, to}`. Pure: the entries themselves are written by
// shared/db/audit-log.ts inside the same transaction as the change they describe. The query of
// GET .../audit-log is in audit-query.ts, so what writes entries does not load zod.

export const AUDIT_ACTIONS = [
  'organization.created',
  'organization.updated',
  'credits.granted',
  'member.added',
  'member.updated',
  'member.removed',
  'database.created',
  'database.updated',
  'assistant.created',
  'assistant.updated',
  'assistant.deleted',
  'api_key.created',
  'api_key.updated',
  'api_key.disabled',
  'api_key.enabled',
  'api_key.rolled',
  'api_key.revoked',
  'webhook.created',
  'webhook.deleted',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type ActorType = 'user' | 'operator' | 'system';

export interface AuditActor {
  type: ActorType;
  id: string;
  email: string | null;
}

/** Who made a change and from where: everything an entry records besides the change itself. */
export interface AuditContext {
  actor: AuditActor;
  requestId: string | null;
  sourceIp: string | null;
  userAgent: string | null;
}

export type TargetType = 'organization' | 'member' | 'database' | 'api_key' | 'webhook' | 'assistant';

export interface AuditTarget {
  type: TargetType;
  id: string;
}

export interface AuditChange {
  field: string;
  from: unknown;
  to: unknown;
}

/** The change, as written into an entry (the context supplies the rest). */
export interface AuditRecord {
  action: AuditAction;
  target: AuditTarget;
  changes: AuditChange[];
}

export const AUDIT_RETENTION_DAYS = 400;

/** A user agent is recorded up to this length (the header is the caller's; an entry stays small). */
export const MAX_USER_AGENT = 512;

/**
 * Fields an entry may never carry, whatever a caller passes: plaintext keys, hashes, tokens and
 * webhook secrets (docs/api.md "Audit log"). Checked when an entry is built.
 */
const SECRET_FIELDS = new Set(['key', 'keyHash', 'secret', 'secretCiphertext', 'token', 'plaintext']);

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The fields of `after` that differ from `before`, in the order given. */
export function changesBetween<T extends object>(before: Partial<T>, after: Partial<T>, fields: readonly (keyof T & string)[]): AuditChange[] {
  return fields
    .filter((field) => field in after && !same(before[field], after[field]))
    .map((field) => ({ field, from: before[field] ?? null, to: after[field] ?? null }));
}

/** Every given field as newly set (creations). */
export function createdFields<T extends object>(value: T, fields: readonly (keyof T & string)[]): AuditChange[] {
  return fields.map((field) => ({ field, from: null, to: value[field] ?? null }));
}

export function assertNoSecrets(changes: AuditChange[]): void {
  for (const change of changes) {
    if (SECRET_FIELDS.has(change.field)) throw new Error(`Audit entries never record ${change.field}`);
  }
}

/**
 * The context for a change made outside an HTTP request: the operator CLI (`operator`, with the
 * operator's id and email) or Keygate itself (`system`).
 */
export function actorContext(actor: AuditActor, extra: Partial<Omit<AuditContext, 'actor'>> = {}): AuditContext {
  return { actor, requestId: extra.requestId ?? null, sourceIp: extra.sourceIp ?? null, userAgent: extra.userAgent ?? null };
}
