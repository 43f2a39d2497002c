// Runs autocannon in a worker thread, so the load generator does not share the event loop of the
// local API it is loading (both are in the bench process). See bench/load.ts.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import autocannon, { type Options } from 'autocannon';

const options = workerData as Options;
const instance = autocannon(options, (error, raw) => {
  if (error) parentPort?.postMessage({ ok: false, error: error.message });
  else {
    // Outside the main thread autocannon hands back its raw, unaggregated result.
    const result = isMainThread ? raw : autocannon.aggregateResult([raw], options);
    parentPort?.postMessage({
      ok: true,
      result: {
        duration: result.duration,
        total: result.requests.total,
        sent: result.requests.sent,
        averagePerSecond: result.requests.average,
        latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, average: result.latency.average },
        errors: result.errors,
        timeouts: result.timeouts,
        non2xx: result.non2xx,
        ok2xx: result['2xx'],
        statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
      },
    });
  }
});
parentPort?.on('message', (message: unknown) => {
  if (message === 'stop') instance.stop();
});
