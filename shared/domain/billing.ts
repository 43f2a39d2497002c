// How an organization pays for replies (docs/api.md "Credits by tokens"): one credit per reply, or
// whole credits per 1,000 tokens. Pure rules: the schema operators set it with, and what a reply costs.
import * as z from 'zod';
import { lazySchema } from './validation.ts';

export interface ReplyBilling {
  mode: 'reply';
}

export interface TokenBilling {
  mode: 'tokens';
  /** Whole credits per 1,000 input tokens. */
  inputPer1k: number;
  /** Whole credits per 1,000 output tokens. */
  outputPer1k: number;
}

export type Billing = ReplyBilling | TokenBilling;

/** What an organization without `billing` has. */
export const REPLY_BILLING: ReplyBilling = { mode: 'reply' };

/** Credits one reply costs under `{mode: "reply"}`. */
export const CREDITS_PER_REPLY = 1;

/** The largest rate an operator may set: a reply of 1,000,000 tokens then costs 10^12 credits, still an exact integer. */
export const MAX_RATE_PER_1K = 1_000_000;

const rate = () =>
  z
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(0, 'must be at least 0')
    .max(MAX_RATE_PER_1K, `must be at most ${MAX_RATE_PER_1K}`);

/** Built on first use: the reply path reads billing but never parses it. */
export const billingSchema = lazySchema(() =>
  z.discriminatedUnion(
    'mode',
    [
      z.strictObject({ mode: z.literal('reply') }),
      z
        .strictObject({ mode: z.literal('tokens'), inputPer1k: rate(), outputPer1k: rate() })
        .refine((b) => b.inputPer1k + b.outputPer1k > 0, { message: 'inputPer1k or outputPer1k must be above 0', path: ['outputPer1k'] }),
    ],
    { error: 'must be {"mode":"reply"} or {"mode":"tokens","inputPer1k":N,"outputPer1k":M}' },
  ),
);

/** The billing in force: the organization's, or one credit per reply. */
export function billingOf(org: { billing?: Billing | null | undefined }): Billing {
  return org.billing ?? REPLY_BILLING;
}

/** Whether two billings charge the same (a PATCH that changes nothing writes nothing). */
export function sameBilling(a: Billing, b: Billing): boolean {
  if (a.mode !== b.mode) return false;
  return a.mode === 'reply' || (a.inputPer1k === (b as TokenBilling).inputPer1k && a.outputPer1k === (b as TokenBilling).outputPer1k);
}

/** Credits a reply of `input` and `output` tokens costs: `ceil((input × N + output × M) / 1000)`, or one per reply. */
export function replyCost(billing: Billing, tokens: { inputTokens: number; outputTokens: number }): number {
  if (billing.mode === 'reply') return CREDITS_PER_REPLY;
  return Math.ceil((tokens.inputTokens * billing.inputPer1k + tokens.outputTokens * billing.outputPer1k) / 1000);
}
