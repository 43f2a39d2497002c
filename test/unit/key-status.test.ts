// A key's status over time (shared/domain/key-status.ts): derived expiry, retention TTLs, roll expiry.
import { describe, expect, it } from 'vitest';
import { expiredKeyTtl, keyStatus, revokedKeyTtl, rolledKeyExpiry } from '../../shared/domain/key-status.ts';

const now = new Date('2026-03-01T12:00:00.000Z');

describe('keyStatus', () => {
  it.each([
    ['active', '2026-03-02T00:00:00.000Z', 'active'],
    ['disabled', '2026-03-02T00:00:00.000Z', 'disabled'],
    ['active', '2026-03-01T12:00:00.000Z', 'expired'],
    ['disabled', '2026-02-01T00:00:00.000Z', 'expired'],
    ['revoked', '2026-03-02T00:00:00.000Z', 'revoked'],
    ['revoked', '2026-02-01T00:00:00.000Z', 'revoked'],
  ] as const)('stored %s, expiring %s: %s', (status, expiresAt, expected) => {
    expect(keyStatus({ status, expiresAt }, now)).toBe(expected);
  });
});

describe('retention', () => {
  it('an expired key stays 90 days after its expiry, a revoked tombstone 30 days after the revoke', () => {
    expect(expiredKeyTtl(now)).toBe(Date.parse('2026-05-30T12:00:00.000Z') / 1000);
    expect(revokedKeyTtl(now)).toBe(Date.parse('2026-03-31T12:00:00.000Z') / 1000);
  });
});

describe('rolledKeyExpiry', () => {
  it('the end of the grace period, or the key\'s own expiry when that comes first', () => {
    expect(rolledKeyExpiry('2027-01-01T00:00:00.000Z', 24, now)).toEqual(new Date('2026-03-02T12:00:00.000Z'));
    expect(rolledKeyExpiry('2026-03-01T18:00:00.000Z', 24, now)).toEqual(new Date('2026-03-01T18:00:00.000Z'));
    expect(rolledKeyExpiry('2027-01-01T00:00:00.000Z', 0, now)).toEqual(now);
  });
});
