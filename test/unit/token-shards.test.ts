// An organization's token shards at many environments (shared/limits/tokens.ts, high-volume path)
// against the model of DynamoDB the simulation uses (bench/dynamo-model.ts): a full token minute
// costs about one failed write per refused hold, whatever the number of environments.
import { describe, expect, it } from 'vitest';
import { DynamoModel } from '../../bench/dynamo-model.ts';
import { seeded } from '../../bench/limits-sim.ts';
import type { RateSubject } from '../../shared/domain/plans.ts';
import { SHARD_COUNT } from '../../shared/limits/counters.ts';
import { holdTokens, rebaseTokens, releaseTokens, tokenShardLimits, tokenShortHint, TokenMemory, tokenVersionOf, type TokenHold } from '../../shared/limits/tokens.ts';
import { minuteWindow } from '../../shared/limits/windows.ts';

const T = new Date('2031-03-04T10:20:30.000Z');
const DAY = '2031-03-04';
const at = (ms: number) => new Date(T.getTime() + ms);
/** High-volume request limits; 64,000 tokens a minute: a share of 1,000 per shard. */
const subject: RateSubject = {
  organizationId: 'org_t',
  keyId: 'key_t',
  orgLimits: { perMinute: 20_000, perDay: 10_000_000, tokensPerMinute: 64_000, tokensPerDay: 100_000_000 },
  keyLimits: null,
};

/** The model, with every token write tallied: ok or failed. */
function newModel() {
  const model = new DynamoModel();
  model.msPerCall = 1;
  const writes = { ok: 0, failed: 0, marks: 0, reads: 0 };
  const read = model.readTokenShards?.bind(model);
  if (read) {
    model.readTokenShards = async (...args) => {
      writes.reads += 1;
      return read(...args);
    };
  }
  const take = model.takeTokens.bind(model);
  model.takeTokens = async (...args) => {
    const result = await take(...args);
    writes[result.ok ? 'ok' : 'failed'] += 1;
    return result;
  };
  const mark = model.markShort?.bind(model);
  if (mark) {
    model.markShort = async (...args) => {
      writes.marks += 1;
      return mark(...args);
    };
  }
  return { model, writes };
}

function minuteCount(model: DynamoModel): number {
  let sum = 0;
  for (let shard = 0; shard < SHARD_COUNT; shard++) sum += Number(model.items.get(DynamoModel.tokenKey({ organizationId: 'org_t', shard }, DAY))?.tm ?? 0);
  return sum;
}

/** A `random` for releaseTokens that gives a hold's tokens back to the shard it took them from (a layout the test sets up). */
const toOwnShard = (hold: TokenHold) => () => (((hold.parts[0]?.target as { shard: number }).shard) + 0.5) / SHARD_COUNT;

/** Fill the minute: 64 holds of 1,000 from one environment, each filling one shard. */
async function fill(model: DynamoModel): Promise<TokenHold[]> {
  const memory = new TokenMemory();
  const random = seeded(3);
  const holds: TokenHold[] = [];
  for (let i = 0; i < SHARD_COUNT; i++) {
    const take = await holdTokens(model, subject, 1_000, at(i), { atLeast: 1_000, random, memory });
    if (!take.ok) throw new Error(`refused early, hold ${i}`);
    holds.push(take.hold);
  }
  expect(minuteCount(model)).toBe(64_000);
  return holds;
}

describe('token shards at many environments', () => {
  it('a full minute costs about one failed write per refused hold, not one per shard and environment', async () => {
    const { model, writes } = await (async () => {
      const m = newModel();
      await fill(m.model);
      return m;
    })();
    writes.ok = writes.failed = 0;
    const random = seeded(7);
    const environments = Array.from({ length: 40 }, () => new TokenMemory());
    let refused = 0;
    // Each of 40 environments holds three times, 300 ms apart, all within the full minute.
    for (let round = 0; round < 3; round++) {
      for (const [i, memory] of environments.entries()) {
        const take = await holdTokens(model, subject, 900, at(1_000 + round * 300 + i), { atLeast: 400, random, memory });
        expect(take.ok).toBe(false);
        refused += 1;
      }
    }
    expect(refused).toBe(120);
    expect(writes.ok).toBe(0);
    // One environment tries every shard (and reads them all, then marks them); the others fail once each at most.
    expect(writes.failed).toBeLessThanOrEqual(refused + SHARD_COUNT);
    expect(writes.marks).toBeLessThanOrEqual(2 * SHARD_COUNT);
    expect(minuteCount(model)).toBe(64_000);
  });

  it('clocks that differ by up to 3 s: the environments trust the marks of clocks ahead of theirs, so few read the shards', async () => {
    const { model, writes } = newModel();
    await fill(model);
    writes.ok = writes.failed = writes.marks = writes.reads = 0;
    const random = seeded(21);
    const environments = Array.from({ length: 40 }, (_, i) => ({ memory: new TokenMemory(), skew: Math.round(((i * 37) % 40) / 39 * 3_000 - 1_500) }));
    let refused = 0;
    // Every 50 ms for 3 s (within the full minute), one environment in turn holds.
    for (let step = 0; step < 60; step++) {
      const env = environments[step % 40] as (typeof environments)[number];
      const take = await holdTokens(model, subject, 900, at(2_000 + step * 50 + env.skew), { atLeast: 400, random, memory: env.memory });
      expect(take.ok).toBe(false);
      refused += 1;
    }
    expect(writes.failed).toBeLessThanOrEqual(refused + SHARD_COUNT);
    expect(writes.reads).toBeLessThanOrEqual(8);
    expect(writes.marks).toBeLessThanOrEqual(8 * SHARD_COUNT);
  });

  it('tokens given back are taken again once the mark is a second old, and never past the limit', async () => {
    const { model } = newModel();
    const holds = await fill(model);
    const memory = new TokenMemory();
    const random = seeded(11);
    expect((await holdTokens(model, subject, 900, at(1_000), { atLeast: 400, random, memory })).ok).toBe(false);
    // Two replies give back 600 each; within the mark's second a hold may be refused, then it is admitted.
    await releaseTokens(model, holds[5] as TokenHold, 600);
    await releaseTokens(model, holds[40] as TokenHold, 600);
    const later = await holdTokens(model, subject, 900, at(2_100), { atLeast: 400, random, memory });
    expect(later).toMatchObject({ ok: true, hold: { tokens: 600 } });
    const other = await holdTokens(model, subject, 900, at(2_200), { atLeast: 400, random, memory: new TokenMemory() });
    expect(other).toMatchObject({ ok: true, hold: { tokens: 600 } });
    expect(minuteCount(model)).toBe(64_000);
    expect((await holdTokens(model, subject, 900, at(2_300), { atLeast: 400, random, memory })).ok).toBe(false);
  });

  it('tokens given back spread over the shards, not back to the shard the holds took them from (whose room would draw every next hold)', async () => {
    const { model } = newModel();
    const memory = new TokenMemory();
    const random = seeded(5);
    // 640 holds of 100 fill the minute: 10 on each shard.
    const holds: TokenHold[] = [];
    for (let i = 0; i < 640; i++) {
      const take = await holdTokens(model, subject, 100, at(i), { atLeast: 100, random, memory });
      if (!take.ok) throw new Error(`refused early, hold ${i}`);
      holds.push(take.hold);
    }
    const shardOf = (hold: TokenHold) => (hold.parts[0]?.target as { shard: number }).shard;
    // The 10 replies that took from shard 7 end, each using nothing.
    for (const hold of holds.filter((h) => shardOf(h) === 7)) await releaseTokens(model, hold, 100, random);
    const rooms = Array.from({ length: SHARD_COUNT }, (_, shard) => Number(model.items.get(DynamoModel.tokenKey({ organizationId: 'org_t', shard }, DAY))?.rm ?? 0));
    expect(rooms.reduce((a, b) => a + b, 0)).toBe(1_000);
    expect(minuteCount(model)).toBe(63_000);
    // At most a few returns on one shard (all ten on shard 7 before).
    expect(Math.max(...rooms)).toBeLessThanOrEqual(300);
    expect(rooms.filter((room) => room > 0).length).toBeGreaterThanOrEqual(6);
  });

  it('environments whose reads found the same few shards with room do not all write those first next time (they may be full by then)', async () => {
    const { model } = newModel();
    // 6,400,000 tokens a minute: 100,000 a shard. Shards 4-63 full, 0-3 empty.
    const big: RateSubject = { ...subject, orgLimits: { ...subject.orgLimits, tokensPerMinute: 6_400_000 } };
    const version = tokenVersionOf(big);
    const fillShard = (shard: number, tokens: number, ms: number) => model.takeTokens({ organizationId: 'org_t', shard }, 'fresh', minuteWindow(at(ms)), DAY, tokenShardLimits(version.limits, shard), tokens, version);
    for (let shard = 4; shard < SHARD_COUNT; shard++) expect((await fillShard(shard, 100_000, 0)).ok).toBe(true);
    // 40 environments each hold once: their first writes mostly fail, their reads find shards 0-3 with room.
    const memories = Array.from({ length: 40 }, () => new TokenMemory());
    const random = seeded(19);
    for (const memory of memories) expect((await holdTokens(model, big, 400, at(100), { atLeast: 400, random, memory })).ok).toBe(true);
    // Then shards 0-3 fill, and shards 10-13 get tokens back.
    for (let shard = 0; shard < 4; shard++) {
      const left = Number(model.items.get(DynamoModel.tokenKey({ organizationId: 'org_t', shard }, DAY))?.rm);
      expect((await model.takeTokens({ organizationId: 'org_t', shard }, 'same', minuteWindow(at(200)), DAY, tokenShardLimits(version.limits, shard), left, version)).ok).toBe(true);
    }
    for (let shard = 10; shard < 14; shard++) expect((await model.returnToShard({ organizationId: 'org_t', shard }, minuteWindow(at(200)).id, DAY, 50_000)).ok).toBe(true);
    // Each holds again: its first write goes to any shard, not to the four its read found with room.
    const failedOn = new Map<number, number>();
    const take = model.takeTokens.bind(model);
    model.takeTokens = async (...args) => {
      const result = await take(...args);
      const shard = (args[0] as { shard?: number }).shard;
      if (!result.ok && shard !== undefined) failedOn.set(shard, (failedOn.get(shard) ?? 0) + 1);
      return result;
    };
    for (const memory of memories) expect((await holdTokens(model, big, 400, at(300), { atLeast: 400, random, memory })).ok).toBe(true);
    const onFormerlyOpen = [0, 1, 2, 3].reduce((sum, shard) => sum + (failedOn.get(shard) ?? 0), 0);
    expect(onFormerlyOpen).toBeLessThanOrEqual(8);
  });

  it('a hold whose read finds a shard marked within the last second is refused by that mark, not written where tokens came back since', async () => {
    const { model, writes } = newModel();
    const holds = await fill(model);
    const shardOf = (hold: TokenHold) => (hold.parts[0]?.target as { shard: number }).shard;
    const version = tokenVersionOf(subject);
    // Shard 1 carries a mark left now (most room anywhere: 0); shard 2 then gets 900 back; shard 0 is full.
    expect(await model.markShort({ organizationId: 'org_t', shard: 1 }, DAY, { tf: tokenShortHint(minuteWindow(at(1_000)).id, version), tfa: at(1_000).getTime(), tfr: 0 })).toBe(true);
    const onTwo = holds.find((hold) => shardOf(hold) === 2) as TokenHold;
    await releaseTokens(model, onTwo, 900, toOwnShard(onTwo));
    writes.ok = writes.failed = writes.reads = 0;
    // Its first write goes to shard 0 (no swap in its shuffle), fails without a mark there, and it reads.
    const take = await holdTokens(model, subject, 900, at(1_100), { atLeast: 400, random: () => 0.999, memory: new TokenMemory() });
    expect(take.ok).toBe(false);
    expect(writes).toMatchObject({ ok: 0, failed: 1, reads: 1 });
  });

  it('after a limit change, requests whose key still carries the older limits cost one failed write per environment, not one each', async () => {
    const { model, writes } = newModel();
    const memory = new TokenMemory();
    const random = seeded(29);
    for (let i = 0; i < 10; i++) expect((await holdTokens(model, subject, 100, at(i), { atLeast: 100, random, memory })).ok).toBe(true);
    // The organization's token limits change (version 1); its keys' copies still say version 0.
    await rebaseTokens(model, 'org_t', { ...tokenVersionOf(subject), v: 1 }, at(100));
    writes.ok = writes.failed = 0;
    for (let i = 0; i < 10; i++) expect((await holdTokens(model, subject, 100, at(200 + i), { atLeast: 100, random, memory })).ok).toBe(true);
    expect(writes).toMatchObject({ ok: 10, failed: 1 });
  });

  it('a hold tries the shards its read found with room in an order weighted by their room, not the roomiest first', async () => {
    // Shard A has 900 back, shard B 300; a hold needing 250 whose first write failed reads and tries one.
    let readers = 0;
    let aFirst = 0;
    for (let trial = 0; trial < 120; trial++) {
      const { model } = newModel();
      const holds = await fill(model);
      const [a, b] = [holds[0] as TokenHold, holds[1] as TokenHold];
      await releaseTokens(model, a, 900, toOwnShard(a));
      await releaseTokens(model, b, 300, toOwnShard(b));
      let read = false;
      let firstAfterRead: number | undefined;
      const take = model.takeTokens.bind(model);
      model.takeTokens = async (...args) => {
        if (read && firstAfterRead === undefined) firstAfterRead = (args[0] as { shard: number }).shard;
        return take(...args);
      };
      const readShards = model.readTokenShards.bind(model);
      model.readTokenShards = async (...args) => {
        read = true;
        return readShards(...args);
      };
      expect((await holdTokens(model, subject, 900, at(1_000), { atLeast: 250, random: seeded(100 + trial), memory: new TokenMemory() })).ok).toBe(true);
      if (!read) continue;
      readers += 1;
      if (firstAfterRead === (a.parts[0]?.target as { shard: number }).shard) aFirst += 1;
    }
    // About 900 / 1,200 of them try A first (half of them, in any order); never all of them.
    expect(readers).toBeGreaterThan(100);
    expect(aFirst / readers).toBeGreaterThan(0.65);
    expect(aFirst / readers).toBeLessThan(0.9);
  });

  it('a mark says nothing to a hold that fits in what the shards had left', async () => {
    const { model } = newModel();
    const holds = await fill(model);
    await releaseTokens(model, holds[9] as TokenHold, 300);
    const memory = new TokenMemory();
    const random = seeded(13);
    // Needs 400: every shard short, marked (most left: 300).
    expect((await holdTokens(model, subject, 900, at(1_000), { atLeast: 400, random, memory })).ok).toBe(false);
    // Needs 200: the 300 left fit, from another environment too.
    expect(await holdTokens(model, subject, 900, at(1_100), { atLeast: 200, random, memory: new TokenMemory() })).toMatchObject({ ok: true, hold: { tokens: 300 } });
    expect(minuteCount(model)).toBe(64_000);
  });

  it('the last room of a minute raced by many holds at once: all of it is taken, each refused hold fails about one take and leaves a few marks, not 64', async () => {
    const { model, writes } = newModel();
    const holds = await fill(model);
    // Each shard gets room for one hold back: 900 returned on each.
    for (const hold of holds) await releaseTokens(model, hold, 900);
    writes.ok = writes.failed = writes.marks = writes.reads = 0;
    const random = seeded(23);
    // 40 environments hold 8 times each, all at once: 320 holds race for 64 holds' room.
    const takes = await Promise.all(
      Array.from({ length: 40 }, () => new TokenMemory()).flatMap((memory, env) =>
        Array.from({ length: 8 }, (_, i) => holdTokens(model, subject, 900, at(1_000 + env * 3 + i), { atLeast: 400, random, memory })),
      ),
    );
    const held = takes.filter((t) => t.ok).length;
    expect(held).toBe(SHARD_COUNT);
    expect(minuteCount(model)).toBe(64_000);
    const refused = takes.length - held;
    expect(writes.failed).toBeLessThanOrEqual(2 * refused);
    // They all read before any mark was left: each marks a few shards, and stops at a newer mark.
    expect(writes.marks).toBeLessThanOrEqual(16 * refused);
  });

  it('holds going through the shards their read found with room stop at the first mark another hold left since', async () => {
    const { model, writes } = newModel();
    const holds = await fill(model);
    // 16 shards get room for one hold back; the other 48 stay full.
    for (const hold of holds.slice(0, 16)) await releaseTokens(model, hold, 900, toOwnShard(hold));
    // Two holds read the shards (16 with room), and their answers are held back a while.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const read = model.readTokenShards.bind(model);
    let reads = 0;
    model.readTokenShards = async (...args) => {
      const states = await read(...args);
      if (++reads <= 2) await gate;
      return states;
    };
    writes.ok = writes.failed = 0;
    const racing = [31, 37].map((seed) => holdTokens(model, subject, 900, at(1_000), { atLeast: 400, random: seeded(seed), memory: new TokenMemory() }));
    while (reads < 2) await new Promise((resolve) => setImmediate(resolve));
    // Their first writes fell on full shards (that is why they read).
    expect(writes).toMatchObject({ ok: 0, failed: 2 });
    // Meanwhile other holds take the 16, and one more finds every shard short and marks them.
    const memory = new TokenMemory();
    for (let i = 0; i < 16; i++) expect((await holdTokens(model, subject, 900, at(1_100 + i), { atLeast: 400, random: seeded(41 + i), memory })).ok).toBe(true);
    expect((await holdTokens(model, subject, 900, at(1_200), { atLeast: 400, random: seeded(59), memory: new TokenMemory() })).ok).toBe(false);
    writes.failed = 0;
    open();
    // Each fails on one of the 16 it read with room, finds the mark there and is refused (not 16 failed writes each).
    for (const take of await Promise.all(racing)) expect(take.ok).toBe(false);
    expect(writes.failed).toBe(2);
    expect(minuteCount(model)).toBe(64_000);
  });

  it('a shard write whose answer is lost goes on to another shard instead of failing: what it counted stays counted, never over', async () => {
    const { model } = newModel();
    const take = model.takeTokens.bind(model);
    let lost = 0;
    model.takeTokens = async (...args) => {
      const result = await take(...args);
      // The first two writes are applied, but their answers never arrive (unconfirmed).
      if (lost < 2) {
        lost += 1;
        throw Object.assign(new Error('lost'), { name: 'TimeoutError' });
      }
      return result;
    };
    const hold = await holdTokens(model, subject, 900, at(0), { atLeast: 400, random: seeded(17), memory: new TokenMemory() });
    expect(hold).toMatchObject({ ok: true, hold: { tokens: 900 } });
    // 900 held, and up to 900 more counted by the lost write that was applied (not given back; the window may refuse them early).
    expect(minuteCount(model)).toBeGreaterThanOrEqual(900);
    expect(minuteCount(model)).toBeLessThanOrEqual(3 * 900);
  });
});
