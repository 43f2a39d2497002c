// Lambda bundle sizes and module import times, with the esbuild options the CDK uses for every
// function (infra/constructs/keygate-function.ts: ESM, platform node, target node24, minified,
// main fields module,main, source maps without sources content, the createRequire banner, AWS SDK
// bundled rather than external). Sizes are of the .mjs only (the source map is a separate file).
//
// The baseline is a handler holding only `DynamoDBClient` + `GetItemCommand`, built the same way:
// the smallest bundle that can do the authorizer's one read.
import { build, type Metafile } from 'esbuild';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './stats.ts';

export const ROOT = resolve(import.meta.dirname, '..');

/** Same banner as keygate-function.ts (ESM bundles have no `require`; some CommonJS dependencies call it). */
const ESM_REQUIRE_SHIM = "import { createRequire } from 'node:module';const require = createRequire(import.meta.url);";

export const BASELINE_NAME = 'baseline (DynamoDBClient + GetItem)';

const BASELINE_SOURCE = `// Bench baseline: the smallest Lambda that can do one GetItem.
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
const client = new DynamoDBClient({});
export const handler = async (event) => {
  const { Item } = await client.send(new GetItemCommand({
    TableName: process.env.API_KEYS_TABLE, Key: { id: { S: String(event.id) } }, ConsistentRead: true,
  }));
  return Item;
};
`;

export interface BundleInput {
  path: string;
  bytes: number;
}

export interface BundleResult {
  name: string;
  entry: string;
  ok: boolean;
  error?: string;
  /** Bytes of the minified .mjs. */
  bytes?: number;
  /** Where the .mjs (and its .map) were written. */
  file?: string;
  /** Every input with its bytes in the output, largest first. */
  inputs?: BundleInput[];
}

async function bundleOne(name: string, entry: string, outDir: string, nodePaths: string[] = []): Promise<BundleResult> {
  const dir = join(outDir, name.replace(/[^A-Za-z0-9_-]+/g, '_'));
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, 'index.mjs');
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node24',
      mainFields: ['module', 'main'],
      minify: true,
      sourcemap: true,
      sourcesContent: false,
      banner: { js: ESM_REQUIRE_SHIM },
      external: [],
      nodePaths,
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
    let bytes = 0;
    for (const file of result.outputFiles) {
      writeFileSync(file.path, file.contents);
      if (file.path === outfile) bytes = file.contents.byteLength;
    }
    return { name, entry, ok: true, bytes, file: outfile, inputs: inputsOf(result.metafile, outfile) };
  } catch (error) {
    const errors = (error as { errors?: { text: string; location?: { file?: string } | null }[] }).errors;
    const message = errors?.length
      ? errors.map((e) => `${e.text}${e.location?.file ? ` (in ${e.location.file})` : ''}`).join('; ')
      : String((error as Error).message ?? error);
    return { name, entry, ok: false, error: message };
  }
}

function inputsOf(metafile: Metafile, outfile: string): BundleInput[] {
  const output = Object.entries(metafile.outputs).find(([path]) => resolve(ROOT, path) === outfile)?.[1];
  if (!output) return [];
  return Object.entries(output.inputs)
    .map(([path, info]) => ({ path, bytes: info.bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes);
}

/** `node_modules/@aws-sdk/client-dynamodb/dist-es/x.js` -> `@aws-sdk/client-dynamodb`; project files -> their folder. */
export function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (match) {
    const all = [...path.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
    return (all.at(-1)?.[1] ?? match[1]) as string;
  }
  const parts = path.split('/');
  return parts.length > 1 ? `(project) ${parts.slice(0, -1).join('/')}/` : `(project) ${path}`;
}

/** Bytes in the output per package (or project folder), largest first. */
export function byPackage(inputs: readonly BundleInput[]): BundleInput[] {
  const sums = new Map<string, number>();
  for (const input of inputs) sums.set(packageOf(input.path), (sums.get(packageOf(input.path)) ?? 0) + input.bytes);
  return [...sums].map(([path, bytes]) => ({ path, bytes })).sort((a, b) => b.bytes - a.bytes);
}

/** Build every entry (name -> entry file relative to the repository root) and the baseline. */
export async function buildBundles(entries: Record<string, string>, outDir: string): Promise<{ bundles: BundleResult[]; baseline: BundleResult }> {
  const baselineDir = join(outDir, 'baseline-src');
  mkdirSync(baselineDir, { recursive: true });
  const baselineEntry = join(baselineDir, 'baseline.mjs');
  writeFileSync(baselineEntry, BASELINE_SOURCE);
  const [baseline, ...bundles] = await Promise.all([
    // Outside the repository, so its bare imports are resolved from the project's node_modules.
    bundleOne(BASELINE_NAME, baselineEntry, outDir, [join(ROOT, 'node_modules')]),
    ...Object.entries(entries).map(([name, entry]) => bundleOne(name, entry, outDir)),
  ]);
  return { bundles, baseline: baseline as BundleResult };
}

// Wall time of the import, and the CPU time the process spent in it (all threads, user + system):
// the CPU time hardly moves when other processes compete for the cores, the wall time does.
const IMPORT_SCRIPT =
  'const c0 = process.cpuUsage(); const t0 = performance.now(); await import(process.env.BENCH_MODULE_URL); ' +
  'const ms = performance.now() - t0; const c = process.cpuUsage(c0); ' +
  'process.stdout.write(JSON.stringify({ ms, cpuMs: (c.user + c.system) / 1000 })); process.exit(0);';

interface ImportSample {
  ms: number;
  cpuMs: number;
}

function importOnce(file: string, env: NodeJS.ProcessEnv): Promise<ImportSample> {
  return new Promise((resolveTime, reject) => {
    execFile(
      process.execPath,
      // As in Lambda: NODE_OPTIONS=--enable-source-maps is set on every Keygate function.
      ['--enable-source-maps', '--input-type=module', '-e', IMPORT_SCRIPT],
      { env: { ...env, BENCH_MODULE_URL: pathToFileURL(file).href }, timeout: 20_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = String(stderr || error.message).split('\n').find((l) => /Error|error/.test(l)) ?? String(error.message);
          reject(new Error(detail.trim().slice(0, 200)));
          return;
        }
        try {
          resolveTime(JSON.parse(stdout) as ImportSample);
        } catch {
          reject(new Error(`unexpected output from ${basename(file)}: ${stdout.slice(0, 200)}`));
        }
      },
    );
  });
}

export interface ImportTiming {
  name: string;
  samples: number[];
  medianMs: number;
  /** Median CPU time of the import. */
  medianCpuMs: number;
  error?: string;
}

/**
 * Import each bundle in a fresh `node` process `rounds` times and keep the time `import()` took
 * (process start-up excluded). Rounds go through all bundles in turn, so machine noise is spread
 * over them alike.
 */
export async function importTimes(
  bundles: readonly BundleResult[],
  rounds: number,
  env: NodeJS.ProcessEnv,
  /** Two bundles compared with each other: imported back to back, which one first alternating. */
  pair: readonly [string, string] = ['', ''],
): Promise<ImportTiming[]> {
  const timings = bundles
    .filter((b) => b.ok && b.file)
    .map((b) => ({ name: b.name, file: b.file as string, samples: [] as number[], cpu: [] as number[], error: undefined as string | undefined }));
  const first = timings.filter((t) => pair.includes(t.name));
  const rest = timings.filter((t) => !pair.includes(t.name));
  for (let round = 0; round < rounds; round++) {
    const order = [...(round % 2 === 0 ? first : [...first].reverse()), ...rest];
    for (const timing of order) {
      if (timing.error) continue;
      try {
        const sample = await importOnce(timing.file, env);
        timing.samples.push(sample.ms);
        timing.cpu.push(sample.cpuMs);
      } catch (error) {
        timing.error = (error as Error).message;
      }
    }
  }
  return timings.map(({ name, samples, cpu, error }) => ({
    name,
    samples,
    medianMs: median(samples),
    medianCpuMs: median(cpu),
    ...(error ? { error } : {}),
  }));
}
