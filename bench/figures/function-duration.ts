// The publicApi handler's duration on an authorized whoami event, for the cost estimate (figure 5).
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { runAuthorizer } from '../../infra/local/gateway.ts';
import { FUNCTION_ENTRIES } from '../../shared/routes.ts';
import { moduleUrl, whyNotServing } from '../fixtures.ts';
import { elapsedMs, ms, summarize } from '../stats.ts';
import type { BenchEnvironment } from './environment.ts';
import { detail, figure, section } from './report.ts';

const FUNCTION_CALLS = 200;

export async function functionDurationFigure(env: BenchEnvironment): Promise<void> {
  const { fx, authorize, proxyEvent, whoamiRoute, results } = env;
  await figure('function duration', async () => {
    section('Function duration: publicApi handler on an authorized whoami event (for the cost estimate)');
    let publicApi: { handler: (event: APIGatewayProxyEvent) => Promise<{ statusCode: number }> };
    try {
      publicApi = await import(moduleUrl(FUNCTION_ENTRIES.publicApi));
    } catch {
      results.functionReason = await whyNotServing(FUNCTION_ENTRIES.publicApi);
      detail(`not measurable yet: ${results.functionReason}`);
      return;
    }
    const event = proxyEvent({ 'x-api-key': fx.secret.key });
    const verdict = await runAuthorizer(authorize, event, whoamiRoute);
    if (verdict.kind !== 'allow') throw new Error('authorizer did not allow the bench key');
    event.requestContext.authorizer = verdict.context;
    const times: number[] = [];
    for (let i = 0; i < FUNCTION_CALLS + 20; i++) {
      const copy = structuredClone(event);
      const start = process.hrtime.bigint();
      const result = await publicApi.handler(copy);
      const took = elapsedMs(start);
      if (result.statusCode !== 200) {
        results.functionReason = `publicApi answered ${result.statusCode}`;
        detail(`not measurable: ${results.functionReason}`);
        return;
      }
      if (i >= 20) times.push(took);
    }
    const functionSummary = summarize(times);
    results.functionSummary = functionSummary;
    detail(`publicApi whoami  n=${functionSummary.n}  p50 ${ms(functionSummary.p50, 3)}  p99 ${ms(functionSummary.p99, 3)}`);
  });
}
