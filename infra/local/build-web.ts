// Builds the web assets (the portal) with Vite's API: `npm start` runs it when the build is
// missing, the browser tests before they start, and `cdk synth` before it uploads the folder.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const PORTAL_CONFIG = resolve(import.meta.dirname, '../../web/portal/vite.config.ts');
export const PORTAL_BUILD = resolve(import.meta.dirname, '../../web/dist/portal');

export async function buildPortal(): Promise<void> {
  const { build } = await import('vite');
  await build({ configFile: PORTAL_CONFIG, logLevel: 'warn' });
  if (!existsSync(join(PORTAL_BUILD, 'index.html'))) throw new Error(`The portal build did not produce ${PORTAL_BUILD}/index.html`);
}

/** Builds the portal unless web/dist/portal/index.html exists already; true when it built. */
export async function ensurePortalBuilt(): Promise<boolean> {
  if (existsSync(join(PORTAL_BUILD, 'index.html'))) return false;
  await buildPortal();
  return true;
}
