import { describe, expect, it } from 'vitest';
import { billingOf, billingSchema, replyCost, sameBilling } from '../../shared/domain/billing.ts';

describe('billing', () => {
  it('charges one credit per reply by default', () => {
    expect(billingOf({})).toEqual({ mode: 'reply' });
    expect(replyCost(billingOf({}), { inputTokens: 5_000, outputTokens: 9_000 })).toBe(1);
  });

  it('charges whole credits per 1,000 tokens, rounded up once for the reply', () => {
    const billing = { mode: 'tokens' as const, inputPer1k: 3, outputPer1k: 15 };
    expect(replyCost(billing, { inputTokens: 0, outputTokens: 0 })).toBe(0);
    expect(replyCost(billing, { inputTokens: 1, outputTokens: 0 })).toBe(1);
    expect(replyCost(billing, { inputTokens: 1000, outputTokens: 1000 })).toBe(18);
    expect(replyCost(billing, { inputTokens: 333, outputTokens: 67 })).toBe(Math.ceil((333 * 3 + 67 * 15) / 1000));
  });

  it('validates', () => {
    expect(billingSchema().safeParse({ mode: 'reply' }).success).toBe(true);
    expect(billingSchema().safeParse({ mode: 'tokens', inputPer1k: 0, outputPer1k: 2 }).success).toBe(true);
    expect(billingSchema().safeParse({ mode: 'tokens', inputPer1k: 0, outputPer1k: 0 }).success).toBe(false);
    expect(billingSchema().safeParse({ mode: 'reply', outputPer1k: 2 }).success).toBe(false);
  });

  it('compares billings by what they charge', () => {
    expect(sameBilling({ mode: 'reply' }, { mode: 'reply' })).toBe(true);
    expect(sameBilling({ mode: 'tokens', inputPer1k: 1, outputPer1k: 2 }, { mode: 'tokens', inputPer1k: 1, outputPer1k: 2 })).toBe(true);
    expect(sameBilling({ mode: 'tokens', inputPer1k: 1, outputPer1k: 2 }, { mode: 'tokens', inputPer1k: 2, outputPer1k: 2 })).toBe(false);
    expect(sameBilling({ mode: 'reply' }, { mode: 'tokens', inputPer1k: 1, outputPer1k: 2 })).toBe(false);
  });
});
