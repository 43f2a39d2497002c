// widget.js on CloudFront (docs/api.md section 10; README "Chat widget"): any site may load it
// (CORS for every origin), /widget.js is cached briefly and invalidated on deploy, the content-hashed
// copy is immutable, and deploys keep older versions. Checked on a distribution of its own, shaped
// like the portal's (private bucket, Origin Access Control).
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { WidgetHosting } from '../../infra/constructs/widget-hosting.ts';
import { buildWidget, WIDGET_DIST } from '../../scripts/build-widget.ts';

let template: Template;
let resources: Record<string, { Type: string; Properties?: Record<string, any> }>;

beforeAll(async () => {
  await buildWidget();
  const app = new App();
  const stack = new Stack(app, 'WidgetHostingTest', { env: { account: '111111111111', region: 'eu-west-1' } });
  const bucket = new s3.Bucket(stack, 'Site');
  const origin = origins.S3BucketOrigin.withOriginAccessControl(bucket);
  const distribution = new cloudfront.Distribution(stack, 'Portal', { defaultBehavior: { origin } });
  new WidgetHosting(stack, 'Widget', { distribution, origin, bucket, widgetDir: WIDGET_DIST });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
}, 120_000);

function byLogicalId(ref: unknown) {
  const id = (ref as { Ref?: string })?.Ref;
  if (!id || !resources[id]) throw new Error(`no resource for ${JSON.stringify(ref)}`);
  return resources[id]!;
}

function behavior(pathPattern: string) {
  const [distribution] = Object.values(resources).filter((r) => r.Type === 'AWS::CloudFront::Distribution');
  const found = distribution!.Properties!.DistributionConfig.CacheBehaviors.find((b: any) => b.PathPattern === pathPattern);
  expect(found, pathPattern).toBeDefined();
  return found;
}

describe('widget.js on the CloudFront distribution', () => {
  it.each(['/widget.js', '/widget.*.js'])('%s: any origin may load it (CORS *), GET/HEAD only, HTTPS, compressed', (path) => {
    const b = behavior(path);
    expect(b.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(b.AllowedMethods).toEqual(['GET', 'HEAD']);
    expect(b.Compress).toBe(true);
    const cors = byLogicalId(b.ResponseHeadersPolicyId).Properties!.ResponseHeadersPolicyConfig.CorsConfig;
    expect(cors).toMatchObject({
      AccessControlAllowOrigins: { Items: ['*'] },
      AccessControlAllowMethods: { Items: ['GET', 'HEAD'] },
      AccessControlAllowCredentials: false,
      OriginOverride: true,
    });
  });

  it('/widget.js: browsers cache it 5 minutes, the edge too, and each deploy invalidates it', () => {
    const b = behavior('/widget.js');
    const policy = byLogicalId(b.ResponseHeadersPolicyId).Properties!.ResponseHeadersPolicyConfig;
    expect(policy.CustomHeadersConfig.Items).toEqual([{ Header: 'Cache-Control', Value: 'public, max-age=300', Override: true }]);
    const cache = byLogicalId(b.CachePolicyId).Properties!.CachePolicyConfig;
    expect(cache).toMatchObject({ DefaultTTL: 300, MaxTTL: 300, MinTTL: 0 });
    const deployment = Object.values(resources).find((r) => r.Type === 'Custom::CDKBucketDeployment')!;
    expect(deployment.Properties).toMatchObject({ DistributionPaths: ['/widget.js'], Prune: false });
  });

  it('/config.json (which names the API for the widget): readable by any site, never cached', () => {
    const b = behavior('/config.json');
    const policy = byLogicalId(b.ResponseHeadersPolicyId).Properties!.ResponseHeadersPolicyConfig;
    expect(policy.CorsConfig).toMatchObject({ AccessControlAllowOrigins: { Items: ['*'] }, AccessControlAllowMethods: { Items: ['GET', 'HEAD'] } });
    expect(policy.CustomHeadersConfig.Items).toEqual([{ Header: 'Cache-Control', Value: 'no-store', Override: true }]);
    // The managed CachingDisabled policy (id from AWS's documentation).
    expect(b.CachePolicyId).toBe('4135ea2d-6df8-44a3-9df3-4b5a84be39ad');
  });

  it('/widget.<hash>.js: immutable for a year (a pinned version never changes)', () => {
    const b = behavior('/widget.*.js');
    const policy = byLogicalId(b.ResponseHeadersPolicyId).Properties!.ResponseHeadersPolicyConfig;
    expect(policy.CustomHeadersConfig.Items).toEqual([{ Header: 'Cache-Control', Value: 'public, max-age=31536000, immutable', Override: true }]);
    // The managed CachingOptimized policy (id from AWS's documentation).
    expect(b.CachePolicyId).toBe('658327ea-f89d-4fab-a63d-7e88639e58f6');
  });
});
