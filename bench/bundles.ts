// The cold-start baseline (bench/cold-start.ts): a handler holding only a default-config
// `DynamoDBClient` + `GetItemCommand`, built with the esbuild options the CDK uses for every
// function (infra/constructs/keygate-function.ts: ESM, platform node, target node24, minified, main
// fields module,main, source maps without sources content, the createRequire banner, AWS SDK
// bundled rather than external) but without its cold-start trimming: the smallest bundle that can
// do the authorizer's one read, as one would first write it.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

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

export interface BundleResult {
  name: string;
  entry: string;
  ok: boolean;
  error?: string;
  /** Bytes of the minified .mjs. */
  bytes?: number;
  /** Where the .mjs (and its .map) were written. */
  file?: string;
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
      write: false,
      logLevel: 'silent',
    });
    let bytes = 0;
    for (const file of result.outputFiles) {
      writeFileSync(file.path, file.contents);
      if (file.path === outfile) bytes = file.contents.byteLength;
    }
    return { name, entry, ok: true, bytes, file: outfile };
  } catch (error) {
    const errors = (error as { errors?: { text: string; location?: { file?: string } | null }[] }).errors;
    const message = errors?.length
      ? errors.map((e) => `${e.text}${e.location?.file ? ` (in ${e.location.file})` : ''}`).join('; ')
      : String((error as Error).message ?? error);
    return { name, entry, ok: false, error: message };
  }
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
