// Webhook rules (docs/api.md "Webhooks"), expectations written from the contract: the signature
// formula, the retry schedule (first retry within a minute, 24 hours in all), expiry thresholds
// (30, 7, 1 days, each once) and the SSRF defences, which refuse before any connection is made.
import { createHmac } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  dueNotice,
  firstNoticeAt,
  noticeBackfill,
  isForbiddenAddress,
  nextAttemptAt,
  retryDelaySeconds,
  signatureHeader,
  urlProblem,
} from '../../shared/domain/webhooks.ts';
import { postJson, resolveTarget, ForbiddenTargetError } from '../../shared/webhooks/http-post.ts';

const AWS = { allowLocal: false };
const LOCAL = { allowLocal: true };
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

describe('SSRF defences', () => {
  it.each([
    '10.0.0.1', '172.16.5.4', '192.168.1.1', '127.0.0.1', '127.9.9.9', '0.0.0.0', '169.254.169.254', '100.64.0.1',
    '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip',
  ])('refuses %s in AWS', (address) => {
    expect(isForbiddenAddress(address, AWS)).toBe(true);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111'])('accepts public %s', (address) => {
    expect(isForbiddenAddress(address, AWS)).toBe(false);
  });

  it.each(['::7f00:1', '::a9fe:a9fe', '::a00:1', '::c0a8:101', '0:0:0:0:0:0:127.0.0.1'])(
    'refuses IPv4-compatible IPv6 %s, judged as the IPv4 it embeds',
    (address) => {
      expect(isForbiddenAddress(address, AWS)).toBe(true);
    },
  );

  it('IPv4-compatible IPv6 literals: refused at creation and at delivery', async () => {
    for (const url of ['https://[::7f00:1]/hook', 'https://[::a9fe:a9fe]/latest/meta-data']) {
      expect(urlProblem(url, AWS), url).toMatch(/private, loopback/);
      await expect(resolveTarget(new URL(url), { policy: AWS, resolve: async () => [] }), url).rejects.toBeInstanceOf(ForbiddenTargetError);
    }
  });

  it('localhost names with a trailing dot are refused at creation', () => {
    expect(urlProblem('https://localhost./', AWS)).toBe('must not be a loopback host');
    expect(urlProblem('https://app.localhost./hook', AWS)).toBe('must not be a loopback host');
    expect(urlProblem('https://localhost../hook', AWS)).toBe('must not be a loopback host');
  });

  it('allows loopback only in the local runtime, and nothing else private there either', () => {
    expect(isForbiddenAddress('127.0.0.1', LOCAL)).toBe(false);
    expect(isForbiddenAddress('::1', LOCAL)).toBe(false);
    expect(isForbiddenAddress('10.0.0.1', LOCAL)).toBe(true);
    expect(isForbiddenAddress('169.254.169.254', LOCAL)).toBe(true);
  });

  it('URLs: https only in AWS; locally also http://localhost and http://127.0.0.1', () => {
    expect(urlProblem('https://hooks.example.com/keygate', AWS)).toBeUndefined();
    expect(urlProblem('http://hooks.example.com/keygate', AWS)).toBe('must be https://');
    expect(urlProblem('http://localhost:4000/hook', AWS)).toBe('must be https://');
    expect(urlProblem('https://localhost/hook', AWS)).toBe('must not be a loopback host');
    expect(urlProblem('https://127.0.0.1/hook', AWS)).toMatch(/private, loopback/);
    expect(urlProblem('http://localhost:4000/hook', LOCAL)).toBeUndefined();
    expect(urlProblem('http://127.0.0.1:4000/hook', LOCAL)).toBeUndefined();
    expect(urlProblem('http://10.0.0.1/hook', LOCAL)).toMatch(/https/);
  });

  it('checks the resolved address, before any connection', async () => {
    const resolve = vi.fn(async (host: string) =>
      host === 'rebind.example' ? [{ address: '93.184.216.34', family: 4 }, { address: '169.254.169.254', family: 4 }] : [{ address: '10.1.2.3', family: 4 }],
    );
    await expect(resolveTarget(new URL('https://internal.example/hook'), { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    // One bad address among good ones is enough to refuse (DNS answers can rotate).
    await expect(resolveTarget(new URL('https://rebind.example/hook'), { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    await expect(resolveTarget(new URL('http://public.example/hook'), { policy: AWS, resolve })).rejects.toThrow(/https/);
    // IP literals are judged without a lookup.
    await expect(resolveTarget(new URL('https://[::ffff:169.254.169.254]/'), { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    await expect(postJson('https://169.254.169.254/latest/meta-data', '{}', {}, { policy: AWS, resolve })).rejects.toBeInstanceOf(ForbiddenTargetError);
    await expect(postJson('http://localhost:9/hook', '{}', {}, { policy: AWS })).rejects.toThrow(/https/);
    expect(resolve.mock.calls.map((c) => c[0])).toEqual(['internal.example', 'rebind.example']);
  });

  it('in AWS a host resolving to loopback is refused (the real resolver: localhost)', async () => {
    await expect(postJson('https://localhost:9/hook', '{}', {}, { policy: AWS })).rejects.toBeInstanceOf(ForbiddenTargetError);
  });
});
