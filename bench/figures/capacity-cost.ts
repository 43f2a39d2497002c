// Figure 5: consumed capacity per authorized request (whoami, secret key) and the AWS cost estimate,
// from what figures 1 and 2 and the function duration measured.
import { costPerMillion, PRICE_TABLE_LINES } from '../pricing.ts';
import { usd } from '../stats.ts';
import { summarizeWindows } from './dynamo-calls.ts';
import type { BenchEnvironment } from './environment.ts';
import { detail, figure, indentedTable, notMeasurable, rows, section } from './report.ts';

export async function capacityCostFigure(env: BenchEnvironment): Promise<void> {
  const { whoamiWindows, authorizerSummary, functionSummary, functionReason } = env.results;
  await figure('capacity and cost', async () => {
    section('5. Consumed capacity per authorized request (GET /v1/auth/whoami, secret key) and AWS cost');
    if (!whoamiWindows) {
      notMeasurable('capacity units per whoami', '-', 'whoami does not answer 200 (see figure 1)');
      return;
    }
    const s = summarizeWindows(whoamiWindows);
    const verified = s.capacityRequested > 0 && s.capacityReturned === s.capacityRequested;
    detail(`ConsumedCapacity returned by DynamoDB Local on ${s.capacityReturned}/${s.capacityRequested} calls ` +
      `(ReturnConsumedCapacity=TOTAL set by the bench's middleware)${verified ? '' : ' -- missing ones counted as 0'}`);
    detail(`per request: ${s.read} RRU + ${s.write} WRU (${s.sequence})`);
    rows.push({
      figure: 'capacity per whoami (secret key)',
      measured: `${s.read} RRU + ${s.write} WRU`,
      target: '-',
      status: 'info',
      ...(verified ? {} : { note: 'DynamoDB Local did not return ConsumedCapacity on every call' }),
    });
    let memory = { authorizer: 512, fn: 512, source: 'assumed (function-specs.ts did not load)' };
    try {
      const { FUNCTION_SPECS } = await import('../../infra/constructs/function-specs.ts');
      memory = { authorizer: FUNCTION_SPECS.authorizer.memorySize, fn: FUNCTION_SPECS.publicApi.memorySize, source: 'infra/constructs/function-specs.ts' };
    } catch {
      // keep the assumption, said in the output
    }
    if (!authorizerSummary || !functionSummary) {
      notMeasurable('AWS cost per million whoami', '-', !authorizerSummary ? 'no authorizer duration' : `no function duration (${functionReason || 'see above'})`);
      return;
    }
    const cost = costPerMillion({
      rruPerRequest: s.read,
      wruPerRequest: s.write,
      authorizer: { memoryMb: memory.authorizer, durationMs: authorizerSummary.p50 },
      fn: { memoryMb: memory.fn, durationMs: functionSummary.p50 },
    });
    for (const line of PRICE_TABLE_LINES) detail(line);
    detail(`memory sizes from ${memory.source}; durations measured here (this machine, DynamoDB Local on loopback), not in Lambda`);
    indentedTable(['cost item', 'per million requests', 'basis'], cost.lines.map((l) => [l.item, usd(l.perMillion), l.basis]));
    detail(`total ${usd(cost.total)} per million authorized whoami requests (estimate, us-east-1 list prices)`);
    rows.push({
      figure: 'AWS cost per million whoami (estimate)',
      measured: `${usd(cost.total)} (DynamoDB ${usd(cost.lines.filter((l) => l.item.startsWith('DynamoDB')).reduce((a, l) => a + l.perMillion, 0))})`,
      target: '-',
      status: 'info',
      note: 'us-east-1 list prices; durations measured locally',
    });
  });
}
