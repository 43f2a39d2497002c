// Browser-project global setup: build the portal once from the current sources, so the tests
// drive what `npm start` and `cdk synth` would serve.
import { buildPortal } from '../../infra/local/build-web.ts';

export async function setup(): Promise<void> {
  if (process.env.KEYGATE_SKIP_BROWSER === '1') return;
  await buildPortal();
}
