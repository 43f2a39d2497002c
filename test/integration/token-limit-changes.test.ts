// Token windows when limits change mid-window, against DynamoDB Local: the organization's token
// items (its token item and its 64 token shards) count under a version of its limits, and a change
// is applied to what they counted (docs/limits.md "Token windows"), so no token window counts past
// the limit in force: a lowered limit under concurrent holds on the high-volume path, a limit
// lowered below what was counted, and an organization crossing the high-volume threshold mid-day.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { db } from '../../shared/db/client.ts';
import { applyOrgTokenLimits, returnTokens, takeTokens, tokenPartition } from '../../shared/db/token-windows.ts';
import type { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import { tokenVersionOf, type TokenHold } from '../../shared/limits/tokens.ts';
import { tableName } from '../../shared/tables.ts';
import { widenDbPools } from '../support/db-pool.ts';
import { asFunction } from '../support/grants.ts';
import { applyOrgLimits } from '../../shared/db/rate-limits.ts';

const T = new Date('2031-08-09T10:20:30.000Z');
const DAY = '2031-08-09';

beforeAll(() => widenDbPools());

const copy = (organizationId: string, orgLimits: Limits, orgLimitsVersion: number): RateSubject => ({
  organizationId, keyId: `key_${newId('req').slice(4)}`, orgLimits, orgLimitsVersion, keyLimits: null,
});

/** What the organization's token day window counts: its token item plus its 64 token shards. */
async function dayCount(organizationId: string): Promise<number> {
  const targets = [{ organizationId }, ...Array.from({ length: 64 }, (_, shard) => ({ organizationId, shard }))];
  const counts = await Promise.all(targets.map(async (target) => {
    const { Item } = await db.send(new GetCommand({ TableName: tableName('usage'), Key: { pk: tokenPartition(target), sk: DAY }, ConsistentRead: true }));
    return Number(Item?.td ?? 0);
  }));
  return counts.reduce((a, b) => a + b, 0);
}

/** `n` concurrent holds of `want` tokens (at least `atLeast`), each with one of `subjects`: what they held. */
async function holds(subjects: RateSubject[], n: number, want: number, atLeast: number) {
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => takeTokens(subjects[i % subjects.length] as RateSubject, want, { now: T, atLeast })));
  for (const r of results) if (r.status === 'rejected') expect((r.reason as ApiError).code, String(r.reason)).toBe('RATE_LIMIT_EXCEEDED');
  const held = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  return { held, tokens: held.reduce((sum, h) => sum + h.tokens, 0) };
}

const apply = (organizationId: string, limits: Limits, v: number) => applyOrgTokenLimits(organizationId, tokenVersionOf({ orgLimits: limits, orgLimitsVersion: v }), T);

describe('a token limit changed mid-day applies to what its window counted', () => {
  const HIGH = { perMinute: 15_000, perDay: 100_000_000 };

  it('high-volume path: tokensPerDay lowered while holds run, with old and new copies: never past the new limit, and filled', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const before = { ...HIGH, tokensPerDay: 64_000 };
    const after = { ...HIGH, tokensPerDay: 31_000 };
    expect((await holds([copy(org, before, 1)], 50, 600, 600)).tokens).toBe(30_000);
    // The change is applied while 50 holds with the new copy run.
    const [, during] = await Promise.all([apply(org, after, 2), holds([copy(org, after, 2)], 50, 600, 16)]);
    // Then keys still holding the older copy are held to the newer limit too.
    const stale = await holds([copy(org, before, 1), copy(org, after, 2)], 60, 600, 16);
    const counted = await dayCount(org);
    expect(counted).toBe(30_000 + during.tokens + stale.tokens);
    expect(counted).toBeLessThanOrEqual(31_000);
    // Up to 15 tokens per shard can be left in pieces smaller than a hold's floor.
    expect(counted).toBeGreaterThan(31_000 - 64 * 16);
  });

  it('lowered below what the window counted: nothing more is held that day, even as tokens come back', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const before = { ...HIGH, tokensPerDay: 64_000 };
    const after = { ...HIGH, tokensPerDay: 20_000 };
    const first = await holds([copy(org, before, 1)], 50, 600, 600);
    expect(first.tokens).toBe(30_000);
    await apply(org, after, 2);
    expect((await holds([copy(org, before, 1), copy(org, after, 2)], 50, 600, 16)).tokens).toBe(0);
    // 10 holds give back 500 each: the window counts 25,000, still over 20,000.
    await Promise.all(first.held.slice(0, 10).map((h: TokenHold) => returnTokens(h, 500)));
    expect(await dayCount(org)).toBe(25_000);
    expect((await holds([copy(org, after, 2)], 50, 600, 16)).tokens).toBe(0);
    expect(await dayCount(org)).toBe(25_000);
  });

  it('crossing the high-volume threshold mid-day and back keeps the day window\'s count', { timeout: 120_000 }, async () => {
    const org = newId('org');
    const oneItem = { perMinute: 1_000, perDay: 100_000, tokensPerDay: 10_000 };
    const high = { ...HIGH, tokensPerDay: 10_000 };
    expect((await holds([copy(org, oneItem, 1)], 20, 400, 400)).tokens).toBe(8_000);
    // Onto the high-volume path: requests with the new copy find the day counted under older limits and apply the new ones.
    await holds([copy(org, high, 2)], 50, 400, 16);
    const onShards = await dayCount(org);
    expect(onShards).toBeLessThanOrEqual(10_000);
    expect(onShards).toBeGreaterThan(10_000 - 64 * 16);
    // And back (this time the change applies it first, as the PATCH does), with old copies still about.
    await apply(org, { ...oneItem }, 3);
    await holds([copy(org, high, 2), copy(org, oneItem, 3)], 50, 400, 16);
    expect(await dayCount(org)).toBeLessThanOrEqual(10_000);
  });

  it('the limit change runs with the management function\'s grants (it writes the counters before the copies)', { timeout: 60_000 }, async () => {
    const org = newId('org');
    const before = { perMinute: 1_000, perDay: 100_000, tokensPerDay: 10_000 };
    const after = { perMinute: 1_000, perDay: 100_000, tokensPerDay: 5_000 };
    expect((await holds([copy(org, before, 1)], 10, 400, 400)).tokens).toBe(4_000);
    await asFunction('management', async () => {
      await applyOrgLimits(org, { v: 2, limits: after }, T);
      await apply(org, after, 2);
    });
    expect((await holds([copy(org, before, 1)], 10, 400, 16)).tokens).toBe(1_000);
  });
});
