// Bursts of up to a few hundred calls from one test process stand for as many Lambda invocations:
// give this process's DynamoDB clients (the general one and the limiter's counting one) a
// connection pool that wide, and a connection timeout long enough for a storm of new connections
// to DynamoDB Local (docs/limits.md, "Limits of the design").
import { countingDb, db } from '../../shared/db/client.ts';

export function widenDbPools(): void {
  for (const client of [db, countingDb]) {
    const config = client.config as unknown as { requestHandler: object };
    const Handler = config.requestHandler.constructor as new (options: object) => object;
    config.requestHandler = new Handler({ connectionTimeout: 5_000, requestTimeout: 10_000, httpAgent: { maxSockets: 1024 } });
  }
}
