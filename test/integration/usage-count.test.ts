// usageCount exact whenever read (docs/api.md "Rate limits and credits"), against DynamoDB Local: `admit()` counts
// requests as the pipeline does (injected clock), and `lifetimeRequests` reads the count at read
// time from the admission write's own counters. The expected figures are the requests this test
// admitted, counted by hand.
import { describe, expect, it } from 'vitest';
import { admit } from '../../shared/db/rate-limits.ts';
import { lifetimeRequests } from '../../shared/db/usage.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';

const at = (iso: string) => new Date(iso);

function subject(orgLimits: Limits, organizationId = newId('org')): RateSubject {
  return { organizationId, keyId: `key_${newId('req').slice(4)}`, orgLimits, keyLimits: null };
}

async function count(s: RateSubject, now: Date): Promise<number> {
  return (await lifetimeRequests(s.organizationId, [s.keyId], now)).get(s.keyId)!;
}

async function refused(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(ApiError);
}

describe('lifetimeRequests: usageCount at read time', () => {
  it('three admitted requests in one minute read back as 3 at once; refusals count nothing', async () => {
    const s = subject({ perMinute: 3, perDay: 1000 });
    expect(await count(s, at('2031-05-01T10:00:00.500Z'))).toBe(0);
    await admit(s, at('2031-05-01T10:00:01.000Z'));
    await admit(s, at('2031-05-01T10:00:02.000Z'));
    await admit(s, at('2031-05-01T10:00:03.000Z'));
    expect(await count(s, at('2031-05-01T10:00:03.500Z'))).toBe(3);
    await refused(admit(s, at('2031-05-01T10:00:04.000Z')));
    expect(await count(s, at('2031-05-01T10:00:05.000Z'))).toBe(3);
  });

  it('carries across days, including days with nothing and a day counted on the key item beyond the bound', async () => {
    const s = subject({ perMinute: 100, perDay: 1000 });
    const other = () => ({ ...s, keyId: `key_${newId('req').slice(4)}` });
    // Day 1: 2 requests in the organization's item.
    await admit(s, at('2031-06-01T10:00:01.000Z'), 2);
    await admit(s, at('2031-06-01T10:00:02.000Z'), 2);
    expect(await count(s, at('2031-06-01T23:59:59.000Z'))).toBe(2);
    // Day 2 nothing: read on day 3 before any request of that day.
    expect(await count(s, at('2031-06-03T08:00:00.000Z'))).toBe(2);
    // Day 3: two other keys fill the organization's item (bound 2), so this key counts on its own item: 3 requests.
    await admit(other(), at('2031-06-03T08:00:00.000Z'), 2);
    await admit(other(), at('2031-06-03T08:00:00.000Z'), 2);
    await admit(s, at('2031-06-03T08:00:01.000Z'), 2);
    await admit(s, at('2031-06-03T08:00:02.000Z'), 2);
    await admit(s, at('2031-06-03T08:00:03.000Z'), 2);
    expect(await count(s, at('2031-06-03T08:00:04.000Z'))).toBe(5);
    // Day 4: back in the organization's item, 1 request; read the same second.
    await admit(s, at('2031-06-04T09:00:00.000Z'), 2);
    expect(await count(s, at('2031-06-04T09:00:00.000Z'))).toBe(6);
    expect(await count(s, at('2031-06-20T00:00:00.000Z'))).toBe(6);
  });

  it('many keys of one organization in one read, each its own count', async () => {
    const organizationId = newId('org');
    const keys = [subject({ perMinute: 100, perDay: 1000 }, organizationId), subject({ perMinute: 100, perDay: 1000 }, organizationId)];
    await admit(keys[0]!, at('2031-07-01T10:00:01.000Z'));
    for (let i = 0; i < 4; i++) await admit(keys[1]!, at(`2031-07-01T10:00:0${i + 2}.000Z`));
    const counts = await lifetimeRequests(organizationId, [keys[0]!.keyId, keys[1]!.keyId, 'key_never_used'], at('2031-07-01T10:00:30.000Z'));
    expect(Object.fromEntries(counts)).toEqual({ [keys[0]!.keyId]: 1, [keys[1]!.keyId]: 4, key_never_used: 0 });
  });
});
