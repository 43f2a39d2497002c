// The portal's security headers, written once: the CloudFront ResponseHeadersPolicy of the stack
// and the local runtime's static server both use them, so the build is tested under the same CSP
// it gets in AWS. No CDK imports here: the local runtime loads this file.

export interface PortalCspSources {
  /** Origins the portal may call with fetch: the API and the sign-in provider (Cognito). */
  connectSrc: string[];
}

/** Strict CSP for the portal: own scripts and styles only, no framing, fetch to the API and Cognito only. */
export function portalContentSecurityPolicy({ connectSrc }: PortalCspSources): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${connectSrc.join(' ')}`.trim(),
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** HSTS: two years, subdomains (CloudFront sends it over HTTPS; browsers ignore it over plain HTTP). */
export const HSTS_MAX_AGE_SECONDS = 63_072_000;

/** Cache-Control per kind of file: hashed assets forever, the shell and its settings never. */
export const CACHE_CONTROL = {
  immutable: 'public, max-age=31536000, immutable',
  noCache: 'no-cache',
  noStore: 'no-store',
} as const;

/** The headers the local runtime sends with portal files (CloudFront adds the same through its policy). */
export function portalResponseHeaders(sources: PortalCspSources): Record<string, string> {
  return {
    'Content-Security-Policy': portalContentSecurityPolicy(sources),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'strict-origin-when-cross-origin',
  };
}
