// Body of POST /_dev/token (local runtime only): here rather than in infra/local so the API
// description documents the very schema the local runtime validates with.
import * as z from 'zod';
import { objectBody } from '../domain/validation.ts';

export const devTokenBody = objectBody({
  sub: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .max(128)
    .regex(/^[\w@.:+-]+$/, 'must be a user id')
    .meta({ description: 'The user id (`sub` claim)' }),
  email: z.email({ error: 'must be an email address' }).max(254).optional().meta({ description: 'Registered for that user in the local user directory' }),
  email_verified: z
    .boolean({ error: 'must be true or false' })
    .optional()
    .meta({ description: 'The `email_verified` claim (default true); an unverified email is not registered, as in Cognito before the user enters the code' }),
  groups: z
    .array(z.string().min(1).max(64), { error: 'must be an array of group names' })
    .max(20)
    .optional()
    .meta({ description: '`cognito:groups`; `operators` makes a platform operator' }),
});
