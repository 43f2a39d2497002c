// A key to mint in tests: a secret chat key of 30 days with no domain, database or own rate limit,
// unless the test says otherwise.
import type { NewKey } from '../../shared/domain/key-mint.ts';

export function newKeySettings(overrides: Partial<NewKey> & Pick<NewKey, 'organizationId'>): NewKey {
  return {
    name: 'k',
    type: 'secret',
    allowedDomains: [],
    databaseId: null,
    scopes: ['chat'],
    expiresInDays: 30,
    rateLimit: null,
    orgLimits: { perMinute: 10, perDay: 1000 },
    createdBy: 'owner-1',
    ...overrides,
  };
}
