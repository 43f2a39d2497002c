// Builds the portal (web/portal -> web/dist/portal) with Vite's API. `npm start`, the browser,
// infra and bundle tests and `cdk synth` all call ensurePortalBuilt(): it builds when the build is
// missing or older than its sources. A build is written beside the target and moved into place,
// so a reader (a synth hashing the folder) never sees a half-written one.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const PORTAL_CONFIG = join(ROOT, 'web/portal/vite.config.ts');
export const PORTAL_BUILD = join(ROOT, 'web/dist/portal');
/** What the portal bundle is made of: a change in any of these makes the build stale. */
const PORTAL_SOURCES = [join(ROOT, 'web/portal'), join(ROOT, 'web/api')];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

export async function buildPortal(): Promise<void> {
  const { build } = await import('vite');
  const staging = `${PORTAL_BUILD}.build-${process.pid}-${Date.now()}`;
  try {
    await build({ configFile: PORTAL_CONFIG, logLevel: 'warn', build: { outDir: staging, emptyOutDir: true } });
    if (!existsSync(join(staging, 'index.html'))) throw new Error(`The portal build did not produce index.html`);
    rmSync(PORTAL_BUILD, { recursive: true, force: true });
    renameSync(staging, PORTAL_BUILD);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Whether web/dist/portal is missing or older than a file under web/portal or web/api. */
export function portalBuildIsStale(): boolean {
  const index = join(PORTAL_BUILD, 'index.html');
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return PORTAL_SOURCES.some((dir) => existsSync(dir) && newestMtime(dir) > built);
}

/** Builds the portal when its build is missing or stale; true when it built. */
export async function ensurePortalBuilt(): Promise<boolean> {
  if (!portalBuildIsStale()) return false;
  await buildPortal();
  return true;
}
