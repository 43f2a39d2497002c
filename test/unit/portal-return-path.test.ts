// The portal's return path after sign-in: a path of the portal only, never another host.
import { describe, expect, it } from 'vitest';
import { safeReturnPath } from '../../web/portal/src/return-path.ts';

describe('safeReturnPath', () => {
  it.each(['//evil.example/x', '/\\evil.example', '/\\/evil.example', 'https://evil.example/', 'evil', '', undefined, 42])('refuses %j: back to /', (value) => {
    expect(safeReturnPath(value)).toBe('/');
  });

  it.each(['/', '/keys', '/orgs/org_1/members?tab=2', '/a//b'])('keeps %s', (path) => {
    expect(safeReturnPath(path)).toBe(path);
  });
});
