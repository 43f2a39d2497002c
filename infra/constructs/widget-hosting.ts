// widget.js on the portal's CloudFront distribution (docs/api.md "Chat widget"): any website loads
// `<portal URL>/widget.js`, so both widget files are served with CORS for every origin, and cached:
//   /widget.js           the file every snippet names: browsers and the edge keep it 5 minutes
//                        (revalidated by ETag after that), and each deploy invalidates it at the
//                        edge, so a new widget reaches every site within 5 minutes.
//   /widget.<hash>.js    the same bytes under their content hash: immutable for a year, for sites
//                        that pin a version (e.g. with Subresource Integrity). Deploys never delete
//                        old versions (prune off), so a pinned URL keeps working.
// The files come from `web/dist/widget` (web/build.ts, which `cdk synth` runs first).
//   /config.json         the portal's runtime settings, which name the API the widget calls
//                        (web/widget/config.ts): readable by any site too (CORS `*`), never cached.
// The portal's own deployments must not prune these files (they do not: prune is off).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { globalName } from './portal-hosting.ts';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { HSTS_MAX_AGE_SECONDS } from '../portal-headers.ts';

/** Browser caching of each widget file (the edge's TTLs match). */
export const WIDGET_CACHE_CONTROL = {
  current: 'public, max-age=300',
  versioned: 'public, max-age=31536000, immutable',
} as const;

export const WIDGET_CURRENT_TTL = Duration.minutes(5);

export interface WidgetHostingProps {
  distribution: cloudfront.Distribution;
  /** The distribution's origin for the portal bucket (the widget files sit beside the portal's). */
  origin: cloudfront.IOrigin;
  bucket: s3.IBucket;
  /** The built widget folder (widget.js and widget.<hash>.js). */
  widgetDir: string;
}

export class WidgetHosting extends Construct {
  readonly currentPolicy: cloudfront.ResponseHeadersPolicy;
  readonly versionedPolicy: cloudfront.ResponseHeadersPolicy;
  readonly configPolicy: cloudfront.ResponseHeadersPolicy;

  constructor(scope: Construct, id: string, props: WidgetHostingProps) {
    super(scope, id);
    const { distribution, origin, bucket, widgetDir } = props;
    if (!existsSync(join(widgetDir, 'widget.js'))) {
      throw new Error(`The widget is not built: ${widgetDir}/widget.js is missing. Run \`npm run build:widget\` before \`cdk synth\`.`);
    }

    const headers = (name: string, cacheControl: string) =>
      new cloudfront.ResponseHeadersPolicy(this, name, {
        responseHeadersPolicyName: globalName(this, `widget-${name}`),
        comment: `Keygate widget (${name}): CORS for any site, ${cacheControl}`,
        corsBehavior: {
          accessControlAllowOrigins: ['*'],
          accessControlAllowMethods: ['GET', 'HEAD'],
          accessControlAllowHeaders: ['*'],
          accessControlAllowCredentials: false,
          originOverride: true,
        },
        customHeadersBehavior: { customHeaders: [{ header: 'Cache-Control', value: cacheControl, override: true }] },
        securityHeadersBehavior: {
          contentTypeOptions: { override: true },
          strictTransportSecurity: { accessControlMaxAge: Duration.seconds(HSTS_MAX_AGE_SECONDS), includeSubdomains: true, override: true },
        },
      });
    this.currentPolicy = headers('Current', WIDGET_CACHE_CONTROL.current);
    this.versionedPolicy = headers('Versioned', WIDGET_CACHE_CONTROL.versioned);

    const currentCache = new cloudfront.CachePolicy(this, 'CurrentCache', {
      comment: 'Keygate widget.js: 5 minutes at the edge, invalidated on deploy',
      defaultTtl: WIDGET_CURRENT_TTL,
      maxTtl: WIDGET_CURRENT_TTL,
      minTtl: Duration.seconds(0),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });

    const behavior = (cachePolicy: cloudfront.ICachePolicy, responseHeadersPolicy: cloudfront.IResponseHeadersPolicy): cloudfront.AddBehaviorOptions => ({
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
      cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
      compress: true,
      cachePolicy,
      responseHeadersPolicy,
    });
    distribution.addBehavior('/widget.js', origin, behavior(currentCache, this.currentPolicy));
    distribution.addBehavior('/widget.*.js', origin, behavior(cloudfront.CachePolicy.CACHING_OPTIMIZED, this.versionedPolicy));
    this.configPolicy = headers('Config', 'no-store');
    distribution.addBehavior('/config.json', origin, behavior(cloudfront.CachePolicy.CACHING_DISABLED, this.configPolicy));

    new s3deploy.BucketDeployment(this, 'Files', {
      sources: [s3deploy.Source.asset(widgetDir)],
      destinationBucket: bucket,
      prune: false,
      // The portal's deployments' memory: they then share one handler function (and its review in nag.ts terms).
      memoryLimit: 256,
      distribution,
      distributionPaths: ['/widget.js'],
    });
  }
}
