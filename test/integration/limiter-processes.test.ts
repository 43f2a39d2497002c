// Several processes deciding for one organization at once, as several Lambda environments of a
// function do (each its own limiter memory and DynamoDB clients: test/support/limiter-worker.ts),
// against DynamoDB Local, with limits changed between phases while the processes keep what they
// learnt. On the high-volume path: exactly the limit admitted, and the headers truthful for every
// client (Remaining never more than the limit less what the window had counted, 0 with the last
// unit, never rising for one client within the window); a lowered limit admits nothing beyond it,
// a raised one admits at once, and a key's own day limit holds across the high-volume threshold.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { applyOrgLimits } from '../../shared/db/rate-limits.ts';
import { dailyUsage } from '../../shared/db/usage.ts';
import { newId } from '../../shared/domain/ids.ts';
import type { Limits, RateSubject } from '../../shared/domain/plans.ts';

interface Result {
  client: string;
  keyId: string;
  seq: number;
  start: number;
  end: number;
  status: number;
  limit: number;
  remaining: number;
}
type Writes = { counter: number; told: number };

const WORKER = fileURLToPath(new URL('../support/limiter-worker.ts', import.meta.url));

/** One worker process; each phase's answer is one line on its stdout. */
class Worker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly answers: ((line: string) => void)[] = [];
  private stderr = '';

  constructor() {
    this.child = spawn(process.execPath, [WORKER], { env: process.env });
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.answers.shift()?.(line));
  }

  phase(clients: RateSubject[], requests: number, startAt: number): Promise<{ results: Result[]; writes: Writes }> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`worker exited ${code}: ${this.stderr}`));
      this.child.once('exit', onExit);
      this.answers.push((line) => {
        this.child.off('exit', onExit);
        resolve(JSON.parse(line) as { results: Result[]; writes: Writes });
      });
      this.child.stdin.write(`${JSON.stringify({ clients, requests, startAt })}\n`);
    });
  }

  stop(): void {
    this.child.stdin.end();
  }
}

let workers: Worker[] = [];
afterEach(() => {
  for (const w of workers) w.stop();
  workers = [];
});

const PROCESSES = 4;
const startWorkers = () => (workers = Array.from({ length: PROCESSES }, () => new Worker()));
const keyIds = (n: number) => Array.from({ length: n }, () => `key_${newId('req').slice(4)}`);

/** Every process runs its clients at once (from a common start); the results of all. */
async function phase(clientsOf: (process: number) => RateSubject[], requests: number): Promise<{ results: Result[]; writes: Writes }> {
  const startAt = Date.now() + 1_500;
  const answers = await Promise.all(workers.map((w, p) => w.phase(clientsOf(p), requests, startAt)));
  const results = answers.flatMap((a) => a.results);
  expect(results.filter((r) => r.status === 503)).toEqual([]);
  return { results, writes: answers.reduce((sum, a) => ({ counter: sum.counter + a.writes.counter, told: sum.told + a.writes.told }), { counter: 0, told: 0 }) };
}

const admitted = (results: Result[]) => results.filter((r) => r.status === 200);
const subject = (organizationId: string, orgLimits: Limits, orgLimitsVersion: number, keyId: string, keyLimits: Partial<Limits> | null = null): RateSubject => ({
  organizationId,
  keyId,
  orgLimits,
  orgLimitsVersion,
  keyLimits,
});

describe('four processes on one high-volume organization', () => {
  it('a day limit of 240: exactly 240 admitted; Remaining truthful and never rising for a client', { timeout: 180_000 }, async () => {
    startWorkers();
    const org = newId('org');
    const limits = { perMinute: 15_000, perDay: 240 };
    const keys = keyIds(PROCESSES * 4);
    const { results, writes } = await phase((p) => keys.slice(p * 4, p * 4 + 4).map((k) => subject(org, limits, 0, k)), 20);
    const ok = admitted(results);
    expect(ok).toHaveLength(240);
    expect((await dailyUsage({ organizationId: org }, 1, new Date()))[0]!.requests).toBe(240);
    // Never overstates: at most the limit less what had been admitted (and answered) before the
    // request started, less the request itself.
    for (const r of ok) expect(r.remaining, JSON.stringify(r)).toBeLessThanOrEqual(240 - ok.filter((o) => o.end < r.start).length - 1);
    // The last unit reads 0; every refusal reads 0.
    expect(ok.some((r) => r.remaining === 0)).toBe(true);
    for (const r of results.filter((o) => o.status === 429)) expect(r.remaining).toBe(0);
    // One client's Remaining never rises within the window (its requests go one after another).
    let rises = 0;
    for (const client of new Set(results.map((r) => r.client))) {
      const mine = results.filter((r) => r.client === client).sort((a, b) => a.seq - b.seq);
      for (let i = 1; i < mine.length; i++) if (mine[i]!.remaining > mine[i - 1]!.remaining) rises += 1;
    }
    expect(rises).toBe(0);
    // What keeping Remaining from rising costs: at most one write per admitted request.
    console.info(`writes: ${writes.counter} counter writes, ${writes.told} for the headers, for ${ok.length} admitted and ${results.length - ok.length} refused`);
    expect(writes.told).toBeLessThanOrEqual(ok.length);
  });

  it('a lowered day limit admits nothing beyond it, whichever copy of the limits the keys hold', { timeout: 180_000 }, async () => {
    startWorkers();
    const org = newId('org');
    const before = { perMinute: 15_000, perDay: 6_400 };
    const lowered = { perMinute: 15_000, perDay: 190 };
    const keys = keyIds(PROCESSES * 2);
    const clients = (limits: Limits, v: number) => (p: number) => keys.slice(p * 2, p * 2 + 2).map((k) => subject(org, limits, v, k));
    expect(admitted((await phase(clients(before, 0), 25)).results)).toHaveLength(200);
    await applyOrgLimits(org, { v: 1, limits: lowered });
    // Half the processes' keys still carry the older copy.
    const after = await phase((p) => (p % 2 === 0 ? clients(before, 0)(p) : clients(lowered, 1)(p)), 5);
    expect(admitted(after.results)).toHaveLength(0);
    expect((await dailyUsage({ organizationId: org }, 1, new Date()))[0]!.requests).toBe(200);
  });

  it('a raised day limit admits within a second in processes that knew the window full, whichever copy the keys hold', { timeout: 180_000 }, async () => {
    startWorkers();
    const org = newId('org');
    const before = { perMinute: 15_000, perDay: 100 };
    const raised = { perMinute: 15_000, perDay: 140 };
    const keys = keyIds(PROCESSES);
    const clients = (limits: Limits, v: number) => (p: number) => [subject(org, limits, v, keys[p]!)];
    expect(admitted((await phase(clients(before, 0), 30)).results)).toHaveLength(100);
    await applyOrgLimits(org, { v: 1, limits: raised });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // Every key still holds the older copy: the processes know the window full under it.
    expect(admitted((await phase(clients(before, 0), 15)).results)).toHaveLength(40);
    expect((await dailyUsage({ organizationId: org }, 1, new Date()))[0]!.requests).toBe(140);
  });

  it("a key's own 120 a day across the threshold and back, from four processes: 120 admitted", { timeout: 180_000 }, async () => {
    startWorkers();
    const org = newId('org');
    const [key] = keyIds(1) as [string];
    const own = { perDay: 120 };
    const oneItem = { perMinute: 1_000, perDay: 300 };
    const highVolume = { perMinute: 15_000, perDay: 300 };
    const clients = (limits: Limits, v: number) => () => [subject(org, limits, v, key, own)];
    let total = admitted((await phase(clients(oneItem, 0), 25)).results).length;
    expect(total).toBe(100);
    await applyOrgLimits(org, { v: 1, limits: highVolume });
    total += admitted((await phase(clients(highVolume, 1), 15)).results).length;
    expect(total).toBe(120);
    await applyOrgLimits(org, { v: 2, limits: oneItem });
    total += admitted((await phase(clients(oneItem, 2), 15)).results).length;
    expect(total).toBe(120);
    expect((await dailyUsage({ organizationId: org, keyId: key }, 1, new Date()))[0]!.requests).toBe(120);
  });
});
