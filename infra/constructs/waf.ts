// The web ACL in front of the API stage. It exists so that a flood from one address (garbage keys,
// oversized bodies) is refused by WAF before it runs up authorizer invocations and DynamoDB reads.
// Rules, in order:
//   1. a rate limit per client IP (context `wafRateLimitPerIp`, requests per 5 minutes), in Count mode:
//      it only labels the requests over the limit, so there is one counter per IP;
//   2. labelled requests are refused with a 429: without CORS headers for a secret key, readable by any
//      page otherwise;
//   3. the same limit for CORS preflights (OPTIONS), counted apart and answered with a preflight, so a
//      page over rule 1 still gets past its preflight and can read the 429;
//   4. bodies over the API's 64 KiB limit (docs/api.md "Rate limits and credits"): 413, without invoking
//      anything, and again without CORS headers for a secret key;
//   5. Amazon's IP reputation list (addresses known for bots and attacks; it reads no request content).
// No managed rule set that inspects content (Core rule set, SQL injection, Known bad inputs): chat text
// legitimately contains code, SQL, `<script>` and `${jndi:` and those rules would block it.
//
// WAF answers a blocked request itself (API Gateway adds nothing, not even its gateway responses),
// so these answers carry their own CORS headers, except answers to a secret-key request: those never
// carry Access-Control-Allow-Origin, so no page can read them. WAF cannot echo the Origin, hence `*`: the API
// authenticates with headers, never cookies, and the bodies are fixed text, so a page reading them
// learns nothing it could not know. Custom response headers are sent under the names given (only
// headers WAF inserts into *requests* get the `x-amzn-waf-` prefix); any name but Content-Type.
import { Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { errorBody, MAX_BODY_BYTES } from '../../shared/domain/errors.ts';
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, preflightHeaders } from '../../shared/http/cors.ts';
import { rateLimitMessage } from '../../shared/limits/headers.ts';
import { ROUTES } from '../../shared/routes.ts';

/**
 * Above the pro plan's 600 requests a minute (3,000 per 5 minutes), so one server using a busy key is
 * never blocked by WAF before the plan's own limit answers; a single address sending garbage keys is
 * held to ~33 requests a second.
 */
export const DEFAULT_WAF_RATE_LIMIT_PER_IP = 10_000;
/** How long a blocked client is told to wait: the rate-based rule re-evaluates its 5-minute window continuously. */
const RATE_LIMITED_RETRY_AFTER_SECONDS = 60;

/** The rules that block something (the dashboard graphs these); the rate counter itself only labels. */
export const WAF_RULES = {
  rateLimitedSecretKey: 'RateLimitedSecretKey',
  rateLimited: 'RateLimited',
  preflightRatePerIp: 'PreflightRatePerIp',
  bodySizeSecretKey: 'BodySizeSecretKey',
  bodySize: 'BodySize',
  ipReputation: 'IpReputation',
} as const;
/** The rate-based rule in Count mode, and the label it puts on requests over the limit. */
export const WAF_RATE_COUNTER = { rule: 'RatePerIp', label: 'keygate:rate-limited' } as const;

/** A response WAF sends for a blocked request: status, headers, and a JSON body if any. */
export interface WafBlockResponse {
  status: number;
  headers: Record<string, string>;
  body?: object;
}

/** On every WAF answer: any page may read it (see the file comment for why `*` is safe). */
const READABLE_BY_ANY_PAGE = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS };

/**
 * What WAF answers, by custom response key. The construct turns these into the web ACL's custom
 * responses; the browser test serves exactly these to a page to show it can read them.
 */
const RATE_LIMITED_BODY = {
  ...errorBody('RATE_LIMIT_EXCEEDED', rateLimitMessage(RATE_LIMITED_RETRY_AFTER_SECONDS)),
  retry_after: RATE_LIMITED_RETRY_AFTER_SECONDS,
};
const RETRY_AFTER = { 'Retry-After': String(RATE_LIMITED_RETRY_AFTER_SECONDS) };
/**
 * The headers WAF's preflight allows. The OpenAI-compatible routes' own preflight echoes what the
 * browser asks for, as the OpenAI SDKs send headers of their own (x-stainless-*); WAF cannot echo,
 * and a header value it sends holds at most 255 characters, too few to name them all. `*` allows
 * any header on a request without credentials (the API takes none), except Authorization, named.
 */
const ANY_REQUEST_HEADER = `*, ${CORS_ALLOW_HEADERS}`;

export const WAF_BLOCK_RESPONSES = {
  rateLimited: { status: 429, headers: { ...READABLE_BY_ANY_PAGE, ...RETRY_AFTER }, body: RATE_LIMITED_BODY },
  // A secret key never belongs in a page (docs/api.md): its answers carry no CORS headers at all.
  rateLimitedSecretKey: { status: 429, headers: RETRY_AFTER, body: RATE_LIMITED_BODY },
  payloadTooLarge: { status: 413, headers: READABLE_BY_ANY_PAGE, body: errorBody('PAYLOAD_TOO_LARGE') },
  payloadTooLargeSecretKey: { status: 413, headers: {}, body: errorBody('PAYLOAD_TOO_LARGE') },
  // What API Gateway's OPTIONS mock answers (docs/api.md "CORS on public and session routes"), with `*` for the origin and every
  // method of the API, as WAF cannot tell paths apart. It lets the browser send the real request; what
  // the page may read of that answer is still decided by that answer's own headers.
  preflight: {
    status: 204,
    headers: {
      ...preflightHeaders(undefined, [...new Set(ROUTES.filter((r) => !r.localOnly).map((r) => r.method))]),
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': ANY_REQUEST_HEADER,
    },
  },
} as const satisfies Record<string, WafBlockResponse>;

type WafBlockResponseKey = keyof typeof WAF_BLOCK_RESPONSES;

export interface KeygateWafProps {
  stage: string;
  api: apigateway.RestApi;
  rateLimitPerIp: number;
  /** The secret keys' prefix (stack config), to tell a secret-key request by its header. */
  secretKeyPrefix: string;
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
    // Secret-key requests are matched once, for the rules that answer them without CORS headers.
    const secretKey = isSecretKey(props.secretKeyPrefix);
    const blockRule = (
      rule: string,
      priority: number,
      statement: wafv2.CfnWebACL.StatementProperty,
      response: WafBlockResponseKey,
    ): wafv2.CfnWebACL.RuleProperty => ({ name: rule, priority, statement, action: blockWith(response), visibilityConfig: visibility(`${name}-${rule}`) });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name,
      description: 'Keygate API: per-IP rate limit, body size limit, IP reputation',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(name),
      // API Gateway bodies are inspected up to 16 KB by default; the size rule needs the first 64 KB.
      associationConfig: { requestBody: { API_GATEWAY: { defaultSizeInspectionLimit: 'KB_64' } } },
      customResponseBodies: customResponseBodies(),
      rules: [
        {
          // Count mode: a rate-based rule that counts labels the requests over its limit; the two rules
          // after it block those, each with its own answer, from the same counter.
          name: WAF_RATE_COUNTER.rule,
          priority: 0,
          statement: { rateBasedStatement: perIp(props.rateLimitPerIp, { notStatement: { statement: IS_PREFLIGHT } }) },
          action: { count: {} },
          ruleLabels: [{ name: WAF_RATE_COUNTER.label }],
          visibilityConfig: visibility(`${name}-${WAF_RATE_COUNTER.rule}`),
        },
        blockRule(WAF_RULES.rateLimitedSecretKey, 1, { andStatement: { statements: [RATE_LIMITED, secretKey] } }, 'rateLimitedSecretKey'),
        blockRule(WAF_RULES.rateLimited, 2, RATE_LIMITED, 'rateLimited'),
        // Preflights are counted too (a flood of them is stopped here), but apart: a page making N
        // requests makes at most N preflights, so it reaches the rate limit first and reads that 429.
        blockRule(WAF_RULES.preflightRatePerIp, 3, { rateBasedStatement: perIp(props.rateLimitPerIp, IS_PREFLIGHT) }, 'preflight'),
        blockRule(WAF_RULES.bodySizeSecretKey, 4, { andStatement: { statements: [TOO_LARGE, secretKey] } }, 'payloadTooLargeSecretKey'),
        blockRule(WAF_RULES.bodySize, 5, TOO_LARGE, 'payloadTooLarge'),
        {
          name: WAF_RULES.ipReputation,
          priority: 6,
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesAmazonIpReputationList' } },
          overrideAction: { none: {} },
          visibilityConfig: visibility(`${name}-${WAF_RULES.ipReputation}`),
        },
      ],
    });

    // The stage ARN is built from names, so CloudFormation would not wait for the stage by itself.
    const association = new wafv2.CfnWebACLAssociation(this, 'StageAssociation', {
      resourceArn: props.api.deploymentStage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
    association.node.addDependency(props.api.deploymentStage);
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

/** The HTTP method is OPTIONS: a CORS preflight (API Gateway answers it with a mock, no function). */
const IS_PREFLIGHT: wafv2.CfnWebACL.StatementProperty = {
  byteMatchStatement: {
    fieldToMatch: { method: {} },
    positionalConstraint: 'EXACTLY',
    searchString: 'OPTIONS',
    textTransformations: [{ priority: 0, type: 'NONE' }],
  },
};

/** Over the per-IP rate: labelled by the counting rule. */
const RATE_LIMITED: wafv2.CfnWebACL.StatementProperty = {
  labelMatchStatement: { scope: 'LABEL', key: WAF_RATE_COUNTER.label },
};

const TOO_LARGE: wafv2.CfnWebACL.StatementProperty = {
  sizeConstraintStatement: {
    // Past the inspection limit (64 KB) the body is over the API's limit too: treat it as a match.
    fieldToMatch: { body: { oversizeHandling: 'MATCH' } },
    comparisonOperator: 'GT',
    size: MAX_BODY_BYTES,
    textTransformations: [{ priority: 0, type: 'NONE' }],
  },
};

/**
 * The request presents a secret key: `X-API-Key: <prefix>…` or `Authorization: Bearer <prefix>…`
 * (scheme case-insensitive, so the Authorization value is lowercased, and the prefix with it).
 * WAF matches header names case-insensitively; `SingleHeader` is untyped in CloudFormation, hence `Name`.
 */
function isSecretKey(prefix: string): wafv2.CfnWebACL.StatementProperty {
  return {
    orStatement: {
      statements: [
        {
          byteMatchStatement: {
            fieldToMatch: { singleHeader: { Name: 'x-api-key' } },
            positionalConstraint: 'STARTS_WITH',
            searchString: prefix,
            textTransformations: [{ priority: 0, type: 'NONE' }],
          },
        },
        {
          byteMatchStatement: {
            fieldToMatch: { singleHeader: { Name: 'authorization' } },
            positionalConstraint: 'STARTS_WITH',
            searchString: `bearer ${prefix.toLowerCase()}`,
            textTransformations: [{ priority: 0, type: 'LOWERCASE' }],
          },
        },
      ],
    },
  };
}

function perIp(limit: number, scopeDownStatement: wafv2.CfnWebACL.StatementProperty): wafv2.CfnWebACL.RateBasedStatementProperty {
  return { limit, aggregateKeyType: 'IP', evaluationWindowSec: 300, scopeDownStatement };
}

/** The JSON bodies, in the contract's error format (docs/api.md "Errors"), keyed as the responses. */
function customResponseBodies(): Record<string, wafv2.CfnWebACL.CustomResponseBodyProperty> {
  const bodies: Record<string, wafv2.CfnWebACL.CustomResponseBodyProperty> = {};
  for (const [key, response] of Object.entries(WAF_BLOCK_RESPONSES) as [string, WafBlockResponse][]) {
    if (response.body) bodies[key] = { contentType: 'APPLICATION_JSON', content: JSON.stringify(response.body) };
  }
  return bodies;
}

function blockWith(key: WafBlockResponseKey): wafv2.CfnWebACL.RuleActionProperty {
  const response: WafBlockResponse = WAF_BLOCK_RESPONSES[key];
  return {
    block: {
      customResponse: {
        responseCode: response.status,
        ...(response.body ? { customResponseBodyKey: key } : {}),
        // WAF refuses an empty header list (the API's ResponseHeaders is a non-empty array when present).
        ...(Object.keys(response.headers).length > 0
          ? { responseHeaders: Object.entries(response.headers).map(([name, value]) => ({ name, value })) }
          : {}),
      },
    },
  };
}
