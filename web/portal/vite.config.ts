// The portal's build: web/portal -> web/dist/portal (index.html plus content-hashed assets/).
// The local runtime serves that folder at `/` and the CDK stack uploads it to the portal bucket;
// config.json (API URL, sign-in settings) is not part of the build: each of them writes its own.
// web/build.ts runs this config and builds the widget too (npm run build:web builds both).
import { resolve } from 'node:path';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export const PORTAL_OUT_DIR = resolve(import.meta.dirname, '../dist/portal');

export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact()],
  build: {
    outDir: PORTAL_OUT_DIR,
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
  },
});
