// Request shapes of the organization, member, database and credit routes (docs/api.md "Routes").
// The handlers validate with these and the API description (GET /openapi.json) is generated from them.
import * as z from 'zod';
import { assistantIdField } from './assistant-rules.ts';
import { billingSchema } from './billing.ts';
import { MAX_TOKEN_LIMIT, PLANS } from './plans.ts';
import { ROLES } from './roles.ts';
import { intQuery, nameSchema, objectBody, positiveInt } from './validation.ts';

const limitsSchema = z.strictObject(
  {
    perMinute: positiveInt(),
    perDay: positiveInt(),
    tokensPerMinute: positiveInt(MAX_TOKEN_LIMIT).optional(),
    tokensPerDay: positiveInt(MAX_TOKEN_LIMIT).optional(),
  },
  { error: 'must be an object with perMinute and perDay, and optionally tokensPerMinute and tokensPerDay' },
);

export const createOrganizationBody = objectBody({ name: nameSchema(100) });

/** Operators change plan, limits and billing; owners change name and the default assistant. */
export const patchOrganizationBody = objectBody({
  plan: z.enum(PLANS, { error: `must be one of ${PLANS.join(', ')}` }).optional(),
  limits: limitsSchema.optional(),
  billing: billingSchema().optional(),
  name: nameSchema(100).optional(),
  defaultAssistantId: assistantIdField.unwrap().optional(),
});
export const OPERATOR_ORGANIZATION_FIELDS = ['plan', 'limits', 'billing'] as const;
export const OWNER_ORGANIZATION_FIELDS = ['name', 'defaultAssistantId'] as const;

export const grantCreditsBody = objectBody({
  amount: z
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .refine((n) => n !== 0, 'must not be zero')
    .refine((n) => Math.abs(n) <= 1_000_000_000, 'must be at most 1000000000 in size'),
  reason: z.string({ error: 'must be a string' }).max(200, 'must be at most 200 characters').optional(),
});

export const userIdParam = z.string().min(1).max(128).regex(/^[\w@.:+-]+$/, 'must be a user id');

const roleSchema = z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` });

export const memberRoleBody = objectBody({ role: roleSchema });

/** An email address as members are added by: trimmed and lowercased (one spelling per address). */
export const emailSchema = z
  .string({ error: 'must be a string' })
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email({ error: 'must be an email address' }));

export const addMemberBody = objectBody({ email: emailSchema, role: roleSchema });

export const createDatabaseBody = objectBody({ name: nameSchema(100), assistantId: assistantIdField.optional() });

/** `assistantId: null` goes back to the organization's default. */
export const patchDatabaseBody = objectBody({ name: nameSchema(100).optional(), assistantId: assistantIdField.optional() });

/** Query of GET /v1/organizations?all=true (operators): a name part or id prefix, and a page. */
export const organizationSearchQuery = z.object({
  all: z.literal('true').optional(),
  q: z.string().max(100, 'must be at most 100 characters').optional(),
  limit: intQuery(1, 100, 20),
  cursor: z.string().max(1024).optional(),
});
