// What the local runtime serves besides the API: the portal build (web/dist/portal) at `/` with a
// single-page-app fallback, its config.json, the widget (web/dist/widget: /widget.js and its
// versioned copy) with its demo page (/widget-demo.html), and the stand-in identity provider. The API routes
// keep priority; this answers only paths no route matches. Headers match what CloudFront sends.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import type { JWK } from 'jose';
import { WIDGET_DIST } from '../../web/build.ts';
import { CACHE_CONTROL, portalResponseHeaders } from '../portal-headers.ts';
import { LOCAL_CLIENT_ID } from './dev-token.ts';
import { createLocalIdentityProvider, IDP_PATHS } from './identity-provider.ts';

export const WEB_DIST = resolve(import.meta.dirname, '../../web/dist');
export const PORTAL_DIST = join(WEB_DIST, 'portal');

/** The widget's demo page: the widget on a localhost page, under the portal's CSP. */
export const WIDGET_DEMO = resolve(import.meta.dirname, '../../web/widget/demo');

/**
 * Folders served at `/`, first match wins: the portal build, the widget build (web/build.ts)
 * and the widget's demo page. Only the portal's index.html is the SPA fallback.
 */
export const STATIC_ROOTS: string[] = [PORTAL_DIST, WIDGET_DIST, WIDGET_DEMO];

/** Any website may load the widget, and read config.json beside it, as from the CDN (CORS `*`). */
const ANY_ORIGIN = { 'Access-Control-Allow-Origin': '*' };
const CROSS_ORIGIN_ROOTS = [WIDGET_DIST];

/** API-looking paths never fall back to the portal: an unknown one stays the API's JSON 404. */
const API_PREFIXES = ['/v1/', '/api/', '/_dev/', '/openapi.json'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export interface WebResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export interface WebRequest {
  method: string;
  url: URL;
  origin: string;
  headers: Record<string, string>;
  readBody: () => Promise<string>;
}

/** The portal's runtime settings for this runtime: it is both the API and the sign-in provider. */
export function localPortalConfig(origin: string) {
  return {
    apiUrl: `${origin}/`,
    authority: origin,
    clientId: LOCAL_CLIENT_ID,
    signOutUrl: origin + IDP_PATHS.logout,
    scope: 'openid email profile',
  };
}

function fileIn(root: string, pathname: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  const file = resolve(root, `.${decoded}`);
  if (file !== root && !file.startsWith(root + sep)) return undefined; // no ../ escapes
  return existsSync(file) && statSync(file).isFile() ? file : undefined;
}

function cacheControlFor(root: string, file: string): string {
  if (file.startsWith(join(root, 'assets') + sep)) return CACHE_CONTROL.immutable; // content-hashed names
  return CACHE_CONTROL.noCache;
}

export function createLocalWeb(options: Parameters<typeof createLocalIdentityProvider>[0]) {
  const idp = createLocalIdentityProvider(options);

  /** Answers non-API paths; undefined when the path is the API's (its JSON 404 applies). */
  return async function handleWeb(request: WebRequest): Promise<WebResponse | undefined> {
    const { method, url, origin } = request;
    if (API_PREFIXES.some((prefix) => url.pathname.startsWith(prefix))) return undefined;
    const idpAnswer = await idp.handle({
      method,
      url,
      origin,
      headers: request.headers,
      body: method === 'POST' ? await request.readBody() : '',
    });
    if (idpAnswer) return idpAnswer;
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    const security = portalResponseHeaders({ connectSrc: [] });
    if (url.pathname === '/config.json') {
      return {
        status: 200,
        headers: { 'Content-Type': 'application/json', 'Cache-Control': CACHE_CONTROL.noStore, ...security, ...ANY_ORIGIN },
        body: JSON.stringify(localPortalConfig(origin)),
      };
    }
    for (const root of STATIC_ROOTS) {
      const file = fileIn(root, url.pathname === '/' ? '/index.html' : url.pathname);
      if (file) {
        return {
          status: 200,
          headers: {
            'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
            'Cache-Control': cacheControlFor(root, file),
            ...security,
            ...(CROSS_ORIGIN_ROOTS.includes(root) ? ANY_ORIGIN : {}),
          },
          body: readFileSync(file),
        };
      }
    }
    // SPA fallback: a page path (no file extension) is the portal's, e.g. /organization/api-key.
    const index = join(PORTAL_DIST, 'index.html');
    if (extname(url.pathname) === '' && existsSync(index)) {
      return {
        status: 200,
        headers: { 'Content-Type': CONTENT_TYPES['.html']!, 'Cache-Control': CACHE_CONTROL.noCache, ...security },
        body: readFileSync(index),
      };
    }
    if (url.pathname === '/' || extname(url.pathname) === '') {
      return {
        status: 503,
        headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': CACHE_CONTROL.noStore },
        body: 'The portal is not built yet: run `npm run build:web` (npm start builds it when missing).\n',
      };
    }
    return undefined;
  };
}
