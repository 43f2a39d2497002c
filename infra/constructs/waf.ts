// The web ACL in front of the API stage. It exists so that a flood from one address (garbage keys,
// oversized bodies) is refused by WAF before it runs up authorizer invocations and DynamoDB reads.
// Rules, in order:
//   1. a rate limit per client IP (context `wafRateLimitPerIp`, requests per 5 minutes): 429;
//   2. bodies over the API's 64 KiB limit (docs/api.md section 5): 413, without invoking anything;
//   3. Amazon's IP reputation list (addresses known for bots and attacks; it reads no request content).
// No managed rule set that inspects content (Core rule set, SQL injection, Known bad inputs): chat text
// legitimately contains code, SQL, `<script>` and `${jndi:` and those rules would block it.
import { Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { errorBody, MAX_BODY_BYTES, type ErrorCode } from '../../shared/domain/errors.ts';

/**
 * Above the pro plan's 600 requests a minute (3,000 per 5 minutes), so one server using a busy key is
 * never blocked by WAF before the plan's own limit answers; a single address sending garbage keys is
 * held to ~33 requests a second.
 */
export const DEFAULT_WAF_RATE_LIMIT_PER_IP = 10_000;
/** How long a blocked client is told to wait: the rate-based rule re-evaluates its 5-minute window continuously. */
const RATE_LIMITED_RETRY_AFTER_SECONDS = 60;

export const WAF_RULES = { ratePerIp: 'RatePerIp', bodySize: 'BodySize', ipReputation: 'IpReputation' } as const;

export interface KeygateWafProps {
  stage: string;
  api: apigateway.RestApi;
  rateLimitPerIp: number;
}

export class KeygateWaf extends Construct {
  readonly webAcl: wafv2.CfnWebACL;
  private readonly stage: string;

  constructor(scope: Construct, id: string, props: KeygateWafProps) {
    super(scope, id);
    this.stage = props.stage;
    const name = `keygate-${props.stage}-api`;
    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName,
      sampledRequestsEnabled: true,
    });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name,
      description: 'Keygate API: per-IP rate limit, body size limit, IP reputation',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(name),
      // API Gateway bodies are inspected up to 16 KB by default; the size rule needs the first 64 KB.
      associationConfig: { requestBody: { API_GATEWAY: { defaultSizeInspectionLimit: 'KB_64' } } },
      customResponseBodies: {
        rateLimited: jsonBody('RATE_LIMIT_EXCEEDED', { retry_after: RATE_LIMITED_RETRY_AFTER_SECONDS }),
        payloadTooLarge: jsonBody('PAYLOAD_TOO_LARGE'),
      },
      rules: [
        {
          name: WAF_RULES.ratePerIp,
          priority: 0,
          statement: {
            rateBasedStatement: { limit: props.rateLimitPerIp, aggregateKeyType: 'IP', evaluationWindowSec: 300 },
          },
          action: {
            block: {
              customResponse: {
                responseCode: 429,
                customResponseBodyKey: 'rateLimited',
                responseHeaders: [{ name: 'Retry-After', value: String(RATE_LIMITED_RETRY_AFTER_SECONDS) }],
              },
            },
          },
          visibilityConfig: visibility(`${name}-${WAF_RULES.ratePerIp}`),
        },
        {
          name: WAF_RULES.bodySize,
          priority: 1,
          statement: {
            sizeConstraintStatement: {
              // Past the inspection limit (64 KB) the body is over the API's limit too: treat it as a match.
              fieldToMatch: { body: { oversizeHandling: 'MATCH' } },
              comparisonOperator: 'GT',
              size: MAX_BODY_BYTES,
              textTransformations: [{ priority: 0, type: 'NONE' }],
            },
          },
          action: { block: { customResponse: { responseCode: 413, customResponseBodyKey: 'payloadTooLarge' } } },
          visibilityConfig: visibility(`${name}-${WAF_RULES.bodySize}`),
        },
        {
          name: WAF_RULES.ipReputation,
          priority: 2,
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesAmazonIpReputationList' } },
          overrideAction: { none: {} },
          visibilityConfig: visibility(`${name}-${WAF_RULES.ipReputation}`),
        },
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'StageAssociation', {
      resourceArn: props.api.deploymentStage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }

  /** Requests a rule blocked (WAF's own metric, dimensioned by the rule's metric name), for the dashboard. */
  blockedRequests(rule: keyof typeof WAF_RULES): cloudwatch.Metric {
    const acl = `keygate-${this.stage}-api`;
    return new cloudwatch.Metric({
      namespace: 'AWS/WAFV2',
      metricName: 'BlockedRequests',
      dimensionsMap: { WebACL: acl, Rule: `${acl}-${WAF_RULES[rule]}`, Region: Stack.of(this).region },
      statistic: 'Sum',
      label: `blocked by ${WAF_RULES[rule]}`,
    });
  }
}

/** A WAF custom response body in the contract's error format (docs/api.md section 4). */
function jsonBody(code: ErrorCode, extra: Record<string, unknown> = {}): wafv2.CfnWebACL.CustomResponseBodyProperty {
  return { contentType: 'APPLICATION_JSON', content: JSON.stringify({ ...errorBody(code), ...extra }) };
}
