// The portal build that npm start serves and the stack uploads is the production one, also when a
// test run (NODE_ENV=test) builds it: no development JSX, and within the first-load budget.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PORTAL_FIRST_LOAD_GZIP_BUDGET, portalFirstLoadJs } from '../../bench/portal-size.ts';
import { buildPortal } from '../../web/build.ts';

it('builds the production portal under vitest, within the first-load budget', async () => {
  expect(process.env.NODE_ENV).toBe('test');
  // Its own folder: the one other infra tests synthesize from stays in place meanwhile.
  const parent = mkdtempSync(join(tmpdir(), 'keygate-portal-build-'));
  const out = join(parent, 'portal');
  try {
    await buildPortal(out);
    expect(process.env.NODE_ENV, 'the build leaves NODE_ENV as it found it').toBe('test');
    const load = portalFirstLoadJs(out);
    expect(load.files.length).toBeGreaterThan(0);
    for (const file of load.files) {
      const code = readFileSync(join(out, file.path), 'utf8');
      expect(code, `${file.path} holds development JSX`).not.toMatch(/lineNumber:|columnNumber:/);
    }
    expect(load.gzip).toBeLessThanOrEqual(PORTAL_FIRST_LOAD_GZIP_BUDGET);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}, 180_000);
