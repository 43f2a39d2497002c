// The limiter against DynamoDB Local when things go wrong or change under it (docs/limits.md):
// a write whose answer is lost after DynamoDB applied it counts once; what a process remembers as
// full does not outlive a raised limit; a key's own day limit holds across the high-volume
// threshold; refusals reach the usage figures when the request that was refused has its answer.
import type { MiddlewareStack } from '@smithy/types';
import { beforeAll, describe, expect, it } from 'vitest';
import * as client from '../../shared/db/client.ts';
import { admit, applyOrgLimits } from '../../shared/db/rate-limits.ts';
import { dailyUsage } from '../../shared/db/usage.ts';
import type { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import { widenDbPools } from '../support/db-pool.ts';

const T = new Date('2031-08-09T10:20:30.000Z');

beforeAll(() => {
  widenDbPools();
});

const subject = (organizationId: string, orgLimits: Limits, orgLimitsVersion = 0, keyId = `key_${newId('req').slice(4)}`, keyLimits: Partial<Limits> | null = null): RateSubject => ({
  organizationId,
  keyId,
  orgLimits,
  orgLimitsVersion,
  keyLimits,
});

async function count(subjects: RateSubject[], now = T) {
  const results: PromiseSettledResult<Record<string, string>>[] = [];
  for (let i = 0; i < subjects.length; i += 50) results.push(...(await Promise.allSettled(subjects.slice(i, i + 50).map((s) => admit(s, now)))));
  const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as ApiError);
  for (const error of refused) expect(error.code, `${error.name}: ${error.message}`).toBe('RATE_LIMIT_EXCEEDED');
  return { admitted: results.length - refused.length, refused: refused.length };
}

/**
 * Every DynamoDB client of this process (the limiter's counting client too, where there is one):
 * the first UpdateItem on `pk` is applied, then its answer is lost (a timeout, as the SDK sees it).
 */
function loseAnswerOnce(pk: string): () => void {
  const clients = [client.db, (client as Record<string, unknown>).countingDb].filter(Boolean) as { middlewareStack: MiddlewareStack<any, any> }[];
  let lost = 0;
  const name = `loseAnswer-${newId('req')}`;
  for (const c of clients) {
    c.middlewareStack.add(
      (next: any, context: any) => async (args: any) => {
        const result = await next(args);
        const input = args.input as { Key?: { pk?: { S?: string } } };
        // Only a write DynamoDB applied (200), not one whose condition failed.
        const applied = (result as { response?: { statusCode?: number } }).response?.statusCode === 200;
        if (context.commandName === 'UpdateItemCommand' && input.Key?.pk?.S === pk && applied && lost === 0) {
          lost += 1;
          throw Object.assign(new Error('Connection timed out after 5000 ms'), { name: 'TimeoutError', $metadata: {} });
        }
        return result;
      },
      { step: 'deserialize', name },
    );
  }
  return () => {
    for (const c of clients) c.middlewareStack.remove(name);
  };
}

describe('a counter write whose answer is lost', () => {
  it('one-item path: applied once, the request is admitted and counted once', async () => {
    const org = newId('org');
    const s = subject(org, { perMinute: 600, perDay: 100_000 });
    const restore = loseAnswerOnce(`usage#org#${org}`);
    try {
      await admit(s, T);
    } finally {
      restore();
    }
    expect((await dailyUsage({ organizationId: org }, 1, T))[0]!.requests).toBe(1);
    expect((await dailyUsage({ organizationId: org, keyId: s.keyId }, 1, T))[0]!.requests).toBe(1);
  });

  it("high-volume path: the key's write applied once", { timeout: 60_000 }, async () => {
    const org = newId('org');
    const s = subject(org, { perMinute: 15_000, perDay: 100_000 });
    const restore = loseAnswerOnce(`usage#key#${s.keyId}`);
    try {
      await admit(s, T);
    } finally {
      restore();
    }
    expect((await dailyUsage({ organizationId: org, keyId: s.keyId }, 1, T))[0]!.requests).toBe(1);
    expect((await dailyUsage({ organizationId: org }, 1, T))[0]!.requests).toBe(1);
  });
});

describe('what a process remembers as full', () => {
  it('a raised day limit admits at once, also for keys whose copy of the limits is still the older one', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const before = { perMinute: 15_000, perDay: 100 };
    const raised = { perMinute: 15_000, perDay: 140 };
    const key = `key_${newId('req').slice(4)}`;
    expect((await count(Array.from({ length: 110 }, () => subject(org, before, 0, key)))).admitted).toBe(100);
    // This process now knows every shard is full, and the key's item says so.
    expect((await count(Array.from({ length: 10 }, () => subject(org, before, 0, key)))).admitted).toBe(0);
    await applyOrgLimits(org, { v: 1, limits: raised }, T);
    // The key's copy has not been updated yet: its requests carry version 0. Within a second of the
    // process's last look at the limits it may still refuse from memory; after it, never.
    const later = new Date(T.getTime() + 1_000);
    expect((await count(Array.from({ length: 10 }, () => subject(org, before, 0, key)), later)).admitted).toBe(10);
    expect((await count(Array.from({ length: 40 }, () => subject(org, raised, 1, key)), later)).admitted).toBe(30);
  });
});

describe("a key's own day limit across the high-volume threshold", () => {
  it('120 a day: one-item, then high-volume, then one-item again: 120 admitted in all', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const key = `key_${newId('req').slice(4)}`;
    const oneItem = { perMinute: 1_000, perDay: 300 };
    const highVolume = { perMinute: 15_000, perDay: 300 };
    const own = { perDay: 120 };
    let admitted = 0;
    admitted += (await count(Array.from({ length: 100 }, () => subject(org, oneItem, 0, key, own)))).admitted;
    expect(admitted).toBe(100);
    admitted += (await count(Array.from({ length: 60 }, () => subject(org, highVolume, 1, key, own)))).admitted;
    expect(admitted).toBe(120);
    admitted += (await count(Array.from({ length: 60 }, () => subject(org, oneItem, 2, key, own)))).admitted;
    expect(admitted).toBe(120);
    expect((await dailyUsage({ organizationId: org, keyId: key }, 1, T))[0]!.requests).toBe(120);
  });
});

describe('refusals in the usage figures', () => {
  it('high-volume path: every refusal is in rateLimited once its 429 is answered, with no later request', { timeout: 60_000 }, async () => {
    const org = newId('org');
    const key = `key_${newId('req').slice(4)}`;
    const limits = { perMinute: 15_000, perDay: 100 };
    const { admitted, refused } = await count(Array.from({ length: 180 }, () => subject(org, limits, 0, key)));
    expect([admitted, refused]).toEqual([100, 80]);
    expect((await dailyUsage({ organizationId: org }, 1, T))[0]).toMatchObject({ requests: 100, rateLimited: 80 });
    expect((await dailyUsage({ organizationId: org, keyId: key }, 1, T))[0]).toMatchObject({ requests: 100, rateLimited: 80 });
  });
});

describe('a failure after the key was counted', () => {
  it("high-volume path: a shard write that fails gives the key's count back (503, nothing counted)", { timeout: 60_000 }, async () => {
    const org = newId('org');
    const s = subject(org, { perMinute: 15_000, perDay: 100_000 }, 0, undefined, { perDay: 5 });
    const name = `failShards-${newId('req')}`;
    for (const c of [client.db, client.countingDb]) {
      c.middlewareStack.add(
        (next: any, context: any) => async (args: any) => {
          const pk = (args.input as { Key?: { pk?: { S?: string } } }).Key?.pk?.S ?? '';
          if (context.commandName === 'UpdateItemCommand' && pk.startsWith(`usage#org#${org}#`)) {
            throw Object.assign(new Error('Internal server error'), { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } });
          }
          return next(args);
        },
        { step: 'deserialize', name },
      );
    }
    try {
      await expect(admit(s, T)).rejects.toMatchObject({ name: 'InternalServerError' });
    } finally {
      for (const c of [client.db, client.countingDb]) c.middlewareStack.remove(name);
    }
    expect((await dailyUsage({ organizationId: org, keyId: s.keyId }, 1, T))[0]!.requests).toBe(0);
    // The key's 5 a day are all there.
    expect((await count(Array.from({ length: 7 }, () => s))).admitted).toBe(5);
  });
});
