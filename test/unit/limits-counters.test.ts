// Reading the organization's day counter item: every window's count, and which conditional write
// comes next (or that the request is over a limit).
import { describe, expect, it } from 'vitest';
import { firstGuess, firstGuessOnBusyItem, nextStep, windowCounts, type OrgDayCounters } from '../../shared/limits/counters.ts';
import { appliedLimits } from '../../shared/limits/headers.ts';
import { dayWindow, minuteWindow } from '../../shared/limits/windows.ts';

const NOW = new Date('2031-03-04T10:20:30.000Z');
const minute = minuteWindow(NOW);
const day = dayWindow(NOW);
const free = appliedLimits({ perMinute: 10, perDay: 1000 }, null);
const strictKey = appliedLimits({ perMinute: 10, perDay: 1000 }, { perMinute: 2, perDay: 5 });

const item = (overrides: OrgDayCounters): OrgDayCounters => ({ mw: '2031-03-04T10:20', mc: 3, requests: 40, km: {}, kr: {}, ...overrides });

describe('windowCounts', () => {
  it('org minute and day; key windows only where the key has a limit', () => {
    expect(windowCounts(item({}), minute, day, free, 'key_a').map((c) => [c.scope, c.window.period, c.limit, c.used])).toEqual([
      ['org', 'minute', 10, 3],
      ['org', 'day', 1000, 40],
    ]);
    const counts = windowCounts(item({ km: { key_a: 1 }, kr: { key_a: 4, key_b: 9 } }), minute, day, strictKey, 'key_a');
    expect(counts.map((c) => [c.scope, c.window.period, c.limit, c.used])).toEqual([
      ['org', 'minute', 10, 3],
      ['org', 'day', 1000, 40],
      ['key', 'minute', 2, 1],
      ['key', 'day', 5, 4],
    ]);
  });

  it('counts of an earlier minute are not this minute', () => {
    const counts = windowCounts(item({ mw: '2031-03-04T10:19', km: { key_a: 2 } }), minute, day, strictKey, 'key_a');
    expect(counts.filter((c) => c.window.period === 'minute').map((c) => c.used)).toEqual([0, 0]);
  });

  it('no item: everything at zero', () => {
    expect(windowCounts(undefined, minute, day, strictKey, 'key_a').every((c) => c.used === 0)).toBe(true);
  });
});

describe('nextStep after a failed conditional write', () => {
  it('no item, or an item without a window (credits counted first): create the counters', () => {
    expect(nextStep(undefined, NOW, free, 'key_a')).toEqual({ action: 'fresh', minute });
    expect(nextStep({ requests: undefined }, NOW, free, 'key_a')).toEqual({ action: 'fresh', minute });
  });

  it('an earlier minute of the day: roll', () => {
    expect(nextStep(item({ mw: '2031-03-04T10:19', mc: 10 }), NOW, free, 'key_a')).toEqual({ action: 'roll', minute });
  });

  it('this minute with room everywhere: count in it (the guess was wrong)', () => {
    expect(nextStep(item({}), NOW, free, 'key_a')).toEqual({ action: 'same', minute });
  });

  it.each<[string, OrgDayCounters, typeof free]>([
    ['org minute full', item({ mc: 10 }), free],
    ['org day full', item({ requests: 1000 }), free],
    ['org day full in a new minute', item({ mw: '2031-03-04T10:19', requests: 1000 }), free],
    ['key minute full', item({ km: { key_a: 2 } }), strictKey],
    ['key day full', item({ kr: { key_a: 5 } }), strictKey],
    ['key day full in a new minute', item({ mw: '2031-03-04T10:19', kr: { key_a: 5 } }), strictKey],
  ])('%s: reject', (_, state, limits) => {
    const step = nextStep(state, NOW, limits, 'key_a');
    expect(step.action).toBe('reject');
  });

  it("another key's full limit does not reject this key", () => {
    expect(nextStep(item({ km: { key_b: 2 }, kr: { key_b: 5 } }), NOW, strictKey, 'key_a').action).toBe('same');
  });

  it('with maxKeys: a key the item has no room for overflows; a key it has, or a refusal, does not', () => {
    const full = item({ kr: { key_b: 1, key_c: 4 } });
    expect(nextStep(full, NOW, free, 'key_a', 2)).toEqual({ action: 'overflow' });
    expect(nextStep(full, NOW, free, 'key_b', 2)).toEqual({ action: 'same', minute });
    expect(nextStep(full, NOW, free, 'key_a', 3)).toEqual({ action: 'same', minute });
    expect(nextStep(item({ kr: { key_b: 1, key_c: 4 }, mc: 10 }), NOW, free, 'key_a', 2).action).toBe('reject');
    expect(nextStep(full, NOW, free, 'key_a')).toEqual({ action: 'same', minute });
    // The first request of the day creates the item's maps: no overflow possible.
    expect(nextStep({ requests: undefined }, NOW, free, 'key_a', 2)).toEqual({ action: 'fresh', minute });
  });

  it('a minute moved on by a writer whose clock is ahead is adopted, not rolled back', () => {
    const ahead = item({ mw: '2031-03-04T10:21', mc: 1 });
    expect(nextStep(ahead, NOW, free, 'key_a')).toEqual({ action: 'same', minute: minuteWindow(new Date('2031-03-04T10:21:00Z')) });
    const full = nextStep(item({ mw: '2031-03-04T10:21', mc: 10 }), NOW, free, 'key_a');
    expect(full.action).toBe('reject');
  });
});

describe('firstGuess (from the minute this process last saw for the org)', () => {
  it.each<[string | undefined, string]>([
    [undefined, 'same'],
    ['2031-03-04T10:20', 'same'],
    ['2031-03-04T10:19', 'roll'],
    ['2031-03-03T23:59', 'fresh'],
  ])('%s -> %s', (seen, action) => {
    expect(firstGuess(seen, NOW)).toEqual({ action, minute });
  });

  it('a minute ahead of this clock is used as is', () => {
    expect(firstGuess('2031-03-04T10:21', NOW)).toEqual({ action: 'same', minute: minuteWindow(new Date('2031-03-04T10:21:00Z')) });
  });
});

describe('firstGuessOnBusyItem (the high-volume path: items many environments write each second)', () => {
  it('from 100 ms into a minute, a minute or day this process has not written in is taken as started by another', () => {
    expect(firstGuessOnBusyItem('2031-03-04T10:19', NOW)).toEqual({ action: 'same', minute });
    expect(firstGuessOnBusyItem('2031-03-03T23:59', NOW)).toEqual({ action: 'same', minute });
  });

  it("in a minute's first 100 ms it guesses as firstGuess does (this may be the first write)", () => {
    const early = new Date('2031-03-04T10:20:00.040Z');
    expect(firstGuessOnBusyItem('2031-03-04T10:19', early)).toEqual(firstGuess('2031-03-04T10:19', early));
    expect(firstGuessOnBusyItem('2031-03-04T10:19', early).action).toBe('roll');
    expect(firstGuessOnBusyItem(undefined, NOW)).toEqual(firstGuess(undefined, NOW));
  });
});
