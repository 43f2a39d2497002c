// A bounded loopback load on the local API with autocannon: fixed duration, fixed connections and a
// cap on the number of requests, against 127.0.0.1 only. The load generator runs in a worker thread
// (bench/load-worker.ts); a watchdog stops it if it overruns.
import { Worker } from 'node:worker_threads';

export interface LoadOptions {
  url: string;
  headers: Record<string, string>;
  durationSeconds: number;
  connections: number;
  maxRequests: number;
}

export interface LoadResult {
  duration: number;
  /** Completed requests. */
  total: number;
  sent: number;
  averagePerSecond: number;
  latency: { p50: number; p99: number; max: number; average: number };
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
  ok2xx: number;
  statusCodes: Record<string, number>;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url);
  if (target.hostname !== '127.0.0.1') throw new Error(`load is loopback only, refusing ${target.hostname}`);
  const worker = new Worker(new URL('./load-worker.ts', import.meta.url), {
    workerData: {
      url: options.url,
      connections: options.connections,
      duration: options.durationSeconds,
      maxOverallRequests: options.maxRequests,
      timeout: 5,
      method: 'GET',
      headers: options.headers,
    },
  });
  try {
    return await new Promise<LoadResult>((resolveResult, reject) => {
      const watchdog = setTimeout(() => worker.postMessage('stop'), (options.durationSeconds + 10) * 1000);
      const hardStop = setTimeout(() => reject(new Error('load generator did not finish in time')), (options.durationSeconds + 20) * 1000);
      const done = () => {
        clearTimeout(watchdog);
        clearTimeout(hardStop);
      };
      worker.once('message', (message: { ok: boolean; error?: string; result?: LoadResult }) => {
        done();
        if (message.ok && message.result) resolveResult(message.result);
        else reject(new Error(message.error ?? 'load generator failed'));
      });
      worker.once('error', (error) => {
        done();
        reject(error);
      });
      worker.once('exit', (code) => {
        done();
        reject(new Error(`load generator exited with code ${code}`));
      });
    });
  } finally {
    await worker.terminate();
  }
}
