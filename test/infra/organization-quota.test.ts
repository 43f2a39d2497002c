// The free-credit bound as a deploy setting: CDK context `maxOrganizationsPerUser` (default 10, as
// the README's configuration table says) reaches the management function as MAX_ORGANIZATIONS_PER_USER.
import { describe, expect, it } from 'vitest';
import { functionByName, SETUP_TIMEOUT_MS, synthKeygate } from '../support/stack.ts';

const managementEnv = (context: Record<string, unknown> = {}) =>
  functionByName(synthKeygate({ context }), 'management')[1].Properties!.Environment.Variables;

describe('maxOrganizationsPerUser', () => {
  it('defaults to 10 and can be set per deployment', { timeout: SETUP_TIMEOUT_MS }, () => {
    expect(managementEnv().MAX_ORGANIZATIONS_PER_USER).toBe('10');
    expect(managementEnv({ maxOrganizationsPerUser: 3 }).MAX_ORGANIZATIONS_PER_USER).toBe('3');
  });

  it.each([0, -1, 2.5, 'many'])('refuses %j at synthesis', (value) => {
    expect(() => synthKeygate({ context: { maxOrganizationsPerUser: value } })).toThrow(/maxOrganizationsPerUser/);
  });
});
