// What a key may be created or changed with (docs/api.md "Keys" and "Routes"). Pure: the handler adds
// only the checks that need the database (the databaseId must exist in the organization).
import * as z from 'zod';
import type { KeyType } from './api-key.ts';
import { MAX_ALLOWED_DOMAINS, normalizeAllowedDomains } from './allowed-domains.ts';
import { validationError, type FieldIssue } from './errors.ts';
import { MAX_TOKEN_LIMIT, type Limits } from './plans.ts';
import { assistantIdField } from './assistant-rules.ts';
import { intQuery, nameSchema, objectBody, parseInput, positiveInt } from './validation.ts';
import { SCOPES, type Scope } from './scopes.ts';

export const DEFAULT_LIFETIME_DAYS = 365;
export const DEFAULT_GRACE_HOURS = 24;

const keyType = z
  .enum(['secret', 'publishable', 'widget'], { error: 'must be one of secret, publishable, widget' })
  .transform((t): KeyType => (t === 'widget' ? 'publishable' : t));

const rateLimit = z
  .strictObject(
    {
      perMinute: positiveInt().optional(),
      perDay: positiveInt().optional(),
      tokensPerMinute: positiveInt(MAX_TOKEN_LIMIT).optional(),
      tokensPerDay: positiveInt(MAX_TOKEN_LIMIT).optional(),
    },
    { error: 'must be an object with perMinute, perDay, tokensPerMinute and/or tokensPerDay' },
  )
  .nullable();

const scopes = z
  .array(z.enum(SCOPES as [Scope, ...Scope[]], { error: `must be one of ${SCOPES.join(', ')}` }), {
    error: 'must be an array of scopes',
  })
  .max(SCOPES.length * 4, 'too many scopes');

const databaseId = z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(64).nullable();

/** Checked by normalizeAllowedDomains (its own messages per entry); described here for the API description. */
const allowedDomainsInput = z.unknown().meta({
  description: 'Publishable keys only: the domains whose pages may use the key (`mysite.com` also covers its subdomains, `*.mysite.com` only them); an array, or one comma-separated string',
  anyOf: [
    { type: 'array', items: { type: 'string' }, maxItems: MAX_ALLOWED_DOMAINS },
    { type: 'string' },
  ],
});

export const createKeyBody = objectBody({
  name: nameSchema(50),
  type: keyType,
  allowedDomains: allowedDomainsInput.optional(),
  databaseId: databaseId.optional(),
  assistantId: assistantIdField.optional(),
  scopes: scopes.optional(),
  expiresInDays: z.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be from 1 to 365').max(365, 'must be from 1 to 365').optional(),
  rateLimit: rateLimit.optional(),
});

export const patchKeyBody = objectBody({
  name: nameSchema(50).optional(),
  allowedDomains: allowedDomainsInput.optional(),
  status: z.enum(['active', 'disabled'], { error: 'must be active or disabled' }).optional(),
  rateLimit: rateLimit.optional(),
  assistantId: assistantIdField.unwrap().optional(),
});

export const rollKeyBody = objectBody({
  gracePeriodHours: z
    .number({ error: 'must be a number' })
    .min(0, 'must be from 0 to 168')
    .max(168, 'must be from 0 to 168')
    .optional(),
}).optional();

/** `GET …/api-keys`: filters and pagination. */
export const listKeysQuery = z.object({
  type: keyType.optional(),
  status: z.enum(['active', 'disabled', 'expired'], { error: 'must be active, disabled or expired' }).optional(),
  limit: intQuery(1, 100, 20),
  cursor: z.string().max(1024).optional(),
});

/** `GET …/usage?days=N`: UTC days, newest first. */
export const usageQuery = z.object({ days: intQuery(1, 90, 30) });

export interface KeySettings {
  name: string;
  type: KeyType;
  allowedDomains: string[];
  databaseId: string | null;
  /**
   * Publishable keys: the assistant the key is pinned to. At parse time only the one given (the
   * handler fills in the database's or the org default's); always null for secret keys.
   */
  assistantId?: string | null;
  scopes: Scope[];
  expiresInDays: number;
  rateLimit: Partial<Limits> | null;
}

function domainsFor(type: KeyType, input: unknown, issues: FieldIssue[]): string[] {
  if (input === undefined || input === null) return [];
  if (type !== 'publishable') {
    issues.push({ field: 'allowedDomains', message: 'is only allowed for publishable keys' });
    return [];
  }
  const result = normalizeAllowedDomains(input);
  if (!result.ok) {
    issues.push(...result.issues);
    return [];
  }
  return result.domains;
}

function emptyToNull(limit: Partial<Limits> | null | undefined): Partial<Limits> | null {
  if (!limit || Object.values(limit).every((v) => v === undefined)) return null;
  return limit;
}

export function parseCreateKey(body: unknown): KeySettings {
  const input = parseInput(createKeyBody, body);
  const issues: FieldIssue[] = [];
  const allowedDomains = domainsFor(input.type, input.allowedDomains, issues);
  if (input.databaseId && input.type !== 'publishable') {
    issues.push({ field: 'databaseId', message: 'is only allowed for publishable keys' });
  }
  if (input.assistantId && input.type !== 'publishable') {
    issues.push({ field: 'assistantId', message: 'is only allowed for publishable keys (a secret key names its assistant per request)' });
  }
  const requested = input.scopes ? [...new Set(input.scopes)] : undefined;
  if (input.type === 'publishable' && requested?.includes('export')) {
    issues.push({ field: 'scopes', message: 'publishable keys cannot hold the export scope' });
  }
  if (requested && requested.length === 0) issues.push({ field: 'scopes', message: 'must not be empty' });
  if (issues.length) throw validationError(issues);
  return {
    name: input.name,
    type: input.type,
    allowedDomains,
    databaseId: input.databaseId ?? null,
    assistantId: input.assistantId ?? null,
    scopes: requested ?? (input.type === 'publishable' ? ['chat'] : [...SCOPES]),
    expiresInDays: input.expiresInDays ?? DEFAULT_LIFETIME_DAYS,
    rateLimit: emptyToNull(input.rateLimit),
  };
}

export interface KeyPatch {
  name?: string;
  allowedDomains?: string[];
  status?: 'active' | 'disabled';
  rateLimit?: Partial<Limits> | null;
  assistantId?: string;
}

export function parsePatchKey(body: unknown, type: KeyType): KeyPatch {
  const input = parseInput(patchKeyBody, body ?? {});
  const issues: FieldIssue[] = [];
  const patch: KeyPatch = {};
  if (input.name !== undefined) patch.name = input.name;
  if (input.status !== undefined) patch.status = input.status;
  if (input.rateLimit !== undefined) patch.rateLimit = emptyToNull(input.rateLimit);
  if (input.allowedDomains !== undefined) patch.allowedDomains = domainsFor(type, input.allowedDomains, issues);
  if (input.assistantId !== undefined) {
    if (type === 'publishable') patch.assistantId = input.assistantId;
    else issues.push({ field: 'assistantId', message: 'is only allowed for publishable keys (a secret key names its assistant per request)' });
  }
  if (issues.length) throw validationError(issues);
  if (Object.keys(patch).length === 0) {
    throw validationError([{ field: 'body', message: 'name, allowedDomains, status, rateLimit or assistantId is required' }]);
  }
  return patch;
}

export function parseRoll(body: unknown): { gracePeriodHours: number } {
  const input = parseInput(rollKeyBody, body);
  return { gracePeriodHours: input?.gracePeriodHours ?? DEFAULT_GRACE_HOURS };
}
