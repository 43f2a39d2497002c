// Fixed UTC windows from an injected clock: ids, reset times, boundaries, TTLs.
import { describe, expect, it } from 'vitest';
import {
  dayOfMinute,
  dayWindow,
  minuteWindow,
  minuteWindowFromId,
  reservationTtl,
  RESERVATION_RETENTION_DAYS,
  usageItemTtl,
  USAGE_RETENTION_DAYS,
} from '../../shared/limits/windows.ts';

const s = (iso: string) => Date.parse(iso) / 1000;

describe('minute window', () => {
  it('is the UTC minute, resetting at the next one', () => {
    expect(minuteWindow(new Date('2031-03-04T10:20:30.123Z'))).toEqual({
      period: 'minute',
      id: '2031-03-04T10:20',
      resetAt: s('2031-03-04T10:21:00Z'),
    });
  });

  it.each([
    ['2031-03-04T10:20:00.000Z', '2031-03-04T10:20'],
    ['2031-03-04T10:20:59.999Z', '2031-03-04T10:20'],
    ['2031-03-04T10:21:00.000Z', '2031-03-04T10:21'],
    ['2031-03-04T23:59:59.999Z', '2031-03-04T23:59'],
    ['2031-03-05T00:00:00.000Z', '2031-03-05T00:00'],
  ])('%s is in minute %s', (at, id) => {
    expect(minuteWindow(new Date(at)).id).toBe(id);
  });

  it('ids sort in time order, across hours, days and years', () => {
    const instants = ['2030-12-31T23:59:59.999Z', '2031-01-01T00:00:00.000Z', '2031-01-01T09:59:30.000Z', '2031-01-01T10:00:00.000Z'];
    const ids = instants.map((at) => minuteWindow(new Date(at)).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('can be rebuilt from its id', () => {
    expect(minuteWindowFromId('2031-03-04T10:21')).toEqual(minuteWindow(new Date('2031-03-04T10:21:59Z')));
    expect(dayOfMinute('2031-03-04T10:21')).toBe('2031-03-04');
  });
});

describe('day window', () => {
  it('is the UTC day, resetting at the next UTC midnight', () => {
    expect(dayWindow(new Date('2031-03-04T23:59:59.999Z'))).toEqual({ period: 'day', id: '2031-03-04', resetAt: s('2031-03-05T00:00:00Z') });
    expect(dayWindow(new Date('2031-03-05T00:00:00.000Z')).id).toBe('2031-03-05');
  });

  it('knows leap days and year ends', () => {
    expect(dayWindow(new Date('2032-02-29T12:00:00Z')).resetAt).toBe(s('2032-03-01T00:00:00Z'));
    expect(dayWindow(new Date('2031-12-31T12:00:00Z')).resetAt).toBe(s('2032-01-01T00:00:00Z'));
  });
});

describe('TTLs (epoch seconds)', () => {
  it('usage items outlive any key (365 days) and the 90 days the usage routes show', () => {
    expect(USAGE_RETENTION_DAYS).toBeGreaterThan(365);
    expect(usageItemTtl('2031-03-04')).toBe(s('2031-03-04T00:00:00Z') + USAGE_RETENTION_DAYS * 86_400);
  });

  it('credit reservations are kept for the idempotency window', () => {
    const now = new Date('2031-03-04T10:20:30.500Z');
    expect(reservationTtl(now)).toBe(Math.floor(now.getTime() / 1000) + RESERVATION_RETENTION_DAYS * 86_400);
  });
});
