// The limits simulation (bench/limits-sim.ts) on a tiny seeded scenario: its checker fails a store
// whose counter writes check no limit, and passes this checkout's limiter through limit changes
// and a change of path mid-day.
import { describe, expect, it } from 'vitest';
import { PROBES, simulate, type Scenario } from '../../bench/limits-sim.ts';
import { Scheduler } from '../../bench/sim/engine.ts';

const crossing = PROBES.find((o) => o.id === 'org_crossing')!;

const TINY: Scenario = {
  name: 'tiny',
  seed: 7,
  environments: 12,
  start: Date.parse('2031-03-04T11:59:50.000Z'),
  seconds: 30,
  // Day limit 300 at 40 requests/s: full 8 s in; the path changes at +12 s and back at +20 s.
  orgs: [{ ...crossing, changes: [{ at: 12, limits: { perMinute: 15_000, perDay: 300 } }, { at: 20, limits: { perMinute: 1_000, perDay: 300 } }] }],
  reply: { medianSeconds: 0.2, sigma: 0.5 },
  replyFailure: 0.01,
  retry: 0,
  clockSkewMs: 500,
  lostAnswers: 0,
  tokens: { input: [200, 2_000], outputCap: 1_000 },
};

describe('limits simulation', () => {
  it('sees windows over their limit when the store counts without a condition', async () => {
    const result = await simulate(TINY, undefined, { unconditional: true });
    expect(result.windowsOver).toContain('org_crossing 2031-03-04');
    expect(result.admissionsOver).toBeGreaterThan(100);
  });

  it("finds this checkout's limiter exact across limit changes and a change of path", async () => {
    const result = await simulate(TINY);
    expect(result.offered).toBeGreaterThan(1_000);
    expect(result.windowsOver).toEqual([]);
    expect(result.windows.find((w) => w.window === '2031-03-04')?.admitted).toBe(300);
    expect(result.earlyRefusals).toBe(0);
    expect(result.unavailable).toEqual({});
    expect(result.credits.conserved).toBe(true);
  });

  it('interleaves: events run in time order, and what a batch resumes runs after it', async () => {
    const scheduler = new Scheduler(1);
    const order: string[] = [];
    scheduler.at(5, () => order.push('b@5'));
    scheduler.at(2, () => {
      order.push('a@2');
      // Scheduled by an event: may fall in the same batch.
      scheduler.at(2.5, () => order.push('c@2.5'));
      void Promise.resolve().then(() => {
        order.push('a resumed');
        scheduler.at(2.1, () => order.push('d: not before the batch ends'));
      });
    });
    await scheduler.run();
    expect(order).toEqual(['a@2', 'c@2.5', 'a resumed', 'd: not before the batch ends', 'b@5']);
  });
});
