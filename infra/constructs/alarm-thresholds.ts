// Every alarm's threshold, in one place, with why it is set there and what an operator does when it
// fires (the alarm description carries `action`; README "Operations" lists them all). Periods are
// in minutes; an alarm fires when `datapoints` of the last `evaluationPeriods` periods breach.

export interface AlarmThreshold {
  threshold: number;
  periodMinutes: number;
  evaluationPeriods: number;
  datapoints: number;
  /** Why this value. */
  reason: string;
  /** What it means and what to do, sent with the notification. */
  action: string;
}

export const ALARM_THRESHOLDS = {
  /** Share of API requests answered 5xx, counted only once the stage has served MIN_REQUESTS_FOR_5XX_RATE. */
  api5xxRate: {
    threshold: 0.01,
    periodMinutes: 5,
    evaluationPeriods: 2,
    datapoints: 2,
    reason:
      'Every 5xx is a dependency failure (DynamoDB, Bedrock, Secrets Manager) or a bug; 1% for 10 minutes is past ' +
      'noise and is what customers notice. Below 20 requests per period a single failure would be a rate of 5%+.',
    action:
      'API 5xx above 1%: read the access logs for the failing routes (errorResponseType, integrationError), then the ' +
      "function's log group for 'unhandled error' or 'dependency unavailable'; check the DynamoDB and Lambda alarms.",
  },
  /** Function errors (crashes, timeouts): the handlers catch everything else and answer a contract error. */
  functionErrors: {
    threshold: 1,
    periodMinutes: 5,
    evaluationPeriods: 1,
    datapoints: 1,
    reason:
      'The handlers turn every failure into a contract error, so a Lambda error is a crash, an out-of-memory or a ' +
      'timeout: each one is a request that got no proper answer.',
    action:
      "Lambda errors: open the function's log group around the alarm time (Task timed out, Runtime.ExitError, " +
      'out of memory); a timeout usually means a dependency hung.',
  },
  /**
   * The authorizer's errors minus the `invalid_key` refusals it counts itself: it answers every invalid key by
   * throwing "Unauthorized" (API Gateway's contract), which Lambda counts as an error.
   */
  authorizerErrors: {
    threshold: 5,
    periodMinutes: 5,
    evaluationPeriods: 2,
    datapoints: 2,
    reason:
      'The difference of two metrics published by different paths (Lambda and the EMF lines) can lag by a minute, ' +
      'so a few per period and two periods in a row are required; the real failure (DynamoDB unreachable) is many.',
    action:
      'Authorizer failing (not refusing): public requests get 503. Check DynamoDB (api-keys table alarms, AWS Health) ' +
      "and the authorizer's log group.",
  },
  functionThrottles: {
    threshold: 1,
    periodMinutes: 5,
    evaluationPeriods: 1,
    datapoints: 1,
    reason: 'No function has reserved concurrency, so any throttle means the account concurrency limit was reached.',
    action:
      'Lambda throttles: requests are failing with 5xx/429 from API Gateway. See the concurrency alarm; ask AWS for a ' +
      'higher account concurrency quota, or lower the stage throttle.',
  },
  /** p99 of the authorizer's duration, in milliseconds. */
  authorizerP99Ms: {
    threshold: 250,
    periodMinutes: 5,
    evaluationPeriods: 3,
    datapoints: 3,
    reason:
      'A warm authorizer does one consistent GetItem (single-digit ms); Duration excludes cold-start init. A p99 ' +
      'over 250 ms for 15 minutes is DynamoDB latency or client retries, added to every public request.',
    action:
      'Authorizer slow: every public request waits for it. Check the api-keys table latency and throttles and the ' +
      "authorizer's log group for retries or timeouts.",
  },
  dynamoThrottles: {
    threshold: 1,
    periodMinutes: 5,
    evaluationPeriods: 1,
    datapoints: 1,
    reason:
      'Tables are on-demand: a throttle is a hot partition (one organization\'s day counter or balance) or a burst ' +
      'past twice the previous peak; both surface to customers as 503s.',
    action:
      'DynamoDB throttling on this table: find the hot key (CloudWatch Contributor Insights on the table), ' +
      'see docs/limits.md for the one-hot-item limits; requests are answered 503 with Retry-After meanwhile.',
  },
  dynamoSystemErrors: {
    threshold: 1,
    periodMinutes: 5,
    evaluationPeriods: 1,
    datapoints: 1,
    reason: 'DynamoDB 5xx are on the AWS side; any is worth knowing about because requests fail closed (503).',
    action: 'DynamoDB system errors on this table: check AWS Health for the region; the functions retry once and fail closed.',
  },
  webhookDeadLetters: {
    threshold: 1,
    periodMinutes: 5,
    evaluationPeriods: 1,
    datapoints: 1,
    reason: 'A message reaches the dead-letter queue only after every retry failed: a customer missed an event.',
    action:
      'Webhook deliveries dead-lettered: read the messages in the DLQ (endpoint, status), tell the customer if their ' +
      'endpoint is down, and redrive the queue once it is fixed.',
  },
  /** Portal accounts created by invitations (UsersInvited), per hour, all organizations together. */
  usersInvited: {
    threshold: 50,
    periodMinutes: 60,
    evaluationPeriods: 1,
    datapoints: 1,
    reason:
      'Self sign-up is off, so invitations are how accounts are made; each organization may invite 20 a day. 50 in an ' +
      "hour is far above normal onboarding and about a day of Cognito's built-in email (invitations, resets and codes " +
      'stop for every tenant once it is used up): someone may be farming accounts or credits.',
    action:
      "Many accounts invited: search the management function's logs and the audit log for member.added in the last " +
      'hour, find the organizations inviting, and suspend or talk to them; check the user pool for throwaway addresses.',
  },
  /** Share of the account's concurrency limit (context `accountConcurrencyLimit`) claimed. */
  accountConcurrencyShare: {
    threshold: 0.8,
    periodMinutes: 1,
    evaluationPeriods: 5,
    datapoints: 3,
    reason:
      'Past the limit every function in the account throttles, Keygate\'s authorizer first; 80% leaves time to act ' +
      'before that. ClaimedAccountConcurrency includes reserved and provisioned concurrency.',
    action:
      'Lambda concurrency near the account limit: raise the quota (Service Quotas, Lambda concurrent executions) ' +
      'or lower the API stage throttle; check for a traffic spike in the Requests metric and the WAF rate rule.',
  },
  /** Per upstream: share of its calls that failed (UpstreamErrors / UpstreamCalls), from MIN_UPSTREAM_CALLS calls. */
  upstreamErrorRate: {
    threshold: 0.1,
    periodMinutes: 5,
    evaluationPeriods: 2,
    datapoints: 2,
    reason:
      'Each failed call is a reply a customer did not get (refunded). Models throttle and time out now and then; one ' +
      'call in ten failing for 10 minutes is an outage, a quota or a bad setting (a wrong model, a rotated secret).',
    action:
      'Upstream failing: the dashboard row of this upstream shows the errors by kind. rate_limited: raise its quota; ' +
      'refused: check its models and secret (rotated?); unavailable or timeout: check the service itself; the reply ' +
      "function's log group has 'reply failed, refunding' with the error name.",
  },
  /** Per upstream: p90 time to first byte as a share of its timeoutSeconds. */
  upstreamFirstByteShare: {
    threshold: 0.5,
    periodMinutes: 5,
    evaluationPeriods: 3,
    datapoints: 3,
    reason:
      'At timeoutSeconds a call is given up (503); a p90 past half of it for 15 minutes means many callers wait long ' +
      'and the slowest already fail.',
    action:
      'Upstream slow to start replying: check the service or model (load, region, quota), then raise its ' +
      'timeoutSeconds or move assistants to another upstream.',
  },
} as const satisfies Record<string, AlarmThreshold>;

/** Below this many calls in a period an upstream's error rate is not judged (one failure would be 10%+). */
export const MIN_UPSTREAM_CALLS = 10;

/** Below this many requests in a period the 5xx rate alarm does not judge (one failure would be 5%+). */
export const MIN_REQUESTS_FOR_5XX_RATE = 20;

/** Lambda's default account quota; set context `accountConcurrencyLimit` if yours was raised. */
export const DEFAULT_ACCOUNT_CONCURRENCY_LIMIT = 1000;
