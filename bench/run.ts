// `npm run bench`: Keygate's performance targets measured in one run, as ratios where the targets
// are ratios, so the figures compare on any machine. It starts what it needs (DynamoDB Local in
// memory, the local API in this process on a free loopback port), prints each figure's details as it
// goes and a final table: figure | measured | target | status (PASS, GAP, or N/A when a figure is not
// measurable yet because the code it needs is still being built).
// Exit code 0 whether targets are met or not; non-zero only when the bench itself broke.
// One file per figure in bench/figures/; `npm run bench -- cold-start local-load` runs only those
// (names in FIGURES below). What each figure means: docs/benchmarks.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalKeygate } from '../infra/local/environment.ts';
import { DynamoCounter } from './dynamo-counter.ts';
import { authorizerVerifyFigure } from './figures/authorizer-verify.ts';
import { capacityCostFigure } from './figures/capacity-cost.ts';
import { coldStartFigure } from './figures/cold-start.ts';
import { dynamoCallsFigure } from './figures/dynamo-calls.ts';
import { startEnvironment, type BenchEnvironment } from './figures/environment.ts';
import { functionDurationFigure } from './figures/function-duration.ts';
import { localLoadFigure } from './figures/local-load.ts';
import { malformedKeyFigure } from './figures/malformed-key.ts';
import { portalFirstLoadFigure } from './figures/portal-first-load.ts';
import { replyLatencyFigure } from './figures/reply-latency.ts';
import { benchBroke, detail, markBroken, printTable, section } from './figures/report.ts';
import { simulationFigure } from './figures/simulation.ts';
import { widgetSizeFigure } from './figures/widget-size.ts';
import { elapsedMs } from './stats.ts';

interface Figure {
  name: string;
  /** Figures with `env` run against the started environment; the others need neither DynamoDB nor the API. */
  run: ((env: BenchEnvironment) => Promise<void>) | (() => Promise<void>);
  env?: true;
}

/** In the order they run. The simulation runs before the watchdog starts. */
const SIMULATION: Figure = { name: 'simulation', run: simulationFigure };
const FIGURES: Figure[] = [
  { name: 'widget-size', run: widgetSizeFigure },
  { name: 'portal-first-load', run: portalFirstLoadFigure },
  { name: 'dynamo-calls', run: dynamoCallsFigure, env: true },
  // Before the timing figures: it is quick and warms the authorizer.
  { name: 'malformed-key', run: malformedKeyFigure, env: true },
  { name: 'authorizer-verify', run: authorizerVerifyFigure, env: true },
  { name: 'function-duration', run: functionDurationFigure, env: true },
  // Builds on dynamo-calls, authorizer-verify and function-duration (N/A without them).
  { name: 'capacity-cost', run: capacityCostFigure, env: true },
  { name: 'reply-latency', run: replyLatencyFigure, env: true },
  { name: 'cold-start', run: coldStartFigure, env: true },
  { name: 'local-load', run: localLoadFigure, env: true },
];

const known = [SIMULATION, ...FIGURES].map((f) => f.name);
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !known.includes(name));
if (unknown.length) {
  console.error(`bench: no figure ${unknown.join(', ')}; the figures are ${known.join(', ')}`);
  process.exit(1);
}
const selected = (f: Figure) => asked.length === 0 || asked.includes(f.name);

async function main(): Promise<void> {
  const t0 = process.hrtime.bigint();
  const tmp = mkdtempSync(join(tmpdir(), 'keygate-bench-'));
  const counter = new DynamoCounter();
  let keygate: LocalKeygate | undefined;
  try {
    let env: BenchEnvironment | undefined;
    for (const f of FIGURES.filter(selected)) {
      if (f.env) {
        env ??= await startEnvironment(tmp, counter, (started) => (keygate = started));
        await f.run(env);
      } else {
        await (f.run as () => Promise<void>)();
      }
    }
    if (env) {
      section('Clients counted');
      detail(`DynamoDB clients carrying the counting middleware: ${counter.clients.join(', ')}`);
    }
  } finally {
    counter.discover()(); // undo the prototype patch
    if (keygate) await keygate.stop().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
    console.log(`\nbench finished in ${(elapsedMs(t0) / 1000).toFixed(1)} s; load average now ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  }
}

if (selected(SIMULATION)) await simulationFigure();

const watchdog = setTimeout(() => {
  console.error('bench: still running after 5 minutes, giving up');
  printTable();
  process.exit(2);
}, 300_000);
watchdog.unref();

try {
  await main();
} catch (error) {
  markBroken();
  console.error(`bench broke: ${String((error as Error)?.stack ?? error)}`);
}
printTable();
clearTimeout(watchdog);
process.exit(benchBroke() ? 1 : 0);
