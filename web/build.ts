// The one build of the browser code, for `npm run build:web` (`node web/build.ts [portal|widget]`),
// `npm start`, `cdk synth`, the bench and the browser, infra and bundle tests:
//   portal  web/portal -> web/dist/portal, with Vite's API (web/portal/vite.config.ts). Rebuilt by
//           ensureWebBuilt() only when missing or older than its sources; a build is written beside
//           the target and moved into place, so a reader (a synth hashing the folder) never sees a
//           half-written one.
//   widget  web/widget -> web/dist/widget, with esbuild: one minified IIFE holding Preact,
//           eventsource-parser and the widget's stylesheet, so a page needs nothing but the
//           <script> tag. Built every time (well under a second):
//             widget.js            the file the embed snippet names (served with a short cache)
//             widget.<hash>.js     the same bytes under a content hash (immutable: for pinning a version)
// Runs in Node (the root tsconfig checks it), never in the browser.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, transform, type Plugin } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');

// ---- portal ----

const PORTAL_CONFIG = join(ROOT, 'web/portal/vite.config.ts');
export const PORTAL_BUILD = join(ROOT, 'web/dist/portal');
/** What the portal bundle is made of: a change in any of these makes the build stale. */
const PORTAL_SOURCES = [join(ROOT, 'web/portal'), join(ROOT, 'web/api')];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Builds the portal into `outDir` (a test builds its own copy, leaving the served one alone). */
export async function buildPortal(outDir = PORTAL_BUILD): Promise<void> {
  const { build: viteBuild } = await import('vite');
  const staging = `${outDir}.build-${process.pid}-${Date.now()}`;
  // Vite keeps a NODE_ENV it finds (vitest sets `test`), and Preact's JSX is then the development
  // one (jsxDEV with file names, 30 % larger); what npm start and the stack serve is the production build.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await viteBuild({ configFile: PORTAL_CONFIG, logLevel: 'warn', mode: 'production', build: { outDir: staging, emptyOutDir: true } });
    if (!existsSync(join(staging, 'index.html'))) throw new Error(`The portal build did not produce index.html`);
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
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

// ---- widget ----

const WIDGET_ENTRY = join(ROOT, 'web/widget/widget.tsx');
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

// ---- both ----

/** What `npm start`, `cdk synth`, the bench and the test setups serve or upload: the portal built when stale, widget.js always. */
export async function ensureWebBuilt(): Promise<{ portalBuilt: boolean; widget: WidgetBuild }> {
  const portalBuilt = await ensurePortalBuilt();
  const widget = await buildWidget();
  return { portalBuilt, widget };
}

function describeWidget(built: WidgetBuild): string {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const share = ((built.gzipBytes / WIDGET_GZIP_BUDGET) * 100).toFixed(0);
  return `widget.js: ${kib(built.bytes)}, ${kib(built.gzipBytes)} gzip (${share}% of the ${kib(WIDGET_GZIP_BUDGET)} budget) -> ${built.file}, ${built.versionedName}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const what = process.argv[2] ?? 'all';
  if (!['all', 'portal', 'widget'].includes(what)) {
    console.error('usage: node web/build.ts [portal|widget]   (no argument: both)');
    process.exit(2);
  }
  if (what !== 'widget') {
    await buildPortal();
    console.log(`portal -> ${PORTAL_BUILD}`);
  }
  if (what !== 'portal') console.log(describeWidget(await buildWidget()));
}
