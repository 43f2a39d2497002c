// Figure 3: a malformed or bad-checksum key is rejected without a DynamoDB call.
// Run before the timing figures: it is quick and warms the authorizer.
import { ApiClient } from '../../test/support/api.ts';
import { elapsedMs, median, summarize, us } from '../stats.ts';
import { SETTLE_MS, type BenchEnvironment } from './environment.ts';
import { detail, figure, rows, section } from './report.ts';

const REJECTIONS = 2_000; // timed rejections per malformed-key variant

export async function malformedKeyFigure(env: BenchEnvironment): Promise<void> {
  const { fx, base, counter, authorize, authEvent } = env;
  await figure('malformed or bad-checksum key', async () => {
    section('3. Malformed or bad-checksum key');
    const flip = (key: string) => key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
    const variants: Record<string, string> = {
      'malformed: too short': 'sk_abc123',
      'malformed: not a key': 'hello world',
      'malformed: bad characters': `sk_${'!'.repeat(38)}`,
      'bad checksum, secret': flip(fx.secret.key),
      'bad checksum, publishable': flip(fx.publishable.key),
    };
    const times: number[] = [];
    let calls = 0;
    let notRejected = 0;
    for (const [label, key] of Object.entries(variants)) {
      const event = authEvent(key);
      const variantTimes: number[] = [];
      const mark = counter.mark();
      for (let i = 0; i < REJECTIONS + 200; i++) {
        const start = process.hrtime.bigint();
        let rejected = false;
        try {
          await authorize(event);
        } catch (error) {
          rejected = (error as Error).message === 'Unauthorized';
        }
        const took = elapsedMs(start);
        if (!rejected) notRejected += 1;
        if (i >= 200) variantTimes.push(took);
      }
      const made = counter.since(mark).length;
      calls += made;
      times.push(...variantTimes);
      const http = await counter.window(() => new ApiClient(base, { 'X-API-Key': key }).get('/v1/auth/whoami'), SETTLE_MS);
      calls += http.calls.length;
      detail(`${label.padEnd(27)} p50 ${us(median(variantTimes))}, DynamoDB calls: ${made} in ${REJECTIONS + 200} direct calls, ` +
        `${http.calls.length} over HTTP (HTTP ${http.result.status} ${(http.result.body as { code?: string })?.code ?? ''})`);
    }
    const s = summarize(times);
    rows.push({
      figure: 'malformed/bad-checksum key: DynamoDB calls',
      measured: `${calls} in ${Object.keys(variants).length * (REJECTIONS + 201)} rejections`,
      target: '0',
      status: calls === 0 && notRejected === 0 ? 'PASS' : 'GAP',
      ...(notRejected ? { note: `${notRejected} malformed keys were not rejected` } : {}),
    });
    rows.push({ figure: 'malformed/bad-checksum key: time per rejection', measured: `p50 ${us(s.p50)}, p99 ${us(s.p99)}`, target: '-', status: 'info' });
  });
}
