// One process of the multi-process limiter test (test/integration/limiter-processes.test.ts): like
// one Lambda environment of a function, with its own limiter memory and DynamoDB clients, over the
// test's DynamoDB Local (the environment comes from the parent). Reads a job as JSON on stdin: its
// clients, each sending `requests` requests one after another through `admit`; writes one JSON
// line per request on stdout.
import { countingDb, db } from '../../shared/db/client.ts';
import { admit } from '../../shared/db/rate-limits.ts';
import type { RateSubject } from '../../shared/domain/plans.ts';

interface Job {
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

let input = '';
for await (const chunk of process.stdin) input += chunk;
const job = JSON.parse(input) as Job;
await new Promise((resolve) => setTimeout(resolve, Math.max(0, job.startAt - Date.now())));
const lines: string[] = [];
await Promise.all(job.clients.map(async (subject) => {
  for (let seq = 0; seq < job.requests; seq++) {
    const start = Date.now();
    let status = 200;
    let headers: Record<string, string>;
    try {
      headers = await admit(subject);
    } catch (error) {
      const e = error as { status?: number; headers?: Record<string, string>; code?: string };
      status = e.code === 'RATE_LIMIT_EXCEEDED' ? 429 : 503;
      headers = e.headers ?? {};
    }
    lines.push(JSON.stringify({ keyId: subject.keyId, seq, start, end: Date.now(), status, limit: Number(headers['X-RateLimit-Limit']), remaining: Number(headers['X-RateLimit-Remaining']) }));
  }
}));
lines.push(JSON.stringify({ writes }));
process.stdout.write(lines.join('\n') + '\n');
