// Token windows against DynamoDB Local (docs/limits.md, "Token windows"): holds taken by 50
// concurrent replies never count more than a window's limit, on the one-item and the high-volume
// path; a hold takes what fits down to its floor; returns give tokens back to the window they were
// taken in. Each test uses fresh ids.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { countingDb, db } from '../../shared/db/client.ts';
import { returnTokens, takeTokens, tokenPartition, tokenStore } from '../../shared/db/token-windows.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import type { TokenHold, TokenTarget } from '../../shared/limits/tokens.ts';
import { minuteWindow } from '../../shared/limits/windows.ts';
import { tableName } from '../../shared/tables.ts';
import { widenDbPools } from '../support/db-pool.ts';

const T = new Date('2031-07-08T09:10:20.000Z');
const DAY = '2031-07-08';

beforeAll(() => {
  widenDbPools();
});

function subject(orgLimits: Limits, keyLimits: Partial<Limits> | null = null, organizationId = newId('org')): RateSubject {
  return { organizationId, keyId: `key_${newId('req').slice(4)}`, orgLimits, keyLimits };
}

async function counts(target: TokenTarget) {
  const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: { pk: tokenPartition(target), sk: DAY }, ConsistentRead: true }));
  return { minute: Number(Item?.tm ?? 0), day: Number(Item?.td ?? 0) };
}

async function holdAll(subjects: RateSubject[], want: number, atLeast?: number) {
  const results = await Promise.allSettled(subjects.map((s) => takeTokens(s, want, { now: T, atLeast })));
  const holds = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<TokenHold>).value);
  const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as ApiError);
  for (const error of refused) expect(error.code, String(error)).toBe('RATE_LIMIT_EXCEEDED');
  return { holds, refused, held: holds.reduce((sum, h) => sum + h.tokens, 0) };
}

describe('token windows under 50 concurrent replies', () => {
  it('one-item path: a minute limit of 1,000 tokens, 50 replies of 60: 16 held (960), never more than the limit', { timeout: 60_000 }, async () => {
    const s = subject({ perMinute: 600, perDay: 100_000, tokensPerMinute: 1_000 });
    const { holds, refused, held } = await holdAll(Array.from({ length: 50 }, () => ({ ...s, keyId: `key_${newId('req').slice(4)}` })), 60);
    expect(held).toBe(960);
    expect(holds).toHaveLength(16);
    expect(refused).toHaveLength(34);
    expect((await counts({ organizationId: s.organizationId })).minute).toBe(960);
    // The 429 names the token window, with Retry-After to the end of the minute.
    expect(refused[0]!.headers).toMatchObject({ 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '40', 'Retry-After': '40' });
  });

  it('with a floor, the window fills exactly: the last hold takes what is left', { timeout: 60_000 }, async () => {
    const s = subject({ perMinute: 600, perDay: 100_000, tokensPerDay: 1_000 });
    const { holds, held } = await holdAll(Array.from({ length: 50 }, () => s), 60, 17);
    expect(held).toBe(1_000);
    expect(holds.filter((h) => h.tokens < 60)).toHaveLength(1);
    expect((await counts({ organizationId: s.organizationId })).day).toBe(1_000);
  });

  it("a key's own token limit and the organization's: the stricter holds, and a key refused by the organization keeps nothing", { timeout: 60_000 }, async () => {
    const s = subject({ perMinute: 600, perDay: 100_000, tokensPerMinute: 500 }, { tokensPerMinute: 2_000 });
    const { held } = await holdAll(Array.from({ length: 50 }, () => s), 40);
    expect(held).toBe(480);
    expect((await counts({ organizationId: s.organizationId })).minute).toBe(480);
    // The key's item counts exactly what the organization held (refusals gave theirs back).
    expect((await counts({ keyId: s.keyId })).minute).toBe(480);
  });

  it('high-volume path: 64 token shards with exact shares, 50 concurrent replies never count more than the limit', { timeout: 120_000 }, async () => {
    const s = subject({ perMinute: 15_000, perDay: 100_000_000, tokensPerMinute: 6_400 });
    const { held } = await holdAll(Array.from({ length: 50 }, () => s), 150, 20);
    expect(held).toBeLessThanOrEqual(6_400);
    let total = 0;
    for (let shard = 0; shard < 64; shard++) {
      const c = await counts({ organizationId: s.organizationId, shard });
      expect(c.minute).toBeLessThanOrEqual(100);
      total += c.minute;
    }
    expect(total).toBe(held);
    const more = await holdAll(Array.from({ length: 50 }, () => s), 150, 20);
    expect(held + more.held).toBeLessThanOrEqual(6_400);
    // Once this process has seen every shard short of room, a refused hold makes no write.
    for (let i = 0; i < 70 && (await holdAll([s], 150, 20)).refused.length === 0; i++);
    let writes = 0;
    const name = `countTokenWrites-${newId('req')}`;
    countingDb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateItemCommand') writes += 1;
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      expect((await holdAll([s], 150, 20)).refused).toHaveLength(1);
    } finally {
      countingDb.middlewareStack.remove(name);
    }
    expect(writes).toBe(0);
  });
});

describe('returning tokens', () => {
  it('a settled hold gives back what it did not use; a failed reply gives back all of it', { timeout: 60_000 }, async () => {
    const s = subject({ perMinute: 600, perDay: 100_000, tokensPerMinute: 1_000, tokensPerDay: 5_000 }, { tokensPerDay: 3_000 });
    const hold = await takeTokens(s, 800, { now: T });
    expect(hold.tokens).toBe(800);
    const settled = await returnTokens(hold, 800 - 120);
    expect(settled.tokens).toBe(120);
    expect(await counts({ organizationId: s.organizationId })).toEqual({ minute: 120, day: 120 });
    expect(await counts({ keyId: s.keyId })).toEqual({ minute: 120, day: 120 });
    const failed = await takeTokens(s, 500, { now: T });
    await returnTokens(failed);
    expect(await counts({ organizationId: s.organizationId })).toEqual({ minute: 120, day: 120 });
  });

  it('without any token limit a hold writes nothing and holds what was asked', async () => {
    const s = subject({ perMinute: 600, perDay: 100_000 });
    const hold = await takeTokens(s, 4_000, { now: T });
    expect(hold).toMatchObject({ tokens: 4_000, parts: [] });
    await returnTokens(hold, 100);
  });

  it('tokens returned after the minute ended go back to the day only', { timeout: 60_000 }, async () => {
    const s = subject({ perMinute: 600, perDay: 100_000, tokensPerMinute: 1_000, tokensPerDay: 5_000 });
    const hold = await takeTokens(s, 700, { now: T });
    await takeTokens(s, 300, { now: new Date(T.getTime() + 60_000) });
    await returnTokens(hold, 500);
    expect(await counts({ organizationId: s.organizationId })).toEqual({ minute: 300, day: 500 });
  });

  it('want must be a positive integer', async () => {
    await expect(takeTokens(subject({ perMinute: 600, perDay: 100_000, tokensPerDay: 10 }), 0, { now: T })).rejects.toThrow(RangeError);
  });

  it('a shard\'s short mark is left only on a started shard and over an older mark, and says whether it was', { timeout: 60_000 }, async () => {
    const s = subject({ perMinute: 20_000, perDay: 10_000_000, tokensPerMinute: 64_000, tokensPerDay: 100_000_000 });
    const shard = { organizationId: s.organizationId, shard: 3 };
    const mark = (tfa: number) => tokenStore.markShort(shard, DAY, { tf: 'hint', tfa, tfr: 10 });
    expect(await mark(T.getTime())).toBe(false);
    // Start the shard (its day's first take).
    const version = { v: 0, highVolume: true, limits: { perMinute: 64_000, perDay: 100_000_000 } };
    expect((await tokenStore.takeTokens(shard, 'fresh', minuteWindow(T), DAY, { perMinute: 1_000, perDay: 1_000_000 }, 10, version)).ok).toBe(true);
    expect(await mark(T.getTime())).toBe(true);
    expect(await mark(T.getTime())).toBe(false);
    expect(await mark(T.getTime() - 1)).toBe(false);
    expect(await mark(T.getTime() + 1)).toBe(true);
  });

  it('a shard takes tokens back only while it counted at least as many in that minute (to its day only once it is in a later one), never while frozen', { timeout: 60_000 }, async () => {
    const s = subject({ perMinute: 20_000, perDay: 10_000_000, tokensPerMinute: 64_000, tokensPerDay: 100_000_000 });
    const shard = { organizationId: s.organizationId, shard: 5 };
    const minute = minuteWindow(T).id;
    // Not started: nothing counted there.
    expect(await tokenStore.returnToShard(shard, minute, DAY, 1)).toEqual({ ok: false, tw: undefined });
    const version = { v: 0, highVolume: true, limits: { perMinute: 64_000, perDay: 100_000_000 } };
    expect((await tokenStore.takeTokens(shard, 'fresh', minuteWindow(T), DAY, { perMinute: 1_000, perDay: 1_000_000 }, 300, version)).ok).toBe(true);
    expect(await tokenStore.returnToShard(shard, minute, DAY, 301)).toEqual({ ok: false, tw: minute });
    expect(await tokenStore.returnToShard(shard, minute, DAY, 200)).toEqual({ ok: true });
    expect(await counts(shard)).toEqual({ minute: 100, day: 100 });
    // A later minute: the earlier one's tokens go back to the day only.
    const later = new Date(T.getTime() + 60_000);
    expect((await tokenStore.takeTokens(shard, 'roll', minuteWindow(later), DAY, { perMinute: 1_000, perDay: 1_000_000 }, 50, version)).ok).toBe(true);
    expect(await tokenStore.returnToShard(shard, minute, DAY, 100)).toEqual({ ok: false, tw: minuteWindow(later).id });
    expect(await tokenStore.returnToShard(shard, undefined, DAY, 151)).toMatchObject({ ok: false });
    expect(await tokenStore.returnToShard(shard, undefined, DAY, 100)).toEqual({ ok: true });
    expect(await counts(shard)).toEqual({ minute: 50, day: 50 });
    // Frozen by a limit change: nothing comes back to it.
    expect((await tokenStore.freezeTokens(shard, DAY, { ...version, v: 1 }, 'change')).ok).toBe(true);
    expect(await tokenStore.returnToShard(shard, minuteWindow(later).id, DAY, 10)).toMatchObject({ ok: false });
    expect(await counts(shard)).toEqual({ minute: 50, day: 50 });
  });
});
