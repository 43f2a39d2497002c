// The portal's first page load: every script index.html loads before the first render (the entry
// module and its modulepreloads), gzip-compressed as CloudFront serves them. Lazy chunks would not
// count; the portal has none today.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** docs/api.md "Portal (web)" goal: the portal shell, sign-in library included, at most 60 KiB gzip. */
export const PORTAL_FIRST_LOAD_GZIP_BUDGET = 60 * 1024;

export interface FirstLoad {
  files: { path: string; bytes: number; gzip: number }[];
  bytes: number;
  gzip: number;
}

export function portalFirstLoadJs(buildDir: string): FirstLoad {
  const html = readFileSync(join(buildDir, 'index.html'), 'utf8');
  const paths = [
    ...html.matchAll(/<script\b[^>]*\bsrc="([^"]+\.js)"/g),
    ...html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*\bhref="([^"]+\.js)"/g),
  ].map((m) => m[1]!);
  const files = [...new Set(paths)].map((path) => {
    const bytes = readFileSync(join(buildDir, path));
    return { path, bytes: bytes.byteLength, gzip: gzipSync(bytes, { level: 9 }).byteLength };
  });
  return { files, bytes: files.reduce((s, f) => s + f.bytes, 0), gzip: files.reduce((s, f) => s + f.gzip, 0) };
}
