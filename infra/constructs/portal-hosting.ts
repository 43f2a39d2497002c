// The portal's hosting (docs/api.md "Portal (web)"): a private S3 bucket behind CloudFront with Origin
// Access Control, a single-page-app fallback, strict security headers, and config.json written at
// deploy time so one build serves every stage. Hashed assets are cached for a year; index.html and
// config.json are never cached. widget.js joins this distribution through WidgetHosting
// (widget-hosting.ts), which takes `distribution`, `origin` and `bucket` from here.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { CACHE_CONTROL, HSTS_MAX_AGE_SECONDS, portalContentSecurityPolicy } from '../portal-headers.ts';
import { acknowledge } from './nag.ts';

/** What the portal reads from /config.json (web/portal/src/config.ts). */
export interface PortalRuntimeConfig {
  apiUrl: string;
  authority: string;
  clientId: string;
  signOutUrl: string;
  scope: string;
}

export interface PortalHostingProps {
  stage: string;
  /** The built portal (web/dist/portal): `npm run build:web`, run by infra/app.ts before synth. */
  assetsDir: string;
  /** Origins the portal calls: the API and Cognito (CSP connect-src). */
  connectSrc: string[];
}

/** Rewrites page paths (no file extension) to /index.html: the SPA fallback, keeping real 404s for files. */
const SPA_REWRITE = `function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  if (last.indexOf('.') === -1) request.uri = '/index.html';
  return request;
}`;

export class PortalHosting extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** https://<id>.cloudfront.net, without a trailing slash. */
  readonly url: string;
  /** The bucket's origin (OAC), for further behaviors on this distribution (the widget's). */
  readonly origin: cloudfront.IOrigin;

  constructor(scope: Construct, id: string, props: PortalHostingProps) {
    super(scope, id);
    if (!existsSync(join(props.assetsDir, 'index.html'))) {
      throw new Error(`The portal is not built: ${props.assetsDir}/index.html is missing. Run \`npm run build:web\` before \`cdk synth\`.`);
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Only build output lives here: the next deploy writes it again. Kept on delete (CloudFormation
      // cannot delete a bucket with objects), but not after a failed first create.
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    acknowledge(this.bucket, {
      id: 'AwsSolutions-S1',
      reason: 'The bucket holds only the public portal build, read through CloudFront; requests are visible in CloudFront metrics, so S3 server access logs would add cost without information.',
    });

    const headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      responseHeadersPolicyName: globalName(this, 'portal-headers'),
      comment: `Keygate ${props.stage} portal: strict CSP, HSTS, nosniff, no framing`,
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: portalContentSecurityPolicy({ connectSrc: props.connectSrc }), override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.seconds(HSTS_MAX_AGE_SECONDS), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
      },
    });

    // Honors each object's Cache-Control (min TTL 0): `no-cache`/`no-store` files are never kept at the edge.
    const cachePolicy = new cloudfront.CachePolicy(this, 'CachePolicy', {
      comment: 'Keygate portal: the objects’ own Cache-Control decides',
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.days(1),
      maxTtl: Duration.days(365),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });

    this.origin = origins.S3BucketOrigin.withOriginAccessControl(this.bucket, {
      originAccessControl: new cloudfront.S3OriginAccessControl(this, 'OriginAccessControl', {
        originAccessControlName: globalName(this, 'portal-oac'),
      }),
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `Keygate ${props.stage} portal`,
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: this.origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy,
        responseHeadersPolicy: headers,
        compress: true,
        functionAssociations: [
          {
            eventType: cloudfront.FunctionEventType.VIEWER_REQUEST,
            function: new cloudfront.Function(this, 'SpaFallback', {
              code: cloudfront.FunctionCode.fromInline(SPA_REWRITE),
              runtime: cloudfront.FunctionRuntime.JS_2_0,
              comment: 'Page paths serve /index.html',
            }),
          },
        ],
      },
    });
    acknowledge(
      this.distribution,
      {
        id: 'AwsSolutions-CFR1',
        reason: 'The portal is for signed-in users worldwide; sign-in and every API call are authenticated, so geo restrictions would only lock out legitimate users.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'The distribution serves static files only; the API behind the portal has its own web ACL (infra/constructs/waf.ts), where requests cost something.',
      },
      {
        id: 'AwsSolutions-CFR3',
        reason: 'Static, public, content-hashed files: CloudFront metrics show traffic and errors; standard logs need an ACL-enabled bucket for no security gain here.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The default *.cloudfront.net certificate cannot pin TLS 1.2 for viewers (CloudFront allows TLSv1 there); a custom domain with its own certificate (not configured here) is what would enforce TLSv1.2_2021.',
      },
    );
    this.url = `https://${this.distribution.distributionDomainName}`;
  }

  /**
   * Uploads the build and config.json: hashed assets immutable, index.html and config.json never
   * cached (and invalidated at the edge on each deploy). Called once the API and Cognito exist.
   */
  deploy(assetsDir: string, config: PortalRuntimeConfig): void {
    const common = { destinationBucket: this.bucket, prune: false, memoryLimit: 256 };
    const assets = new s3deploy.BucketDeployment(this, 'DeployAssets', {
      ...common,
      sources: [s3deploy.Source.asset(assetsDir, { exclude: ['index.html'] })],
      cacheControl: [s3deploy.CacheControl.fromString(CACHE_CONTROL.immutable)],
    });
    const shell = new s3deploy.BucketDeployment(this, 'DeployShell', {
      ...common,
      sources: [s3deploy.Source.asset(assetsDir, { exclude: ['*', '!index.html'] })],
      cacheControl: [s3deploy.CacheControl.fromString(CACHE_CONTROL.noCache)],
      distribution: this.distribution,
      distributionPaths: ['/index.html', '/'],
    });
    const settings = new s3deploy.BucketDeployment(this, 'DeployConfig', {
      ...common,
      sources: [s3deploy.Source.jsonData('config.json', config)],
      cacheControl: [s3deploy.CacheControl.fromString(CACHE_CONTROL.noStore)],
      contentType: 'application/json',
      distribution: this.distribution,
      distributionPaths: ['/config.json'],
    });
    // The shell names the hashed assets: upload them first, so no visitor gets an index.html whose scripts are missing.
    shell.node.addDependency(assets);
    settings.node.addDependency(assets);
    // aws-cdk-lib grants the handler invalidations on every distribution ("*"); this deny narrows it to ours.
    shell.handlerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'InvalidateOnlyThePortalDistribution',
        effect: iam.Effect.DENY,
        actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
        notResources: [this.distribution.distributionArn],
      }),
    );
    this.acknowledgeDeploymentHandler();
  }

  /** BucketDeployment's one handler function (a stack-level singleton, shaped by aws-cdk-lib). */
  private acknowledgeDeploymentHandler(): void {
    const handler = Stack.of(this).node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!handler) throw new Error('BucketDeployment handler not found');
    const deployOnly = 'It runs only during a deployment, copying the build from the CDK asset bucket into the portal bucket, with the grants aws-cdk-lib gives it';
    acknowledge(
      handler,
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: `BucketDeployment's handler writes its logs with the basic execution role. ${deployOnly}.`,
      },
      ...['Action::s3:GetObject*', 'Action::s3:GetBucket*', 'Action::s3:List*', 'Action::s3:DeleteObject*', 'Action::s3:Abort*'].map(
        (finding) => ({ id: `AwsSolutions-IAM5[${finding}]` as const, reason: `${finding}: the copy reads, lists and replaces objects. ${deployOnly}.` }),
      ),
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: `aws-cdk-lib allows cloudfront:CreateInvalidation/GetInvalidation on "*"; a Deny on every other distribution (NotResource) leaves only the portal's. ${deployOnly}.`,
      },
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
        reason: `Reads the uploaded build from the CDK asset bucket. ${deployOnly}.`,
      },
      {
        id: 'AwsSolutions-IAM5[Resource::<PortalHostingBucket1ED002EC.Arn>/*]',
        reason: `Writes the build into the portal bucket (objects only). ${deployOnly}.`,
      },
      {
        id: 'AwsSolutions-L1',
        reason: "BucketDeployment's handler runtime is chosen by aws-cdk-lib (a Python runtime with the AWS CLI layer) and moves with its upgrades; it is not Keygate's code.",
      },
    );
  }
}

/**
 * CloudFront names (response headers policies, origin access controls) are global to the account,
 * like dashboards: the stack name and the region keep two deployments of a stage apart.
 */
export function globalName(scope: Construct, suffix: string): string {
  return `${Stack.of(scope).stackName}-${Aws.REGION}-${suffix}`;
}
