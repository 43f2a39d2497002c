// The portal build that npm start serves and the stack uploads is the production one, also when a
// test run (NODE_ENV=test) builds it: no development JSX, and within the first-load budget.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PORTAL_FIRST_LOAD_GZIP_BUDGET, portalFirstLoadJs } from '../../bench/portal-size.ts';
import { buildPortal, PORTAL_BUILD } from '../../web/build.ts';

it('builds the production portal under vitest, within the first-load budget', async () => {
  expect(process.env.NODE_ENV).toBe('test');
  await buildPortal();
  expect(process.env.NODE_ENV, 'the build leaves NODE_ENV as it found it').toBe('test');
  const load = portalFirstLoadJs(PORTAL_BUILD);
  for (const file of load.files) {
    const code = readFileSync(join(PORTAL_BUILD, file.path), 'utf8');
    expect(code, `${file.path} holds development JSX`).not.toMatch(/lineNumber:|columnNumber:/);
  }
  expect(load.gzip).toBeLessThanOrEqual(PORTAL_FIRST_LOAD_GZIP_BUDGET);
}, 180_000);
