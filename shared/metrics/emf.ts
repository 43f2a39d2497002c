// A minimal EMF line writer for the authorizer only. It runs before every public request, and the
// bundles are held to the size and import time of a bare DynamoDB client: Powertools Metrics adds
// 13.4 KB (+6.3%) to its bundle and about 1 ms of CPU to its import, this file 0.6 KB (README
// "Operations"), for one counter.
// Every other function uses Powertools (shared/metrics/emit.ts); a unit test checks that both write
// the same document for the same metric.
import { METRICS, METRICS_NAMESPACE, METRICS_SERVICE, metricDimensions, type MetricName } from './catalog.ts';

/** One EMF document for one metric, shaped exactly as Powertools Metrics serializes it. */
export function emfDocument(
  name: MetricName,
  value: number,
  stage: string,
  dimensionValue?: string,
  timestamp: number = Date.now(),
): Record<string, unknown> {
  const dimensions = metricDimensions(name);
  const values: Record<string, string> = { service: METRICS_SERVICE, stage };
  if (dimensions[2] && dimensionValue !== undefined) values[dimensions[2]] = dimensionValue;
  return {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        { Namespace: METRICS_NAMESPACE, Dimensions: [Object.keys(values)], Metrics: [{ Name: name, Unit: METRICS[name].unit }] },
      ],
    },
    ...values,
    [name]: value,
  };
}

/**
 * Write the document to stdout, as Powertools does: in Lambda, console.log prefixes each line with a
 * timestamp and request id, and CloudWatch only extracts metrics from lines that are pure JSON.
 */
export function writeEmf(document: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(document)}\n`);
}
