// Several processes deciding for one organization at once, as several Lambda environments of a
// function do (each its own limiter memory and DynamoDB clients: test/support/limiter-worker.ts),
// against DynamoDB Local. On the high-volume path: exactly the limit admitted, and the headers
// truthful for every client: Remaining never more than the limit less what the window had
// counted, 0 with the last unit, never rising for one client within the window.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dailyUsage } from '../../shared/db/usage.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';

interface Result {
  keyId: string;
  seq: number;
  start: number;
  end: number;
  status: number;
  limit: number;
  remaining: number;
}

const WORKER = fileURLToPath(new URL('../support/limiter-worker.ts', import.meta.url));

const writes = { counter: 0, told: 0 };

function runProcess(clients: RateSubject[], requests: number, startAt: number): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER], { env: process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`worker exited ${code}: ${err}`));
      const lines = out.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Result | { writes: typeof writes });
      for (const line of lines) if ('writes' in line) for (const k of ['counter', 'told'] as const) writes[k] += line.writes[k];
      resolve(lines.filter((line): line is Result => !('writes' in line)));
    });
    child.stdin.end(JSON.stringify({ clients, requests, startAt }));
  });
}

describe('four processes on one high-volume organization', () => {
  it('a day limit of 240: exactly 240 admitted; Remaining truthful and never rising for a client', { timeout: 180_000 }, async () => {
    const organizationId = newId('org');
    const orgLimits: Limits = { perMinute: 15_000, perDay: 240 };
    const processes = 4;
    const clientsPerProcess = 4;
    const startAt = Date.now() + 3_000;
    const runs = Array.from({ length: processes }, () =>
      runProcess(
        Array.from({ length: clientsPerProcess }, () => ({ organizationId, keyId: `key_${newId('req').slice(4)}`, orgLimits, orgLimitsVersion: 0, keyLimits: null })),
        20,
        startAt,
      ),
    );
    const results = (await Promise.all(runs)).flat();
    expect(results).toHaveLength(processes * clientsPerProcess * 20);
    expect(results.filter((r) => r.status === 503)).toEqual([]);
    const admitted = results.filter((r) => r.status === 200);
    expect(admitted).toHaveLength(240);
    expect((await dailyUsage({ organizationId }, 1, new Date()))[0]!.requests).toBe(240);
    // Never overstates: at most the limit less what had been admitted (and answered) before the
    // request started, less the request itself.
    for (const r of admitted) {
      const before = admitted.filter((o) => o.end < r.start).length;
      expect(r.remaining, JSON.stringify(r)).toBeLessThanOrEqual(240 - before - 1);
    }
    // The last unit reads 0; every refusal reads 0.
    expect(admitted.some((r) => r.remaining === 0)).toBe(true);
    for (const r of results.filter((o) => o.status === 429)) expect(r.remaining).toBe(0);
    // One client's Remaining never rises within the window (its requests go one after another).
    let rises = 0;
    for (const keyId of new Set(results.map((r) => r.keyId))) {
      const mine = results.filter((r) => r.keyId === keyId).sort((a, b) => a.seq - b.seq);
      for (let i = 1; i < mine.length; i++) if (mine[i]!.remaining > mine[i - 1]!.remaining) rises += 1;
    }
    expect(rises).toBe(0);
    // What keeping Remaining from rising costs: at most one write per admitted request.
    console.info(`writes: ${writes.counter} counter writes, ${writes.told} for the headers, for ${admitted.length} admitted and ${results.length - admitted.length} refused`);
    expect(writes.told).toBeLessThanOrEqual(admitted.length);
  });
});
