// Token limits: what organizations and keys may set, and the pure decision of a token hold
// (docs/limits.md, "Token windows").
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/domain/errors.ts';
import { parseCreateKey, parsePatchKey } from '../../shared/domain/key-rules.ts';
import { patchOrganizationBody } from '../../shared/domain/organization-rules.ts';
import { parseInput } from '../../shared/domain/validation.ts';
import { tokenLimitsOf, tokenShardLimits, tokenStep, versionedStep } from '../../shared/limits/tokens.ts';

const NOW = new Date('2031-07-08T09:10:20.000Z');
const details = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as ApiError).extra.details;
  }
  throw new Error('no error');
};

describe('validation', () => {
  it('an organization takes tokensPerMinute and tokensPerDay with its limits, positive integers', () => {
    expect(parseInput(patchOrganizationBody, { limits: { perMinute: 600, perDay: 1_000, tokensPerMinute: 50_000, tokensPerDay: 2_000_000 } })).toEqual({
      limits: { perMinute: 600, perDay: 1_000, tokensPerMinute: 50_000, tokensPerDay: 2_000_000 },
    });
    expect(details(() => parseInput(patchOrganizationBody, { limits: { perMinute: 600, perDay: 1_000, tokensPerDay: 0 } }))).toEqual([
      { field: 'limits.tokensPerDay', message: 'must be at least 1' },
    ]);
    expect(details(() => parseInput(patchOrganizationBody, { limits: { perMinute: 600, perDay: 1_000, tokensPerMinute: 1.5 } }))).toEqual([
      { field: 'limits.tokensPerMinute', message: 'must be an integer' },
    ]);
  });

  it("a key's rateLimit takes token limits alone or with request limits", () => {
    const key = parseCreateKey({ name: 'k', type: 'secret', rateLimit: { tokensPerDay: 10_000 } });
    expect(key.rateLimit).toEqual({ tokensPerDay: 10_000 });
    expect(parsePatchKey({ rateLimit: { perMinute: 5, tokensPerMinute: 900 } }, 'secret').rateLimit).toEqual({ perMinute: 5, tokensPerMinute: 900 });
    expect(parsePatchKey({ rateLimit: {} }, 'secret').rateLimit).toBeNull();
    expect(details(() => parsePatchKey({ rateLimit: { tokensPerMinute: -1 } }, 'secret'))).toEqual([{ field: 'rateLimit.tokensPerMinute', message: 'must be at least 1' }]);
    expect(details(() => parsePatchKey({ rateLimit: { tokens: 5 } }, 'secret'))?.[0]?.field).toBe('rateLimit');
  });
});

describe('tokenStep', () => {
  const limits = { perMinute: 1_000, perDay: 5_000 };

  it('takes what was asked when it fits, in the item minute', () => {
    expect(tokenStep({ tw: '2031-07-08T09:10', tm: 100, td: 200 }, NOW, limits, 300, 300)).toMatchObject({ action: 'same', amount: 300 });
  });

  it('takes what is left down to the floor, refuses below it', () => {
    expect(tokenStep({ tw: '2031-07-08T09:10', tm: 900, td: 950 }, NOW, limits, 300, 16)).toMatchObject({ action: 'same', amount: 100 });
    expect(tokenStep({ tw: '2031-07-08T09:10', tm: 990, td: 990 }, NOW, limits, 300, 16)).toMatchObject({ action: 'reject', room: 10 });
    expect(tokenStep({ tw: '2031-07-08T09:09', tm: 1_000, td: 4_950 }, NOW, limits, 300, 16)).toMatchObject({ action: 'roll', amount: 50 });
  });

  it('a new day starts fresh; a later minute another writer moved the item to is counted in, never an earlier one', () => {
    expect(tokenStep({ tw: '2031-07-07T23:59', tm: 1_000, td: 5_000 }, NOW, limits, 300, 300)).toMatchObject({ action: 'roll', amount: 300 });
    expect(tokenStep(undefined, NOW, limits, 300, 300)).toMatchObject({ action: 'fresh', amount: 300 });
    const ahead = tokenStep({ tw: '2031-07-08T09:11', tm: 900, td: 900 }, NOW, limits, 300, 300);
    expect(ahead).toMatchObject({ action: 'reject' });
    expect(ahead.minute.id).toBe('2031-07-08T09:11');
  });

  it('an absent limit is no window; the shares of token limits sum to the limits', () => {
    expect(tokenStep(undefined, NOW, { perDay: 100 }, 80, 80)).toMatchObject({ action: 'fresh', amount: 80 });
    expect(tokenLimitsOf({ orgLimits: { perMinute: 1, perDay: 2, tokensPerDay: 9 }, keyLimits: { perMinute: 3 } })).toEqual({
      org: { perMinute: undefined, perDay: 9 },
      key: { perMinute: undefined, perDay: undefined },
    });
    let sum = 0;
    for (let shard = 0; shard < 64; shard++) sum += tokenShardLimits({ perMinute: 1_000 }, shard).perMinute!;
    expect(sum).toBe(1_000);
  });
});

describe('versionedStep (an organization token item under a version of the limits)', () => {
  const version = { v: 3, highVolume: false, limits: { perMinute: 1_000, perDay: 5_000 } };
  const item = { lv: 3, hv: false, xm: 1_000, xd: 5_000, tw: '2031-07-08T09:10', tm: 100, td: 200, rm: 900, sm: 1_000, rd: 4_800 };

  it('takes from its room: the minute\'s, or a later minute\'s, and the day\'s', () => {
    expect(versionedStep(item, NOW, version, version.limits, 300, 300)).toMatchObject({ action: 'same', amount: 300 });
    expect(versionedStep({ ...item, rm: 50 }, NOW, version, version.limits, 300, 16)).toMatchObject({ action: 'same', amount: 50 });
    expect(versionedStep({ ...item, tw: '2031-07-08T09:09', rm: 0, rd: 120 }, NOW, version, version.limits, 300, 16)).toMatchObject({ action: 'roll', amount: 120 });
    // A room at or below zero (a window over a lowered limit) holds nothing.
    expect(versionedStep({ ...item, rd: -40 }, NOW, version, version.limits, 300, 16)).toMatchObject({ action: 'reject' });
  });

  it('an older or unversioned item gets this version applied first; a newer one is taken under its limits; a frozen one is waited for', () => {
    expect(versionedStep({ ...item, lv: 2 }, NOW, version, version.limits, 300, 16)).toEqual({ action: 'rebase' });
    expect(versionedStep({ tw: '2031-07-08T09:10', tm: 1, td: 1 }, NOW, version, version.limits, 300, 16)).toEqual({ action: 'rebase' });
    expect(versionedStep({ ...item, lv: 4, hv: true, xd: 100 }, NOW, version, version.limits, 300, 16)).toEqual({
      action: 'stale',
      version: { v: 4, highVolume: true, limits: { perMinute: 1_000, perDay: 100 } },
    });
    expect(versionedStep({ ...item, fz: 'v4' }, NOW, version, version.limits, 300, 16)).toEqual({ action: 'wait' });
    expect(versionedStep(undefined, NOW, version, { perMinute: 15, perDay: 78 }, 300, 10)).toMatchObject({ action: 'fresh', amount: 15 });
    expect(versionedStep(undefined, NOW, version, { perMinute: 15, perDay: 78 }, 300, 16)).toMatchObject({ action: 'reject' });
  });
});
