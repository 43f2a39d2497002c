// Webhook rules (docs/api.md "Webhooks"), expectations written from the contract: the signature
// formula, the retry schedule (first retry within a minute, 24 hours in all) and expiry thresholds
// (30, 7, 1 days, each once).
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  dueNotice,
  firstNoticeAt,
  noticeBackfill,
  nextAttemptAt,
  retryDelaySeconds,
  signatureHeader,
} from '../../shared/domain/webhooks.ts';

const DAY = 86_400_000;

describe('signature', () => {
  it('is t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">', () => {
    const body = '{"id":"evt_1","type":"ping"}';
    const now = new Date('2026-12-01T10:00:00.000Z');
    const t = 1796119200; // 2026-12-01T10:00:00Z
    const expected = createHmac('sha256', 'whsec_test').update(`${t}.${body}`).digest('hex');
    expect(signatureHeader('whsec_test', body, now)).toBe(`t=${t},v1=${expected}`);
  });
});

describe('retry schedule', () => {
  const none = () => 0;
  it('retries first within a minute, then backs off exponentially up to 6 hours', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelaySeconds(n, none))).toEqual([30, 120, 480, 1920, 7680, 21600, 21600]);
    expect(retryDelaySeconds(1, () => 0.999)).toBeLessThan(60);
  });

  it('stops after 24 hours', () => {
    const first = new Date('2026-12-01T00:00:00Z');
    expect(nextAttemptAt(first, 1, first, none)).toEqual(new Date('2026-12-01T00:00:30Z'));
    expect(nextAttemptAt(first, 7, new Date('2026-12-01T17:00:00Z'), none)).toEqual(new Date('2026-12-01T23:00:00Z'));
    expect(nextAttemptAt(first, 8, new Date('2026-12-01T23:00:00Z'), none)).toBeUndefined();
  });
});

describe('expiry notices', () => {
  const expiresAt = new Date('2027-01-31T00:00:00Z');
  it('the first is the nearest threshold still ahead', () => {
    expect(firstNoticeAt(expiresAt, new Date('2026-01-31T00:00:00Z'))).toEqual(new Date('2027-01-01T00:00:00Z')); // 30 days before
    expect(firstNoticeAt(expiresAt, new Date('2027-01-24T00:00:00Z'))).toEqual(new Date('2027-01-24T00:00:00Z')); // 7 days: now
    expect(firstNoticeAt(expiresAt, new Date('2027-01-26T00:00:00Z'))).toEqual(new Date('2027-01-30T00:00:00Z')); // 1 day before
    expect(firstNoticeAt(expiresAt, new Date('2027-01-30T12:00:00Z'))).toEqual(expiresAt); // only "expired" left
  });

  it('each due notice is the most urgent threshold passed, then the next one', () => {
    expect(dueNotice(expiresAt, new Date('2027-01-01T00:00:00Z'))).toEqual({ kind: 'expiring:30', days: 30, next: new Date('2027-01-24T00:00:00Z') });
    expect(dueNotice(expiresAt, new Date('2027-01-25T00:00:00Z'))).toEqual({ kind: 'expiring:7', days: 7, next: new Date('2027-01-30T00:00:00Z') });
    expect(dueNotice(expiresAt, new Date('2027-01-30T06:00:00Z'))).toEqual({ kind: 'expiring:1', days: 1, next: expiresAt });
    expect(dueNotice(expiresAt, new Date(expiresAt.getTime() + DAY))).toEqual({ kind: 'expired', days: 0, next: undefined });
  });

  describe('backfill of keys stored before notices existed', () => {
    const legacy = { status: 'active', expiresAt: expiresAt.toISOString() };
    it('gives a key the next notice a key created now would get: a threshold already past is not sent late', () => {
      // 40 days left: the 30-day notice, when it comes (nothing now).
      expect(noticeBackfill(legacy, new Date('2026-12-22T00:00:00Z'))).toEqual({ action: 'set', noticeAt: new Date('2027-01-01T00:00:00Z') });
      // 20 days left: 30 days is past, so the 7-day notice is next; the 30-day one is never sent.
      expect(noticeBackfill(legacy, new Date('2027-01-11T00:00:00Z'))).toEqual({ action: 'set', noticeAt: new Date('2027-01-24T00:00:00Z') });
      // 12 hours left: only "expired", at expiry.
      expect(noticeBackfill(legacy, new Date('2027-01-30T12:00:00Z'))).toEqual({ action: 'set', noticeAt: expiresAt });
      // Disabled keys get notices, as new keys do (the sweep skips only revoked ones).
      expect(noticeBackfill({ ...legacy, status: 'disabled' }, new Date('2027-01-11T00:00:00Z'))).toEqual({ action: 'set', noticeAt: new Date('2027-01-24T00:00:00Z') });
    });

    it('is the same rule as a new key at every instant before expiry', () => {
      for (let at = expiresAt.getTime() - 400 * DAY; at < expiresAt.getTime(); at += 0.37 * DAY) {
        const now = new Date(at);
        expect(noticeBackfill(legacy, now)).toEqual({ action: 'set', noticeAt: firstNoticeAt(expiresAt, now) });
      }
    });

    it('leaves revoked, expired, indexed and already-notified keys alone', () => {
      const now = new Date('2027-01-11T00:00:00Z');
      expect(noticeBackfill({ ...legacy, status: 'revoked' }, now)).toEqual({ action: 'skip', reason: 'revoked' });
      expect(noticeBackfill(legacy, expiresAt)).toEqual({ action: 'skip', reason: 'expired' });
      expect(noticeBackfill(legacy, new Date(expiresAt.getTime() + DAY))).toEqual({ action: 'skip', reason: 'expired' });
      expect(noticeBackfill({ ...legacy, noticeShard: 'n2', noticeAt: '2027-01-24T00:00:00.000Z' }, now)).toEqual({ action: 'skip', reason: 'indexed' });
      expect(noticeBackfill({ ...legacy, lastNotice: 'expiring:30' }, now)).toEqual({ action: 'skip', reason: 'notified' });
    });

    it('keeps the notice a roll gave a legacy key (its only one left is "expired") and adds just the shard', () => {
      const graceEnd = '2027-01-12T00:00:00.000Z';
      expect(noticeBackfill({ status: 'active', expiresAt: graceEnd, noticeAt: graceEnd }, new Date('2027-01-11T00:00:00Z'))).toEqual({
        action: 'set',
        noticeAt: new Date(graceEnd),
      });
    });
  });
});
