// Application metrics through Powertools Metrics (EMF lines on stdout, which CloudWatch Logs turns
// into metrics in the `Keygate` namespace). Each record function adds and publishes in one
// synchronous step, so concurrent requests in one process (the local runtime) never share a line.
// Off where POWERTOOLS_METRICS_DISABLED is true (the local runtime and unit tests set it).
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS, METRICS_NAMESPACE, METRICS_SERVICE, type MetricName, type RequestOutcome, type UpstreamFailure, type WebhookResult } from './catalog.ts';

const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: METRICS_SERVICE,
  defaultDimensions: { stage: process.env.STAGE ?? 'local' },
});

function publish(
  values: Partial<Record<MetricName, number>>,
  dimension?: { name: string; value: string },
  properties: Record<string, string> = {},
  second?: { name: string; value: string },
): void {
  if (dimension) metrics.addDimension(dimension.name, dimension.value);
  if (second) metrics.addDimension(second.name, second.value);
  for (const [key, value] of Object.entries(properties)) metrics.addMetadata(key, value);
  for (const [name, value] of Object.entries(values) as [MetricName, number][]) {
    metrics.addMetric(name, MetricUnit[METRICS[name].unit], value);
  }
  metrics.publishStoredMetrics();
}

export function recordRequest(outcome: RequestOutcome): void {
  publish({ Requests: 1 }, { name: METRICS.Requests.dimension, value: outcome });
}

/** A completed, stored and charged reply, with its timings in milliseconds. */
export function recordReply(reply: { credits: number; firstDeltaMs: number; totalMs: number }): void {
  publish({
    Replies: 1,
    CreditsSpent: reply.credits,
    ReplyTimeToFirstDelta: reply.firstDeltaMs,
    ReplyTime: reply.totalMs,
  });
}

export function recordStreamFailure(): void {
  publish({ StreamFailures: 1 });
}

/** For the webhook delivery function: one call per delivery attempt. */
export function recordWebhookDelivery(result: WebhookResult): void {
  publish({ WebhookDeliveries: 1 }, { name: METRICS.WebhookDeliveries.dimension, value: result });
}

/** An invitation created a portal account (members by email, for an address with no account). */
export function recordInvitation(): void {
  publish({ UsersInvited: 1 });
}

/** One call to an upstream, however it ended (docs/operations.md "Upstreams"). */
export interface UpstreamCall {
  upstream: string;
  kind: string;
  assistantId: string;
  organizationId: string;
  durationMs: number;
  /** Absent when no delta came. */
  firstByteMs?: number;
  /** Absent when it completed. */
  failure?: UpstreamFailure;
  /** Completed calls: the tokens reported or estimated. */
  tokens?: { inputTokens: number; outputTokens: number };
}

/**
 * The call's metrics by upstream, in one EMF line whose properties name the assistant and the
 * organization (Logs Insights groups by them; as dimensions they would be a metric per assistant),
 * and a second line by upstream and failure kind when it failed.
 */
export function recordUpstreamCall(call: UpstreamCall): void {
  const upstream = { name: METRICS.UpstreamCalls.dimension, value: call.upstream };
  const properties = { assistantId: call.assistantId, organizationId: call.organizationId, upstreamKind: call.kind, ...(call.failure ? { failure: call.failure } : {}) };
  const failed = call.failure !== undefined && call.failure !== 'cancelled';
  publish(
    {
      UpstreamCalls: 1,
      UpstreamDuration: call.durationMs,
      ...(call.firstByteMs !== undefined ? { UpstreamTimeToFirstByte: call.firstByteMs } : {}),
      ...(failed ? { UpstreamErrors: 1 } : {}),
      ...(call.tokens ? { UpstreamInputTokens: call.tokens.inputTokens, UpstreamOutputTokens: call.tokens.outputTokens } : {}),
    },
    upstream,
    properties,
  );
  if (failed) publish({ UpstreamErrorsByKind: 1 }, upstream, properties, { name: METRICS.UpstreamErrorsByKind.second, value: call.failure! });
}
