// Credits against DynamoDB Local: the balance never goes below zero under concurrent replies, a
// retried request is charged once, a failed reply is refunded once, and usage counts the credits.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_AUDIT } from '../support/audit.ts';
import { db } from '../../shared/db/client.ts';
import { grantCredits, hasCredits, holdCredits, refundCredit, reservationKey, reserveCredit, settleCredits } from '../../shared/db/credits.ts';
import { admit } from '../../shared/db/rate-limits.ts';
import { createOrganization, getOrganization } from '../../shared/db/organizations.ts';
import { dailyUsage, usageKey } from '../../shared/db/usage.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import { tableName } from '../../shared/tables.ts';
import { widenDbPools } from '../support/db-pool.ts';
import { rejectionOf } from '../support/rejection.ts';

const T = new Date('2031-06-07T12:00:00.000Z');
const DAY = '2031-06-07';

/** 500 concurrent replies stand for 500 Lambdas; give this one process a connection pool that wide. */
beforeAll(async () => {
  widenDbPools();
  const warm = await newOrg(200);
  await Promise.allSettled(Array.from({ length: 200 }, (_, i) => reserveCredit(warm, `warm-${i}`, 'key_warm', T)));
});

async function newOrg(credits: number): Promise<string> {
  return (await createOrganization('Credits Inc', 'owner', credits, TEST_AUDIT, T)).id;
}

const keyId = () => `key_${newId('req').slice(4)}`;
const balance = async (orgId: string) => (await getOrganization(orgId))!.credits;

/** A reply billed per reply that completes: its hold, then its settle (one credit charged). */
async function reply(orgId: string, requestKey: string, key: string): Promise<{ balance: number; alreadyCharged: boolean }> {
  const held = await holdCredits(orgId, requestKey, key, { inputBound: 0, outputCap: 0 }, T);
  if (!held.alreadyCharged) await settleCredits(held.hold, { usage: { inputTokens: 1, outputTokens: 1 } }, T);
  return { balance: await balance(orgId), alreadyCharged: held.alreadyCharged };
}

const refusal = (promise: Promise<unknown>) => rejectionOf<ApiError>(promise, 'a refusal');

describe('concurrent replies', () => {
  it('500 concurrent debits on a balance of 100 serve exactly 100 and leave 0', { timeout: 180_000 }, async () => {
    const orgId = await newOrg(100);
    const key = keyId();
    const results = await Promise.allSettled(Array.from({ length: 500 }, (_, i) => reply(orgId, `reply-${i}`, key)));
    const served = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ balance: number; alreadyCharged: boolean }>).value);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as ApiError);
    expect(served).toHaveLength(100);
    expect(served.every((r) => !r.alreadyCharged && r.balance >= 0 && r.balance < 100)).toBe(true);
    expect(refused).toHaveLength(400);
    expect(refused.every((e) => e instanceof ApiError && e.code === 'INSUFFICIENT_CREDITS')).toBe(true);
    expect(await balance(orgId)).toBe(0);
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]!.credits).toBe(100);
    expect((await dailyUsage({ organizationId: orgId, keyId: key }, 1, T))[0]!.credits).toBe(100);
  });

  it('the same request retried concurrently is charged once', async () => {
    const orgId = await newOrg(10);
    const results = await Promise.all(Array.from({ length: 20 }, () => reply(orgId, 'same-request', keyId())));
    expect(results.filter((r) => !r.alreadyCharged)).toHaveLength(1);
    expect(results.filter((r) => r.alreadyCharged)).toHaveLength(19);
    expect(await balance(orgId)).toBe(9);
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]!.credits).toBe(1);
  });
});

/** A request key is remembered for 7 days (docs/limits.md), written here, not read from the code. */
const SEVEN_DAYS_MS = 7 * 86_400_000;

describe('reserveCredit', () => {
  it('returns the balance after the debit', async () => {
    const orgId = await newOrg(3);
    expect(await reserveCredit(orgId, 'a', keyId(), T)).toEqual({ balance: 2, alreadyCharged: false });
    expect(await reserveCredit(orgId, 'b', keyId(), T)).toEqual({ balance: 1, alreadyCharged: false });
  });

  it('a retry of a charged request reports it, charges nothing, even at zero', async () => {
    const orgId = await newOrg(1);
    const key = keyId();
    expect(await reserveCredit(orgId, 'msg_1', key, T)).toEqual({ balance: 0, alreadyCharged: false });
    expect(await reserveCredit(orgId, 'msg_1', key, T)).toEqual({ balance: 0, alreadyCharged: true });
    expect(await balance(orgId)).toBe(0);
  });

  it('refuses at zero with 402 INSUFFICIENT_CREDITS', async () => {
    const orgId = await newOrg(0);
    const error = await refusal(reserveCredit(orgId, 'r', keyId(), T));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(402);
    expect(error.toBody()).toEqual({
      error: 'insufficient_credits',
      message: 'Organization has no credits left',
      code: 'INSUFFICIENT_CREDITS',
    });
    expect(await balance(orgId)).toBe(0);
    // Nothing was reserved: once credits are granted, the same request can be charged.
    await grantCredits(orgId, 1, undefined, TEST_AUDIT, new Date());
    expect(await reserveCredit(orgId, 'r', keyId(), T)).toEqual({ balance: 0, alreadyCharged: false });
  });

  it('keeps the reservation with a TTL', async () => {
    const orgId = await newOrg(5);
    const key = keyId();
    await reserveCredit(orgId, 'ses_1#abc', key, T);
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: reservationKey(orgId, 'ses_1#abc') }));
    expect(Item).toMatchObject({
      state: 'held',
      held: 1,
      billing: { mode: 'reply' },
      keyId: key,
      day: DAY,
      ttl: T.getTime() / 1000 + SEVEN_DAYS_MS / 1000,
    });
  });

  it('forgets a reservation past its retention even while TTL has not deleted it', async () => {
    const orgId = await newOrg(5);
    await reserveCredit(orgId, 'old', 'key_a', T);
    const justBefore = new Date(T.getTime() + SEVEN_DAYS_MS - 1000);
    expect(await reserveCredit(orgId, 'old', 'key_a', justBefore)).toEqual({ balance: 4, alreadyCharged: true });
    const after = new Date(T.getTime() + SEVEN_DAYS_MS);
    expect(await reserveCredit(orgId, 'old', 'key_a', after)).toEqual({ balance: 3, alreadyCharged: false });
    expect(await reserveCredit(orgId, 'old', 'key_a', after)).toEqual({ balance: 3, alreadyCharged: true });
  });
});

describe('refundCredit', () => {
  it('gives the credit back once, and uncounts it', async () => {
    const orgId = await newOrg(5);
    const key = keyId();
    await reserveCredit(orgId, 'fails', key, T);
    expect(await balance(orgId)).toBe(4);
    await refundCredit(orgId, 'fails', key, T);
    await refundCredit(orgId, 'fails', key, T);
    expect(await balance(orgId)).toBe(5);
    expect((await dailyUsage({ organizationId: orgId }, 1, T))[0]!.credits).toBe(0);
    expect((await dailyUsage({ organizationId: orgId, keyId: key }, 1, T))[0]!.credits).toBe(0);
  });

  it('concurrent refunds of one reservation give back one credit', async () => {
    const orgId = await newOrg(5);
    await reserveCredit(orgId, 'fails', 'key_a', T);
    await Promise.all(Array.from({ length: 10 }, () => refundCredit(orgId, 'fails', 'key_a', T)));
    expect(await balance(orgId)).toBe(5);
  });

  it('a refunded request can be charged again (the retry that succeeds pays)', async () => {
    const orgId = await newOrg(5);
    await reserveCredit(orgId, 'retry-me', 'key_a', T);
    await refundCredit(orgId, 'retry-me', 'key_a', T);
    expect(await reserveCredit(orgId, 'retry-me', 'key_a', T)).toEqual({ balance: 4, alreadyCharged: false });
    expect(await reserveCredit(orgId, 'retry-me', 'key_a', T)).toEqual({ balance: 4, alreadyCharged: true });
  });

  it('without a reservation does nothing', async () => {
    const orgId = await newOrg(5);
    await refundCredit(orgId, 'never-reserved', 'key_a', T);
    expect(await balance(orgId)).toBe(5);
  });

  it('uncounts the credit on the day it was counted', async () => {
    const orgId = await newOrg(5);
    const key = keyId();
    await reserveCredit(orgId, 'late', key, new Date('2031-06-07T23:59:59.000Z'));
    await refundCredit(orgId, 'late', key, new Date('2031-06-08T00:00:05.000Z'));
    const usage = await dailyUsage({ organizationId: orgId, keyId: key }, 2, new Date('2031-06-08T12:00:00.000Z'));
    expect(usage.map((d) => [d.date, d.credits])).toEqual([
      ['2031-06-08', 0],
      ['2031-06-07', 0],
    ]);
  });
});

describe('credits in usage', () => {
  it("a reply's credits: the organization's total on its day item, the key's on its own day item (no per-key entry on the organization's)", async () => {
    const orgId = await newOrg(5);
    const key = keyId();
    await admit({ organizationId: orgId, keyId: key, orgLimits: { perMinute: 100, perDay: 1000 }, keyLimits: null }, T);
    const writes: string[] = [];
    const name = 'countUsageWrites';
    db.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string; Key?: { pk?: { S?: string } | string } };
        const pk = typeof input.Key?.pk === 'object' ? input.Key.pk.S : input.Key?.pk;
        if (context.commandName === 'UpdateItemCommand') writes.push(`${input.TableName}:${pk}`);
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      await reply(orgId, 'r1', key);
      await reserveCredit(orgId, 'r2', key, T);
      await refundCredit(orgId, 'r2', key, T);
    } finally {
      db.middlewareStack.remove(name);
    }
    // Counted once, when r1 settled (a hold counts nothing; a returned one has nothing to uncount).
    expect(writes.filter((w) => w.startsWith(`${tableName('usage')}:usage#`)).sort()).toEqual([`${tableName('usage')}:usage#key#${key}`, `${tableName('usage')}:usage#org#${orgId}`]);
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: usageKey({ organizationId: orgId }, DAY) }));
    expect(Item).toMatchObject({ credits: 1 });
    expect(Item?.kc).toBeUndefined();
    expect((await dailyUsage({ organizationId: orgId, keyId: key }, 1, T))[0]).toEqual({ date: DAY, requests: 1, rateLimited: 0, credits: 1, inputTokens: 0, outputTokens: 0 });
  });
});

describe('hasCredits', () => {
  it('is true above zero and false at zero', async () => {
    const orgId = await newOrg(1);
    expect(await hasCredits(orgId)).toBe(true);
    await reserveCredit(orgId, 'last', keyId(), T);
    expect(await hasCredits(orgId)).toBe(false);
    await grantCredits(orgId, 2, undefined, TEST_AUDIT, new Date());
    expect(await hasCredits(orgId)).toBe(true);
  });

  it('is false for an organization that does not exist', async () => {
    expect(await hasCredits(newId('org'))).toBe(false);
  });
});
