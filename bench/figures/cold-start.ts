// Figure 4: cold start of the synthesized bundles against the baseline (bench/cold-start.ts).
import { LOCAL_STAGE } from '../../infra/local/environment.ts';
import { tableName } from '../../shared/tables.ts';
import { measureColdStarts } from '../cold-start.ts';
import { kib, ms, ratio } from '../stats.ts';
import type { BenchEnvironment } from './environment.ts';
import { detail, figure, indentedTable, rows, section } from './report.ts';

const IMPORT_ROUNDS = 5; // rounds of cold starts (fresh `node` processes) per function
const AUTHORIZER_SIZE_GOAL = 0.75; // authorizer's bytes read at start / baseline index.mjs
const IMPORT_GOAL = 1.0; // every function's import CPU time / the baseline's

export async function coldStartFigure(env: BenchEnvironment): Promise<void> {
  const { app, keygate, fx, tmp } = env;
  await figure('cold start of the synthesized bundles', async () => {
    section(`4. Cold start of the synthesized bundles (cdk synth assets, fresh Node process per function, median of ${IMPORT_ROUNDS} rounds)`);
    const { functions, baseline } = await measureColdStarts({
      app,
      // As in AWS: the template's LOG_LEVEL and metrics on (their lines are discarded).
      local: { stage: LOCAL_STAGE, dynamodbEndpoint: keygate.dynamodbEndpoint, secrets: keygate.secrets, metricsDisabled: false },
      portalPrivateJwk: keygate.secrets.portalPrivateJwk,
      secret: fx.secret,
      apiKeysTable: tableName('apiKeys'),
      rounds: IMPORT_ROUNDS,
      tmp,
    });
    const r = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a / b);
    indentedTable(
      ['function', 'read at start', 'size ratio', 'import CPU', 'import wall', 'import ratio CPU (wall)', 'first request CPU', 'first wall', 'first ratio CPU (wall)', 'first request'],
      [...functions, baseline].map((f) => [
        f.name,
        kib(f.bytes),
        ratio(f.bytes / baseline.bytes),
        ms(f.importCpuMs, 1),
        ms(f.importMs, 1),
        `${ratio(f.importCpuMs / baseline.importCpuMs)} (${ratio(f.importMs / baseline.importMs)})`,
        f.firstCpuMs === undefined ? '-' : ms(f.firstCpuMs, 1),
        f.firstMs === undefined ? '-' : ms(f.firstMs, 1),
        f.firstCpuMs === undefined ? '-' : `${ratio(r(f.firstCpuMs, baseline.firstCpuMs)!)} (${ratio(r(f.firstMs, baseline.firstMs)!)})`,
        f.request,
      ]),
    );
    detail('CPU time of the process decides the import goal: on 2 shared cores the wall time mostly measures the other processes.');
    for (const f of functions) {
      const size = f.bytes / baseline.bytes;
      const imp = f.importCpuMs / baseline.importCpuMs;
      const first = r(f.firstCpuMs, baseline.firstCpuMs);
      const sizeGoal = f.name === 'authorizer' ? AUTHORIZER_SIZE_GOAL : undefined;
      const missed = [
        ...(sizeGoal !== undefined && size > sizeGoal ? [`size ${ratio(size)} > ${sizeGoal}`] : []),
        ...(imp > IMPORT_GOAL ? [`import ${ratio(imp)} > ${IMPORT_GOAL}`] : []),
      ];
      rows.push({
        figure: `cold start ${f.name} / baseline`,
        measured: `size ${ratio(size)}, import ${ratio(imp)} (wall ${ratio(f.importMs / baseline.importMs)}), first request ${first === undefined ? 'n/a' : ratio(first)}`,
        target: `${sizeGoal !== undefined ? `size <= ${sizeGoal}, ` : ''}import <= ${IMPORT_GOAL}`,
        status: missed.length ? 'GAP' : 'PASS',
        ...(missed.length ? { note: missed.join('; ') } : {}),
      });
    }
    rows.push({
      figure: 'cold start baseline (DynamoDBClient + GetItem)',
      measured: `${kib(baseline.bytes)}, import ${ms(baseline.importCpuMs, 1)} CPU (${ms(baseline.importMs, 1)} wall), first request ${ms(baseline.firstCpuMs!, 1)} CPU`,
      target: '-',
      status: 'info',
    });
  });
}
