// Builds widget.js (web/widget) with esbuild: one minified IIFE holding Preact, eventsource-parser
// and the widget's stylesheet, so a page needs nothing but the <script> tag. Output in web/dist/widget/:
//   widget.js            the file the embed snippet names (served with a short cache)
//   widget.<hash>.js     the same bytes under a content hash (immutable: for pinning a version)
// `npm run build:widget` runs this; `npm start` and the browser tests build before serving.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, transform, type Plugin } from 'esbuild';

export const ROOT = resolve(import.meta.dirname, '..');
export const WIDGET_ENTRY = join(ROOT, 'web/widget/widget.tsx');
export const WIDGET_DIST = join(ROOT, 'web/dist/widget');
/** docs/api.md "Chat widget": widget.js is at most 30 KiB gzip. */
export const WIDGET_GZIP_BUDGET = 30 * 1024;

/** `import css from './widget.css'`: the stylesheet minified, as a string. */
const cssAsText: Plugin = {
  name: 'css-as-text',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /\.css$/ }, async (args) => {
      const { code } = await transform(readFileSync(args.path, 'utf8'), { loader: 'css', minify: true });
      return { contents: `export default ${JSON.stringify(code.trim())};`, loader: 'js' };
    });
  },
};

/** The bundle's bytes, built in memory (deterministic: same sources, same bytes). */
export async function bundleWidget(): Promise<Uint8Array> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [WIDGET_ENTRY],
    tsconfig: join(ROOT, 'web/tsconfig.json'),
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    charset: 'utf8',
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    plugins: [cssAsText],
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('esbuild produced no widget bundle');
  return output.contents;
}

/** Gzip size as a CDN would send it (zlib's default level, like `gzip`). */
export function gzipBytes(bytes: Uint8Array): number {
  return gzipSync(bytes).byteLength;
}

export interface WidgetBuild {
  /** web/dist/widget/widget.js */
  file: string;
  /** widget.<hash>.js, the same bytes */
  versionedName: string;
  bytes: number;
  gzipBytes: number;
}

export async function buildWidget(outDir = WIDGET_DIST): Promise<WidgetBuild> {
  const bytes = await bundleWidget();
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  const versionedName = `widget.${hash}.js`;
  mkdirSync(outDir, { recursive: true });
  // Only the current version stays in the local folder (a deployment keeps older ones in the bucket).
  for (const name of readdirSync(outDir)) {
    if (/^widget\.[0-9a-f]{12}\.js$/.test(name) && name !== versionedName) rmSync(join(outDir, name));
  }
  const file = join(outDir, 'widget.js');
  // Written to a temporary name and renamed: a server reading the folder meanwhile (another test
  // file builds it too) sees the old file or the new one, never half of one.
  for (const target of [file, join(outDir, versionedName)]) {
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, bytes);
    renameSync(temporary, target);
  }
  return { file, versionedName, bytes: bytes.byteLength, gzipBytes: gzipBytes(bytes) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildWidget();
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    `widget.js: ${kib(built.bytes)}, ${kib(built.gzipBytes)} gzip (${((built.gzipBytes / WIDGET_GZIP_BUDGET) * 100).toFixed(0)}% of the ${kib(WIDGET_GZIP_BUDGET)} budget) -> ${built.file}, ${built.versionedName}`,
  );
}
