// widget.js as built for every page that embeds it (docs/api.md "Chat widget"): at most 30 KiB gzip,
// no eval of any kind (a page's CSP need not allow 'unsafe-eval'), and no address of its own to
// call: it talks only to the API and to its own origin (config.json beside it).
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleWidget, gzipBytes } from '../../web/build.ts';

const BUDGET_GZIP_BYTES = 30 * 1024;

let code: string;
let bytes: Uint8Array;

beforeAll(async () => {
  bytes = await bundleWidget();
  code = new TextDecoder().decode(bytes);
});

describe('widget.js bundle', () => {
  it('is at most 30 KiB gzip', () => {
    const gzip = gzipBytes(bytes);
    console.info(`widget.js: ${bytes.byteLength} bytes, ${gzip} gzip (${((gzip / BUDGET_GZIP_BYTES) * 100).toFixed(1)}% of the budget)`);
    expect(gzip).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });

  it('is deterministic: the same sources give the same bytes', async () => {
    expect(Buffer.from(await bundleWidget()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('evaluates no strings as code', () => {
    expect(code).not.toMatch(/\beval\s*\(|new Function\s*\(|setTimeout\s*\(\s*["'`]/);
  });

  it('names no host to talk to (only XML namespaces and a placeholder base for URL parsing)', () => {
    const urls = new Set(code.match(/\bhttps?:\/\/[^\s"'`)]+/g) ?? []);
    const allowed = ['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xhtml', 'http://www.w3.org/1998/Math/MathML', 'http://path.invalid/'];
    expect([...urls].filter((url) => !allowed.includes(url))).toEqual([]);
  });

  it('is a classic script (an IIFE), as a plain <script src> needs', () => {
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
  });
});
