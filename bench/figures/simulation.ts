// Figure 7: one enterprise organization at 10,000 requests/s, the one-item design beside the
// high-volume path, on a simulated clock against a model of DynamoDB's per-item rules
// (bench/limits-sim.ts). It needs no DynamoDB Local.
import { describe as describeSimulation, MANY_ENVIRONMENTS, runManyEnvironments, runSimulation, SCENARIO_LINES } from '../limits-sim.ts';
import { detail, figure, indentedTable, rows, section } from './report.ts';

export async function simulationFigure(): Promise<void> {
  await figure('past one hot item (simulation)', async () => {
    section('7. Past one hot item: simulation (bench/limits-sim.ts; docs/limits.md, "Past one hot item")');
    for (const line of SCENARIO_LINES) detail(line);
    const { today, highVolume, figures, ms: took } = await runSimulation();
    for (const line of [...describeSimulation(today), ...describeSimulation(highVolume)]) detail(line);
    indentedTable(['figure', "today's design", 'high-volume path', 'goal'], figures.map((f) => [f.figure, f.today, f.highVolume, f.goal]));
    detail(`simulated in ${(took / 1000).toFixed(1)} s of this machine's time`);
    for (const f of figures) {
      rows.push({
        figure: `simulation: ${f.figure}`,
        measured: `high-volume ${f.highVolume}; today ${f.today}`,
        target: f.goal,
        status: f.goal === '-' || f.goal.startsWith('bounded') ? 'info' : f.met ? 'PASS' : 'GAP',
      });
    }
    // Beyond the scenario (docs/limits.md, "Many environments"): info, with what holds and what does not.
    const many = await runManyEnvironments();
    detail(`beyond the scenario: the same load from ${MANY_ENVIRONMENTS.toLocaleString('en-US')} environments, high-volume path:`);
    for (const line of describeSimulation(many.result)) detail(line);
    for (const f of many.figures) {
      rows.push({
        figure: `simulation, ${MANY_ENVIRONMENTS.toLocaleString('en-US')} environments: ${f.figure}`,
        measured: f.measured,
        target: 'as above',
        status: 'info',
        note: f.met ? 'holds' : 'over (docs/limits.md, "Many environments")',
      });
    }
    detail(`simulated in ${(many.ms / 1000).toFixed(1)} s of this machine's time`);
  });
}

