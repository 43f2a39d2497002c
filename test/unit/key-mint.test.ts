// Minting a key (shared/domain/key-mint.ts) and the views of it (shared/domain/key-view.ts): what
// is stored, what callers see, and what a rolled key's replacement inherits. Nothing is written.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PREFIXES, hashKey } from '../../shared/domain/api-key.ts';
import { mintKey, noticeShard, replacementOf, type NewKey } from '../../shared/domain/key-mint.ts';
import { keyDetails, keyView } from '../../shared/domain/key-view.ts';
import { newKeySettings } from '../support/keys.ts';

const now = new Date('2026-03-01T12:00:00.000Z');
const orgLimits = { perMinute: 60, perDay: 1000 };
const settings: NewKey = newKeySettings({ organizationId: 'org_a', name: 'Website', orgLimits, createdBy: 'alice' });

describe('mintKey', () => {
  it('a secret key: its hash and display form stored, never its plaintext', () => {
    const { item, plaintext } = mintKey(settings, DEFAULT_PREFIXES, now);
    expect(plaintext).toMatch(/^sk_[0-9A-Za-z]{38}$/);
    expect(item.keyHash).toBe(hashKey(plaintext));
    expect(item.id).toMatch(/^key_[0-9a-f]{24}$/);
    expect(item).not.toHaveProperty('key');
    expect(JSON.stringify(item)).not.toContain(plaintext);
    expect(item).toMatchObject({
      organizationId: 'org_a',
      status: 'active',
      createdAt: '2026-03-01T12:00:00.000Z',
      expiresAt: '2026-03-31T12:00:00.000Z',
      lifetimeDays: 30,
      orgLimits,
      orgLimitsVersion: 0,
      lastUsedAt: null,
      usageCount: 0,
      createdBy: 'alice',
      // The first expiry notice (30 days before) is due at once; TTL 90 days after expiry.
      noticeAt: '2026-03-01T12:00:00.000Z',
      ttl: Date.parse('2026-06-29T12:00:00.000Z') / 1000,
    });
    expect(item.noticeShard).toMatch(/^n[0-3]$/);
  });

  it('a publishable key keeps its plaintext (public by design)', () => {
    const { item, plaintext } = mintKey({ ...settings, type: 'publishable' }, DEFAULT_PREFIXES, now);
    expect(plaintext).toMatch(/^pk_/);
    expect(item.key).toBe(plaintext);
  });

  it('spreads keys over the four notice shards by the last byte of their hash', () => {
    expect(noticeShard('ab00')).toBe('n0');
    expect(noticeShard('ab03')).toBe('n3');
    expect(noticeShard('abff')).toBe('n3');
    expect(noticeShard('ab05')).toBe('n1');
  });
});

describe('replacementOf', () => {
  it('inherits every setting and the lifetime of the old key; only the creator is new', () => {
    const { item } = mintKey({ ...settings, allowedDomains: ['a.com'], rateLimit: { perMinute: 5 }, orgLimitsVersion: 3 }, DEFAULT_PREFIXES, now);
    expect(replacementOf(item, 'bob')).toEqual({ ...settings, allowedDomains: ['a.com'], rateLimit: { perMinute: 5 }, orgLimitsVersion: 3, assistantId: null, createdBy: 'bob' });
  });
});

describe('keyDetails and keyView', () => {
  it('never show the hash; the plaintext only when just made, or for a publishable key', () => {
    const secret = mintKey(settings, DEFAULT_PREFIXES, now);
    expect(keyDetails(secret.item, now)).not.toHaveProperty('keyHash');
    expect(keyView(secret.item, now)).not.toHaveProperty('key');
    expect(keyView(secret.item, now, secret.plaintext)).toMatchObject({ key: secret.plaintext, status: 'active' });
    const publishable = mintKey({ ...settings, type: 'publishable' }, DEFAULT_PREFIXES, now);
    expect(keyView(publishable.item, now)).toMatchObject({ key: publishable.plaintext });
    expect(keyDetails(secret.item, new Date('2026-04-01T00:00:00.000Z')).status).toBe('expired');
  });
});
