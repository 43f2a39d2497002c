// One process of the multi-process limiter test (test/integration/limiter-processes.test.ts): like
// one Lambda environment of a function, with its own limiter memory and DynamoDB clients, over the
// test's DynamoDB Local (the environment comes from the parent). Reads phases as JSON lines on
// stdin, one at a time: its clients, each sending `requests` requests one after another through
// `admit`; answers each phase with one JSON line: the results and the writes it made.
import { createInterface } from 'node:readline';
import { countingDb, db } from '../../shared/db/client.ts';
import { admit } from '../../shared/db/rate-limits.ts';
import type { RateSubject } from '../../shared/domain/plans.ts';

interface Phase {
  clients: RateSubject[];
  requests: number;
  /** Epoch ms to start at (all processes start together). */
  startAt: number;
}

// Writes made, by kind: the counter writes, and the header bookkeeping (`hmw`) on keys' items.
const writes = { counter: 0, told: 0 };
for (const client of [db, countingDb]) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { ConditionExpression?: string };
      if (context.commandName === 'UpdateItemCommand') writes[input.ConditionExpression?.includes('hmw') ? 'told' : 'counter'] += 1;
      return next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
}

async function run(phase: Phase) {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, phase.startAt - Date.now())));
  const results: object[] = [];
  await Promise.all(phase.clients.map(async (subject, client) => {
    for (let seq = 0; seq < phase.requests; seq++) {
      const start = Date.now();
      let status = 200;
      let headers: Record<string, string>;
      try {
        headers = await admit(subject);
      } catch (error) {
        const e = error as { headers?: Record<string, string>; code?: string };
        status = e.code === 'RATE_LIMIT_EXCEEDED' ? 429 : 503;
        headers = e.headers ?? {};
      }
      results.push({ client: `${process.pid}/${client}`, keyId: subject.keyId, seq, start, end: Date.now(), status, limit: Number(headers['X-RateLimit-Limit']), remaining: Number(headers['X-RateLimit-Remaining']) });
    }
  }));
  return results;
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const results = await run(JSON.parse(line) as Phase);
  process.stdout.write(`${JSON.stringify({ results, writes })}\n`);
}
