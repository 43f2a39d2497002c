// widget.js on CloudFront (docs/api.md "Chat widget"; README "Chat widget"): any site may load it
// (CORS for every origin), /widget.js is cached briefly and invalidated on deploy, the content-hashed
// copy is immutable, and deploys keep older versions: on the portal's distribution in the stack.
import { describe, expect, it } from 'vitest';
import { synthBeforeAll } from '../support/stack.ts';

const s = synthBeforeAll();

function byLogicalId(ref: unknown) {
  const id = (ref as { Ref?: string })?.Ref;
  if (!id || !s.resources[id]) throw new Error(`no resource for ${JSON.stringify(ref)}`);
  return s.resources[id]!;
}

/** The stack's one distribution: the portal's (its default root object is the portal's index.html). */
function portalDistribution() {
  const distributions = Object.values(s.resources).filter((r) => r.Type === 'AWS::CloudFront::Distribution');
  expect(distributions).toHaveLength(1);
  expect(distributions[0]!.Properties!.DistributionConfig.DefaultRootObject).toBe('index.html');
  return distributions[0]!;
}

function behavior(pathPattern: string) {
  const found = portalDistribution().Properties!.DistributionConfig.CacheBehaviors.find((b: any) => b.PathPattern === pathPattern);
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
    const deployments = Object.values(s.resources).filter(
      (r) => r.Type === 'Custom::CDKBucketDeployment' && JSON.stringify(r.Properties?.DistributionPaths) === '["/widget.js"]',
    );
    expect(deployments).toHaveLength(1);
    expect(deployments[0]!.Properties).toMatchObject({ Prune: false });
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

  it('no deployment of the bucket prunes (a pinned widget.<hash>.js stays), and they share one handler function', () => {
    const deployments = Object.values(s.resources).filter((r) => r.Type === 'Custom::CDKBucketDeployment');
    expect(deployments.length).toBeGreaterThanOrEqual(2);
    for (const d of deployments) expect(d.Properties!.Prune).toBe(false);
    expect(new Set(deployments.map((d) => JSON.stringify(d.Properties!.ServiceToken))).size).toBe(1);
  });
});
