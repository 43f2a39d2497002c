// Figure 7: the limits simulation (bench/limits-sim.ts) at 100 and 3,000 environments: the
// limiter's and the credits' real decision code against a model of DynamoDB that can make it fail
// (atomic conditional writes, interleaved requests, partitions, the SDK's retries, limit changes).
// It needs no DynamoDB Local.
import { describe as describeRun, figures, quotaLines, runSimulations, scenarioLines } from '../limits-sim.ts';
import { detail, figure, indentedTable, rows, section } from './report.ts';

export async function simulationFigure(): Promise<void> {
  await figure('limits simulation', async () => {
    section('7. Limits simulation (bench/limits-sim.ts; docs/benchmarks.md, figure 7)');
    for (const { scenario, result } of await runSimulations()) {
      for (const line of scenarioLines(scenario)) detail(line);
      for (const line of describeRun(result)) detail(line);
      const measured = figures(result);
      indentedTable(['figure', 'measured', 'goal'], measured.map((f) => [f.figure, f.measured, f.goal]));
      for (const line of quotaLines(result, scenario)) detail(`assumes ${line}`);
      for (const f of measured) {
        rows.push({
          figure: `simulation, ${scenario.name}: ${f.figure}`,
          measured: f.measured,
          target: f.goal,
          status: f.met === undefined ? 'info' : f.met ? 'PASS' : 'GAP',
        });
      }
    }
  });
}
