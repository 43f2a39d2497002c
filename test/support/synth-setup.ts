// One real `cdk synth` (every function bundled) per test run, for the tests of the synthesized
// bundles: its cloud assembly directory reaches every test file through `inject('bundlesOutdir')`.
// It is written under the system temp directory, away from the repository's node_modules, so an
// import a bundle lacks cannot resolve by accident.
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { synthesizeApp } from '../../infra/local/bundles/assembly.ts';

let outdir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const started = performance.now();
  outdir = (await synthesizeApp()).outdir;
  console.info(`cdk synth with bundling for the bundle tests: ${((performance.now() - started) / 1000).toFixed(1)} s (${outdir})`);
  project.provide('bundlesOutdir', outdir);
}

export function teardown(): void {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    bundlesOutdir: string;
  }
}
