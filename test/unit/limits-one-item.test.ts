// The one-item path's decisions (shared/limits/one-item.ts) against the model of DynamoDB the
// simulation uses (bench/dynamo-model.ts): what an environment remembers of a full day item.
import { describe, expect, it } from 'vitest';
import { DynamoModel } from '../../bench/dynamo-model.ts';
import { MAX_KEYS_PER_ORG_DAY } from '../../shared/db/usage.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';
import { rateLimitHeaders } from '../../shared/limits/headers.ts';
import { admitOneItem } from '../../shared/limits/one-item.ts';
import { LimiterMemory } from '../../shared/limits/sharded.ts';

const ORG = 'org_one';
const at = (iso: string) => new Date(iso);

function subject(orgLimits: Limits, keyId: string, orgLimitsVersion = 1): RateSubject {
  return { organizationId: ORG, keyId, orgLimits, keyLimits: null, orgLimitsVersion };
}

/** The model, with every failed counter write on the organization's day item tallied. */
function newModel() {
  const model = new DynamoModel();
  model.msPerCall = 1;
  const tally = { failedDayItemWrites: 0 };
  const count = model.count.bind(model);
  model.count = async (...args) => {
    const result = await count(...args);
    if (!result.ok && 'organizationId' in args[0] && args[0].shard === undefined) tally.failedDayItemWrites += 1;
    return result;
  };
  return { model, tally };
}

describe('a full day item, remembered', () => {
  it('the rest of a full day is refused without a write: one failed write per environment, not per request', async () => {
    const { model, tally } = newModel();
    const limits = { perMinute: 1_000, perDay: 30 };
    const memory = new LimiterMemory();
    for (let i = 0; i < 30; i++) expect((await admitOneItem(model, memory, subject(limits, `key_${i % 5}`), at('2031-03-04T10:20:00.000Z'), 100)).admitted).toBe(true);
    tally.failedDayItemWrites = 0;
    for (let i = 0; i < 50; i++) {
      const refused = await admitOneItem(model, memory, subject(limits, `key_${i % 7}`), at(`2031-03-04T10:2${1 + (i % 8)}:00.000Z`), 100);
      expect(refused.admitted).toBe(false);
      expect(rateLimitHeaders(refused.windows)).toMatchObject({ 'X-RateLimit-Limit': '30', 'X-RateLimit-Remaining': '0' });
    }
    expect(tally.failedDayItemWrites).toBe(1);
    // A raised limit (a newer version) is room again at once, and the next day starts afresh.
    expect((await admitOneItem(model, memory, subject({ perMinute: 1_000, perDay: 40 }, 'key_0', 2), at('2031-03-04T10:30:00.000Z'), 100)).admitted).toBe(true);
    expect((await admitOneItem(model, memory, subject(limits, 'key_0'), at('2031-03-05T00:00:01.000Z'), 100)).admitted).toBe(true);
  });

  it('a full minute is refused without a write until it ends; the next minute counts again', async () => {
    const { model, tally } = newModel();
    const limits = { perMinute: 10, perDay: 1_000 };
    const memory = new LimiterMemory();
    for (let i = 0; i < 10; i++) expect((await admitOneItem(model, memory, subject(limits, 'key_a'), at('2031-03-04T10:20:01.000Z'), 100)).admitted).toBe(true);
    tally.failedDayItemWrites = 0;
    for (let i = 0; i < 20; i++) expect((await admitOneItem(model, memory, subject(limits, `key_${i}`), at(`2031-03-04T10:20:${String(10 + i * 2)}.000Z`), 100)).admitted).toBe(false);
    expect(tally.failedDayItemWrites).toBe(1);
    expect((await admitOneItem(model, memory, subject(limits, 'key_a'), at('2031-03-04T10:21:00.000Z'), 100)).admitted).toBe(true);
  });

  it("a key's own limit used up is not the organization's: another key is still admitted", async () => {
    const { model } = newModel();
    const memory = new LimiterMemory();
    const limited: RateSubject = { ...subject({ perMinute: 1_000, perDay: 1_000 }, 'key_small'), keyLimits: { perMinute: 2 } };
    for (let i = 0; i < 2; i++) expect((await admitOneItem(model, memory, limited, at('2031-03-04T10:20:01.000Z'), 100)).admitted).toBe(true);
    expect((await admitOneItem(model, memory, limited, at('2031-03-04T10:20:02.000Z'), 100)).admitted).toBe(false);
    expect((await admitOneItem(model, memory, subject({ perMinute: 1_000, perDay: 1_000 }, 'key_other'), at('2031-03-04T10:20:03.000Z'), 100)).admitted).toBe(true);
  });

  it('an item frozen by a limit change is read, not written, until the change is applied', async () => {
    const { model, tally } = newModel();
    const limits = { perMinute: 1_000, perDay: 1_000 };
    const memory = new LimiterMemory();
    expect((await admitOneItem(model, memory, subject(limits, 'key_a'), at('2031-03-04T10:20:01.000Z'), 100)).admitted).toBe(true);
    const raised = { perMinute: 2_000, perDay: 2_000 };
    await model.freeze({ organizationId: ORG }, '2031-03-04', { v: 2, limits: raised }, 'change');
    tally.failedDayItemWrites = 0;
    let reads = 0;
    const peek = model.peek.bind(model);
    model.peek = async (...args) => {
      reads += 1;
      return peek(...args);
    };
    // Whoever applies the change assigns the item 200 ms later.
    setTimeout(() => void model.assign({ organizationId: ORG }, '2031-03-04', 'change', { mw: '2031-03-04T10:20', mc: 1, am: 2_000, sm: 2_000, ad: 2_000 }), 200);
    expect((await admitOneItem(model, memory, subject(raised, 'key_b', 2), at('2031-03-04T10:20:02.000Z'), 100)).admitted).toBe(true);
    expect(tally.failedDayItemWrites).toBe(1);
    expect(reads).toBeGreaterThanOrEqual(3);
  });
});

describe('the day item stays under 1 KB, whatever the number of keys', () => {
  /** The model, billing each write to the items it writes (as DynamoDB: the larger of the item before and after, 1 WCU per KB started; a failed write, the item's size). */
  function billedModel() {
    const model = new DynamoModel();
    model.msPerCall = 1;
    const writes = new Map<string, number[]>();
    model.meter = {
      admitWrite: () => {},
      wrote: (keys, cost) => keys.forEach((key, i) => writes.set(key, [...(writes.get(key) ?? []), cost[i] as number])),
      read: () => {},
    };
    return { model, writes };
  }
  /** Key ids as issued (28 characters). */
  const keyId = (i: number) => `key_${String(i).padStart(24, '0')}`;

  it('200 keys, every request from another environment, refusals and credits counted: every write on the day item 1 WCU', async () => {
    const { model, writes } = billedModel();
    const limits = { perMinute: 400, perDay: 100_000 };
    const day = DynamoModel.orgDayKey(ORG, '2031-03-04');
    for (let i = 0; i < 500; i++) {
      const now = new Date(Date.parse('2031-03-04T10:20:00.000Z') + i * 100);
      const s = subject(limits, keyId(i % 200));
      // A fresh environment each time (at thousands of environments, each knows next to nothing).
      const decided = await admitOneItem(model, new LimiterMemory(), s, now, MAX_KEYS_PER_ORG_DAY);
      expect(decided.admitted).toBe(i < 400);
      // As admit and a reply's settle do: the refusal, or a credit.
      model.addKeyUsageToday(ORG, s.keyId, '2031-03-04', decided.admitted ? 'credits' : 'rateLimited', 1);
    }
    expect(model.items.get(day)).toMatchObject({ requests: 400, rateLimited: 100, credits: 400 });
    expect(Object.keys(model.items.get(day)?.kr as object)).toHaveLength(MAX_KEYS_PER_ORG_DAY);
    const billed = writes.get(day) ?? [];
    expect(Math.max(...billed)).toBe(1);
    // Each request: its count (a key beyond the bound: one failed write before, where its environment does not know it yet), and its refusal or credit.
    expect(billed.length).toBeLessThanOrEqual(3 * 500 + 1);
    // Each key's usage: in the day item, or on its own.
    for (const i of [0, 57, 199]) expect((await dailyFigures(model, keyId(i))).requests).toBe(2);
  });
});

describe('keys beyond the bound', () => {
  it("an environment that saw the day item full of keys counts any other key on its own item without the write that would fail", async () => {
    const { model, tally } = newModel();
    const memory = new LimiterMemory();
    const limits = { perMinute: 1_000, perDay: 10_000 };
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 30; i++) expect((await admitOneItem(model, memory, subject(limits, `key_${i}`), at(`2031-03-04T10:2${round}:${String(10 + i).padStart(2, '0')}.000Z`), 12)).admitted).toBe(true);
    }
    // The day's first write (guessed in a started minute) and the 13th key's: then it knows.
    expect(tally.failedDayItemWrites).toBe(2);
    expect(model.items.get(DynamoModel.orgDayKey(ORG, '2031-03-04'))).toMatchObject({ requests: 60 });
    expect(model.items.get(DynamoModel.keyDayKey('key_29', '2031-03-04'))).toMatchObject({ requests: 2 });
    expect((model.items.get(DynamoModel.orgDayKey(ORG, '2031-03-04'))?.kr as Record<string, number>).key_11).toBe(2);
    // The next day starts afresh.
    expect((await admitOneItem(model, memory, subject(limits, 'key_29'), at('2031-03-05T00:00:01.000Z'), 12)).keyItem).toBe('org');
  });
});

/** A key's requests that day as the usage routes add them up: its entry in the organization's day item plus its own day item. */
async function dailyFigures(model: DynamoModel, key: string) {
  const org = model.items.get(DynamoModel.orgDayKey(ORG, '2031-03-04'));
  const own = model.items.get(DynamoModel.keyDayKey(key, '2031-03-04'));
  return { requests: Number((org?.kr as Record<string, number> | undefined)?.[key] ?? 0) + Number(own?.requests ?? 0) };
}
