// The portal's hosting and sign-in in the synthesized template (docs/api.md "Portal (web)"): what is
// verified here without an AWS account. Expected values are written from the contract and the
// construct's documented choices, not read back from the code.
import { describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import { functionByName, ofType, referencedIds, single, synthBeforeAll } from '../support/stack.ts';

const s = synthBeforeAll();

/** The template's value as text, with CloudFormation joins flattened (tokens shown as {Ref}). */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flatten).join('');
  if (value && typeof value === 'object') {
    const [key, arg] = Object.entries(value)[0] ?? [];
    if (key === 'Fn::Join') return (arg[1] as unknown[]).map(flatten).join(arg[0] as string);
    if (key === 'Ref') return `{${arg}}`;
    if (key === 'Fn::GetAtt') return `{${(arg as string[]).join('.')}}`;
    if (key === 'Fn::Select' || key === 'Fn::Split') return `{${key}}`;
    return `{${key}}`;
  }
  return String(value);
}

describe('portal hosting', () => {
  it('a private bucket: public access blocked, TLS only, readable by the distribution alone', () => {
    const [bucketId, bucket] = single(s.resources, 'AWS::S3::Bucket');
    expect(bucket.Properties!.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const [, policy] = single(s.resources, 'AWS::S3::BucketPolicy');
    expect(policy.Properties!.Bucket).toEqual({ Ref: bucketId });
    const statements = policy.Properties!.PolicyDocument.Statement as any[];
    const denyHttp = statements.find((st) => st.Effect === 'Deny');
    expect(denyHttp.Condition).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
    const reads = statements.filter((st) => st.Effect === 'Allow');
    expect(reads).toHaveLength(1);
    expect(reads[0].Principal).toEqual({ Service: 'cloudfront.amazonaws.com' });
    expect(reads[0].Action).toBe('s3:GetObject');
    const [distributionId] = single(s.resources, 'AWS::CloudFront::Distribution');
    expect(referencedIds(reads[0].Condition)).toEqual(new Set([distributionId]));
  });

  it('CloudFront reaches the bucket through Origin Access Control (not the legacy OAI)', () => {
    const [oacId, oac] = single(s.resources, 'AWS::CloudFront::OriginAccessControl');
    expect(oac.Properties!.OriginAccessControlConfig).toMatchObject({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' });
    expect(ofType(s.resources, 'AWS::CloudFront::CloudFrontOriginAccessIdentity')).toHaveLength(0);
    const [, distribution] = single(s.resources, 'AWS::CloudFront::Distribution');
    const config = distribution.Properties!.DistributionConfig;
    expect(config.Origins).toHaveLength(1);
    expect(config.Origins[0].OriginAccessControlId).toEqual({ 'Fn::GetAtt': [oacId, 'Id'] });
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
  });

  it('page paths fall back to index.html (a viewer-request function), files keep their own answers', () => {
    const [fnId, fn] = single(s.resources, 'AWS::CloudFront::Function');
    expect(fn.Properties!.FunctionCode).toContain("request.uri = '/index.html'");
    const [, distribution] = single(s.resources, 'AWS::CloudFront::Distribution');
    expect(distribution.Properties!.DistributionConfig.DefaultCacheBehavior.FunctionAssociations).toEqual([
      { EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [fnId, 'FunctionARN'] } },
    ]);
  });

  it('security headers: strict CSP with connect-src the API and Cognito only, HSTS, nosniff, no framing', () => {
    // The portal's policy is its default behavior's (the widget's files have their own: widget-hosting.test.ts).
    const [, distribution] = single(s.resources, 'AWS::CloudFront::Distribution');
    const headersId = distribution.Properties!.DistributionConfig.DefaultCacheBehavior.ResponseHeadersPolicyId.Ref as string;
    const headers = s.resources[headersId]!;
    expect(headers.Type).toBe('AWS::CloudFront::ResponseHeadersPolicy');
    const security = headers.Properties!.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    const csp = flatten(security.ContentSecurityPolicy.ContentSecurityPolicy);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const connect = csp.split('; ').find((d) => d.startsWith('connect-src'))!;
    const [restApiId] = single(s.resources, 'AWS::ApiGateway::RestApi');
    expect(connect.split(' ')).toEqual([
      'connect-src',
      "'self'",
      `https://{${restApiId}}.execute-api.{AWS::Region}.{AWS::URLSuffix}`,
      'https://cognito-idp.{AWS::Region}.amazonaws.com',
      expect.stringMatching(/^https:\/\/\{.+\}\.auth\.\{AWS::Region\}\.amazoncognito\.com$/),
    ]);
    expect(security.StrictTransportSecurity).toMatchObject({ AccessControlMaxAgeSec: 63072000, IncludeSubdomains: true, Override: true });
    expect(security.ContentTypeOptions).toEqual({ Override: true });
    expect(security.FrameOptions).toEqual({ FrameOption: 'DENY', Override: true });
  });

  it('config.json is written at deploy time (API URL, Cognito issuer and client) and never cached; hashed assets are immutable', () => {
    // The portal's deployments (the widget's own is checked in widget-hosting.test.ts).
    const deployments = ofType(s.resources, 'Custom::CDKBucketDeployment')
      .filter(([id]) => !id.startsWith('WidgetHosting'))
      .map(([, r]) => r.Properties!);
    expect(deployments).toHaveLength(3);
    const byCache = Object.fromEntries(deployments.map((d) => [d.SystemMetadata['cache-control'], d]));
    expect(Object.keys(byCache).sort()).toEqual(['no-cache', 'no-store', 'public, max-age=31536000, immutable']);
    const config = byCache['no-store']!;
    expect(config.SystemMetadata['content-type']).toBe('application/json');
    expect(config.DistributionPaths).toEqual(['/config.json']);
    const markers = JSON.stringify(config.SourceMarkers);
    const [restApiId] = single(s.resources, 'AWS::ApiGateway::RestApi');
    const [clientId] = single(s.resources, 'AWS::Cognito::UserPoolClient');
    expect(markers).toContain(`"Ref":"${restApiId}"`);
    expect(markers).toContain(`"Ref":"${clientId}"`);
    expect(byCache['no-cache']!.DistributionPaths).toEqual(['/index.html', '/']);
  });

  it('outputs PortalUrl', () => {
    s.template.hasOutput('PortalUrl', { Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.anyValue(), 'DomainName'] }, '/']] } });
  });

  it('the management function answers CORS for the portal origin only', () => {
    const [, fn] = functionByName(s, 'management');
    const [distributionId] = single(s.resources, 'AWS::CloudFront::Distribution');
    expect(fn.Properties!.Environment.Variables.PORTAL_ORIGINS).toEqual({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] });
  });
});

describe('sign-in with Cognito managed login', () => {
  it('a user-pool domain with managed login, its prefix from the stage and this stack’s id', () => {
    const [, domain] = single(s.resources, 'AWS::Cognito::UserPoolDomain');
    expect(domain.Properties!.ManagedLoginVersion).toBe(2);
    const prefix = domain.Properties!.Domain;
    // keygate-<stage>-<first block of the stack's UUID>: never a fixed prefix.
    expect(prefix['Fn::Join'][0]).toBe('-');
    expect(prefix['Fn::Join'][1][0]).toBe('keygate-dev');
    expect(JSON.stringify(prefix['Fn::Join'][1][1])).toContain('AWS::StackId');
    const [, branding] = single(s.resources, 'AWS::Cognito::ManagedLoginBranding');
    expect(branding.Properties!.UseCognitoProvidedValues).toBe(true);
  });

  it('an app client for the portal: authorization code (PKCE, no secret), callback and logout on the distribution', () => {
    const [clientId, client] = single(s.resources, 'AWS::Cognito::UserPoolClient');
    const p = client.Properties!;
    expect(p.GenerateSecret).toBe(false);
    expect(p.AllowedOAuthFlows).toEqual(['code']);
    expect(p.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect([...p.AllowedOAuthScopes].sort()).toEqual(['email', 'openid', 'profile']);
    expect(p.SupportedIdentityProviders).toEqual(['COGNITO']);
    const [distributionId] = single(s.resources, 'AWS::CloudFront::Distribution');
    const url = { 'Fn::GetAtt': [distributionId, 'DomainName'] };
    expect(p.CallbackURLs).toEqual([{ 'Fn::Join': ['', ['https://', url, '/callback']] }]);
    expect(p.LogoutURLs).toEqual([{ 'Fn::Join': ['', ['https://', url, '/']] }]);
    const [, fn] = functionByName(s, 'management');
    expect(fn.Properties!.Environment.Variables.PORTAL_CLIENT_ID).toEqual({ Ref: clientId });
  });
});

describe('user pool: verified emails and operators with MFA (docs/api.md "Authentication")', () => {
  it('a changed email is kept unverified until verified: the original stays the user\'s email', () => {
    const [, pool] = single(s.resources, 'AWS::Cognito::UserPool');
    expect(pool.Properties!.UserAttributeUpdateSettings).toEqual({ AttributesRequireVerificationBeforeUpdate: ['email'] });
    expect(pool.Properties!.AutoVerifiedAttributes).toEqual(['email']);
  });

  it('the portal client cannot write email (its write attributes are listed, email not among them)', () => {
    const [, client] = single(s.resources, 'AWS::Cognito::UserPoolClient');
    const write = client.Properties!.WriteAttributes as string[];
    expect(Array.isArray(write) && write.length > 0).toBe(true);
    expect(write).not.toContain('email');
    expect(write).not.toContain('email_verified');
  });

  it('MFA optional with TOTP (no SMS), and a pre-token-generation trigger that keeps operators for TOTP users only', () => {
    const [poolId, pool] = single(s.resources, 'AWS::Cognito::UserPool');
    expect(pool.Properties!.MfaConfiguration).toBe('OPTIONAL');
    expect(pool.Properties!.EnabledMfas).toEqual(['SOFTWARE_TOKEN_MFA']);
    const [fnId, fn] = functionByName(s, 'operatorTokens');
    expect(fn.Properties!.Handler).toBe('index.handler');
    expect(pool.Properties!.LambdaConfig.PreTokenGeneration).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
    const [, group] = single(s.resources, 'AWS::Cognito::UserPoolGroup');
    expect(group.Properties!.GroupName).toBe('operators');
    // The trigger reads the user's MFA settings (AdminGetUser on this pool), nothing more.
    const statements = ofType(s.resources, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties!.PolicyDocument).includes('cognito-idp:AdminGetUser'))
      .flatMap(([, p]) => p.Properties!.PolicyDocument.Statement as any[]);
    expect(statements).toEqual([{ Action: 'cognito-idp:AdminGetUser', Effect: 'Allow', Resource: { 'Fn::GetAtt': [poolId, 'Arn'] } }]);
  });
});
