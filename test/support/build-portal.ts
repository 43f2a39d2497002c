// Global setup of the browser, infra and bundle projects: the portal build exists and matches the
// sources, and widget.js is built from the current sources, so the browser tests drive what
// `npm start` serves and the synth uploads what it would.
import { ensureWebBuilt } from '../../web/build.ts';

export async function setup(): Promise<void> {
  await ensureWebBuilt();
}
