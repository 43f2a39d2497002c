// What the function bundles hold and what they load only on first use (cold-start trimming,
// docs/benchmarks.md figure 4). Built with the construct's esbuild options (FUNCTION_BUILD: ESM, node24,
// minified, its aliases) and read from esbuild's metafile, so the checks are about the module graph,
// not timings.
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { FUNCTION_BUILD } from '../../infra/constructs/keygate-function.ts';
import { AUTHORIZER_ENTRY, FUNCTION_ENTRIES } from '../../shared/routes.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const ENTRIES = { authorizer: AUTHORIZER_ENTRY, ...FUNCTION_ENTRIES };

async function metafileOf(entry: string): Promise<Metafile> {
  const result = await build({
    ...FUNCTION_BUILD,
    mainFields: [...FUNCTION_BUILD.mainFields],
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outdir: 'out',
    bundle: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return result.metafile;
}

/** The modules with code in the bundle, in any of its files (the metafile's inputs also list the ones tree-shaken away). */
function bundled(meta: Metafile): string[] {
  const paths = Object.values(meta.outputs).flatMap((output) =>
    Object.entries(output.inputs).filter(([, input]) => input.bytesInOutput > 0).map(([path]) => path),
  );
  return [...new Set(paths)];
}

/** How each bundled importer reaches `target` (a path fragment): 'import-statement', 'dynamic-import', ... */
function edgesTo(meta: Metafile, target: string): { from: string; kind: string }[] {
  const kept = new Set(bundled(meta));
  return Object.entries(meta.inputs)
    .filter(([from]) => kept.has(from))
    .flatMap(([from, input]) => input.imports.filter((i) => i.path.includes(target)).map((i) => ({ from, kind: i.kind })));
}

describe.each(Object.entries(ENTRIES))('bundle of %s', (_name, entry) => {
  it('holds no zod locale but English (zod is imported as `import * as z`, which esbuild tree-shakes)', async () => {
    const meta = await metafileOf(entry);
    // locales/index.js is no locale: where zod is also reached through a dynamic import (management's
    // route modules), esbuild keeps the index as an empty lazy initialiser of a few bytes.
    const locales = bundled(meta).filter(
      (path) => path.includes('zod/v4/locales/') && !path.endsWith('/en.js') && !path.endsWith('/locales/index.js'),
    );
    expect(locales).toEqual([]);
  });

  it('loads the Secrets Manager, KMS and Bedrock clients only on first use (dynamic import)', async () => {
    const meta = await metafileOf(entry);
    for (const edge of edgesTo(meta, '@aws-sdk/client-secrets-manager/dist-es/index.js')) expect(edge).toEqual({ from: edge.from, kind: 'dynamic-import' });
    for (const edge of edgesTo(meta, '@aws-sdk/client-kms/dist-es/index.js')) expect(edge).toEqual({ from: edge.from, kind: 'dynamic-import' });
    for (const edge of edgesTo(meta, 'shared/chat/bedrock-backend.ts')) expect(edge).toEqual({ from: edge.from, kind: 'dynamic-import' });
    for (const edge of edgesTo(meta, '@aws-sdk/client-bedrock-runtime/dist-es/index.js')) expect(edge.from).toBe('shared/chat/bedrock-backend.ts');
  });

  it('loads the route modules of management (schemas, suffix list, clients, API description) only on first use (dynamic import)', async () => {
    const meta = await metafileOf(entry);
    const routeModules = edgesTo(meta, 'functions/management/');
    if (entry === FUNCTION_ENTRIES.management) expect(routeModules.length).toBeGreaterThanOrEqual(5);
    for (const edge of routeModules) expect(edge).toEqual({ from: 'functions/management.ts', kind: 'dynamic-import' });
    for (const edge of edgesTo(meta, 'shared/api-description/document.ts')) expect(edge.from).toBe('functions/management/api-description.ts');
  });
});
