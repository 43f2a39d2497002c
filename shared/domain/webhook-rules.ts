// Request shape of POST /v1/organizations/{orgId}/webhooks (docs/api.md "Webhooks"). Apart from
// webhooks.ts, so the functions that deliver and sweep (which need the URL and signature rules, not
// request validation) do not load zod (cold start, docs/benchmarks.md figure 4).
import * as z from 'zod';
import { objectBody } from './validation.ts';
import { EVENT_TYPES } from './webhooks.ts';

export const createWebhookBody = objectBody({
  url: z.string({ error: 'must be a string' }).max(2048, 'must be at most 2048 characters'),
  events: z
    .array(z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(', ')}` }), { error: 'must be an array of event types' })
    .min(1, 'must name at least one event')
    .max(EVENT_TYPES.length)
    .refine((events) => new Set(events).size === events.length, 'must not repeat an event'),
});
