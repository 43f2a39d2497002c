// Every shell block the README and docs mark ```` ```sh runnable ```` runs, verbatim, against a
// local Keygate: the blocks of one file run in order in one bash (so a variable set in one block
// is there in the next), with `set -euo pipefail`, and PORT set to the API's port as a reader's
// `npm start` would have it. A command that fails, or a curl that gets an HTTP error (`-f`), fails
// the test with the block's file and line.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { startTestApi } from '../support/api.ts';
import { markdownFiles, REPO, runnableBlocks } from '../support/markdown.ts';

const files = markdownFiles().filter((file) => runnableBlocks(file).length > 0);

describe('runnable docs blocks', () => {
  let api: LocalKeygate;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api?.stop();
  });

  it('the README has a runnable quick tour', () => {
    expect(runnableBlocks('README.md').length).toBeGreaterThan(0);
  });

  it.each(files)('%s: every runnable block succeeds', async (file) => {
    const port = new URL(api.url).port;
    const script = runnableBlocks(file)
      .map((block) => `echo "::block ${file}:${block.line}" >&2\n${block.code}`)
      .join('\n');
    const run = await bash(`set -euo pipefail\n${script}`, { ...process.env, PORT: port });
    const lastBlock = [...run.stderr.matchAll(/::block (\S+)/g)].at(-1)?.[1];
    expect({ status: run.status, failedIn: run.status === 0 ? null : lastBlock, stderr: run.status === 0 ? '' : run.stderr.slice(-2000) }).toEqual({
      status: 0,
      failedIn: null,
      stderr: '',
    });
  });
});

/** bash in a child process; asynchronous, because the API under test answers from this process. */
function bash(script: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}
