// The application metrics Keygate emits as CloudWatch embedded metrics (EMF), written once: the
// functions emit them, and the alarms and dashboard in infra/constructs/operations.ts read them.
// Dimensions stay low-cardinality (stage, outcome, result): key and organization ids go in logs,
// never in a dimension (each distinct dimension value is a separately billed custom metric).
import { ApiError, type ErrorCode } from '../domain/errors.ts';

export const METRICS_NAMESPACE = 'Keygate';
/** Powertools' `service` dimension, on every metric. */
export const METRICS_SERVICE = 'keygate';

/** How a counted request ended at the gate (authorizer, rate limits, credits). */
export const REQUEST_OUTCOMES = [
  'admitted',
  'rate_limited',
  'no_credits',
  'invalid_key',
  'origin_refused',
  'expired',
  'disabled',
  'forbidden',
] as const;
export type RequestOutcome = (typeof REQUEST_OUTCOMES)[number];

/** How one webhook delivery attempt ended. */
export const WEBHOOK_RESULTS = ['delivered', 'failed', 'dead_lettered'] as const;
export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];

/**
 * Why an upstream call failed (ReplyError's `failure`), a dimension of UpstreamErrorsByKind. A caller
 * that went away (`cancelled`) is counted as a call, never as an error.
 */
export const UPSTREAM_FAILURES = [
  'refused', // the upstream answered 4xx (not 429) or a validation error
  'rate_limited', // 429 or throttling
  'unavailable', // unreachable, 5xx, service errors
  'timeout', // no first delta within timeoutSeconds
  'malformed', // a body that is not the protocol
  'incomplete', // the stream ended without its end marker
  'upstream_error', // the upstream's own error event
  'cut', // maxDurationSeconds or the function's deadline reached mid-reply
  'cancelled', // the caller went away before a JSON reply was complete
  'internal',
] as const;
export type UpstreamFailure = (typeof UPSTREAM_FAILURES)[number];

export type MetricUnitName = 'Count' | 'Milliseconds';

/** Every metric, its unit, and the one extra dimension it carries (besides service and stage). */
export const METRICS = {
  /** Requests by outcome: one per API-key or session request the gate decided. */
  Requests: { unit: 'Count', dimension: 'Outcome' },
  /** Assistant replies completed and stored (each charged CREDITS_PER_REPLY). */
  Replies: { unit: 'Count' },
  CreditsSpent: { unit: 'Count' },
  /** From the reply's start (credit reservation) to the model's first delta. */
  ReplyTimeToFirstDelta: { unit: 'Milliseconds' },
  /** From the reply's start to the turn being stored. */
  ReplyTime: { unit: 'Milliseconds' },
  /** Streams that failed after the first delta was sent (the client got an `error` event). */
  StreamFailures: { unit: 'Count' },
  WebhookDeliveries: { unit: 'Count', dimension: 'Result' },
  /** Portal accounts created by invitations (the only way accounts are made: self sign-up is off). */
  UsersInvited: { unit: 'Count' },
  // Per upstream (the deployed upstream's name: a handful per stack). The assistant and organization
  // of each call are properties of the same EMF line (Logs Insights), never dimensions.
  /** Calls to the upstream, whatever their end. */
  UpstreamCalls: { unit: 'Count', dimension: 'Upstream' },
  /** Calls that failed (not those whose caller went away). */
  UpstreamErrors: { unit: 'Count', dimension: 'Upstream' },
  /** The same failures by kind (UPSTREAM_FAILURES). */
  UpstreamErrorsByKind: { unit: 'Count', dimension: 'Upstream', second: 'Failure' },
  /** From the call to the upstream's first delta. */
  UpstreamTimeToFirstByte: { unit: 'Milliseconds', dimension: 'Upstream' },
  /** From the call to its end (completed, failed or stopped). */
  UpstreamDuration: { unit: 'Milliseconds', dimension: 'Upstream' },
  /** Tokens of completed calls, as reported by the upstream or estimated. */
  UpstreamInputTokens: { unit: 'Count', dimension: 'Upstream' },
  UpstreamOutputTokens: { unit: 'Count', dimension: 'Upstream' },
} as const satisfies Record<string, { unit: MetricUnitName; dimension?: string; second?: string }>;
export type MetricName = keyof typeof METRICS;

/** The dimension names of a metric, in the order the EMF line lists them. */
export function metricDimensions(name: MetricName): string[] {
  const { dimension, second } = METRICS[name] as { dimension?: string; second?: string };
  return ['service', 'stage', ...(dimension ? [dimension] : []), ...(second ? [second] : [])];
}

/** The outcome of a refusal the authorizer decides, by its error code. */
export function refusalOutcome(code: ErrorCode): RequestOutcome {
  switch (code) {
    case 'CORS_ORIGIN_NOT_ALLOWED':
      return 'origin_refused';
    case 'API_KEY_EXPIRED':
      return 'expired';
    case 'API_KEY_DISABLED':
      return 'disabled';
    case 'INSUFFICIENT_PERMISSIONS':
      return 'forbidden';
    default:
      return 'invalid_key';
  }
}

const TRUTHY = new Set(['1', 'y', 'yes', 't', 'true', 'on']);

/**
 * The outcome of a request the authorizer let through, once its function is done: refused by a
 * rate limit or for lack of credits, otherwise admitted once it passed its rate limits. Requests
 * refused before admission for other reasons (the authorizer's, a bad session token) are not
 * counted here: the authorizer counts its own refusals.
 */
export function admissionOutcome(admitted: boolean, error: unknown): RequestOutcome | undefined {
  if (error instanceof ApiError && error.code === 'RATE_LIMIT_EXCEEDED') return 'rate_limited';
  if (error instanceof ApiError && error.code === 'INSUFFICIENT_CREDITS') return 'no_credits';
  return admitted ? 'admitted' : undefined;
}

/** `POWERTOOLS_METRICS_DISABLED` as Powertools reads it (the local runtime and unit tests set it). */
export function metricsDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return TRUTHY.has(env.POWERTOOLS_METRICS_DISABLED?.trim().toLowerCase() ?? '');
}
