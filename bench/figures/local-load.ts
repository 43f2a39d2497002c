// Figure 6: the local API under load (autocannon in a worker thread), GET /v1/auth/whoami over loopback.
import { FUNCTION_ENTRIES } from '../../shared/routes.ts';
import { whyNotServing } from '../fixtures.ts';
import { runLoad, type LoadResult } from '../load.ts';
import { ms } from '../stats.ts';
import type { BenchEnvironment } from './environment.ts';
import { detail, figure, notMeasurable, rows, section } from './report.ts';

const LOAD = { durationSeconds: 10, connections: 20, maxRequests: 200_000 };

export async function localLoadFigure(env: BenchEnvironment): Promise<void> {
  const { fx, base, counter } = env;
  await figure('local API load', async () => {
    section(`6. Local API under load: GET /v1/auth/whoami, ${LOAD.connections} connections, ${LOAD.durationSeconds} s, loopback`);
    const probe = await fx.secretClient.get('/v1/auth/whoami');
    if (probe.status !== 200) {
      notMeasurable('local API throughput (whoami)', '0 errors', await whyNotServing(FUNCTION_ENTRIES.publicApi, probe));
      return;
    }
    counter.clear();
    const result: LoadResult = await runLoad({
      url: `${base}/v1/auth/whoami`,
      headers: { 'x-api-key': fx.secret.key },
      ...LOAD,
    });
    const calls = counter.calls.length;
    counter.clear();
    const failed = result.errors + result.non2xx;
    const perSecond = result.total / result.duration;
    detail(`${result.total} responses in ${result.duration.toFixed(1)} s = ${perSecond.toFixed(0)} req/s; latency p50 ${ms(result.latency.p50, 1)}, p99 ${ms(result.latency.p99, 1)}, max ${ms(result.latency.max, 1)}`);
    detail(`status codes ${JSON.stringify(result.statusCodes)}; connection errors ${result.errors} (timeouts ${result.timeouts}); non-2xx ${result.non2xx}`);
    detail(`${calls} DynamoDB calls during the load for ${result.sent} requests sent (${result.sent - result.total} still in flight at the stop) = ` +
      `${(calls / Math.max(1, result.sent)).toFixed(2)} per request`);
    rows.push({
      figure: `local API whoami load (${LOAD.connections} conns, ${LOAD.durationSeconds} s)`,
      measured: `${perSecond.toFixed(0)} req/s, p99 ${ms(result.latency.p99, 1)}, ${failed} errors/non-2xx`,
      target: '0 errors',
      status: failed === 0 ? 'PASS' : 'GAP',
      ...(failed ? { note: `status codes ${JSON.stringify(result.statusCodes)}` } : {}),
    });
  });
}
