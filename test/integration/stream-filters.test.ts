// The event source mappings' filters against real DynamoDB stream records (DynamoDB Local): the
// organizations filter hands over exactly the writes that cross a credits threshold, so credits.low
// and credits.exhausted still fire once per crossing, and a busy organization's further debits do
// not invoke the function; the api-keys filters hand over revokes, rolls and notices. The patterns
// are STREAM_FILTERS, which test/infra/deploy.test.ts proves are the ones the template deploys.
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand, type _Record } from '@aws-sdk/client-dynamodb-streams';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { passingFilters, toChange } from '../../infra/local/webhooks.ts';
import { db } from '../../shared/db/client.ts';
import { tableName } from '../../shared/tables.ts';
import { eventsFromChange, type StreamTable } from '../../shared/webhooks/events.ts';
import { matchesPattern } from '../../shared/webhooks/event-pattern.ts';

const streams = new DynamoDBStreamsClient({
  endpoint: process.env.DYNAMODB_ENDPOINT!,
  region: 'local',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
afterAll(() => streams.destroy());

/** Every record of the table's stream about one item (other files write to the same tables). */
async function recordsOf(table: StreamTable, key: string, id: string): Promise<_Record[]> {
  const { Table } = await db.send(new DescribeTableCommand({ TableName: tableName(table) }));
  const streamArn = Table!.LatestStreamArn!;
  const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const records: _Record[] = [];
  for (const shard of StreamDescription?.Shards ?? []) {
    let { ShardIterator: iterator } = await streams.send(
      new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    while (iterator) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      if (!page.Records?.length) break;
      records.push(...page.Records.filter((r) => r.dynamodb?.Keys?.[key]?.S === id));
      iterator = page.NextShardIterator;
    }
  }
  return records.sort((a, b) => a.dynamodb!.SequenceNumber!.localeCompare(b.dynamodb!.SequenceNumber!, 'en', { numeric: true }));
}

const setCredits = (id: string, credits: number) =>
  db.send(new UpdateCommand({ TableName: tableName('organizations'), Key: { id }, UpdateExpression: 'SET credits = :c', ExpressionAttributeValues: { ':c': credits } }));
const addCredits = (id: string, delta: number) =>
  db.send(new UpdateCommand({ TableName: tableName('organizations'), Key: { id }, UpdateExpression: 'ADD credits :d', ExpressionAttributeValues: { ':d': delta } }));

const credits = (record: _Record, image: 'OldImage' | 'NewImage') => record.dynamodb?.[image]?.credits?.N;
const eventTypes = (table: StreamTable, records: _Record[]) => records.flatMap((r) => eventsFromChange(table, toChange(r)).map((e) => e.type));

describe('stream filters on real DynamoDB stream records', () => {
  it('organizations: only writes crossing a credits threshold pass, and every event they mean still fires once', async () => {
    const id = `org_${randomUUID()}`;
    await db.send(new PutCommand({ TableName: tableName('organizations'), Item: { id, name: 'Filters', credits: 25 } }));
    // [balance after the write, events it means]
    await setCredits(id, 12); //          none
    await addCredits(id, -2); //   10: credits.low
    await addCredits(id, -1); //    9: none (already low)
    await addCredits(id, -8); //    1: none
    await addCredits(id, -1); //    0: credits.exhausted
    await setCredits(id, 5); //           none (a top-up still below the threshold)
    await addCredits(id, -5); //    0: credits.exhausted
    await setCredits(id, 1000); //        none
    await addCredits(id, -1000); // 0: credits.low and credits.exhausted in one write
    await setCredits(id, 11); //          none
    await db.send(
      new UpdateCommand({ TableName: tableName('organizations'), Key: { id }, UpdateExpression: 'SET #n = :n', ExpressionAttributeNames: { '#n': 'name' }, ExpressionAttributeValues: { ':n': 'Renamed' } }),
    ); //                                 none (credits unchanged)

    const records = await recordsOf('organizations', 'id', id);
    expect(records).toHaveLength(12);
    // The stream writes numbers as canonical strings: what the patterns have to match.
    expect(records.slice(1).map((r) => credits(r, 'NewImage'))).toEqual(['12', '10', '9', '1', '0', '5', '0', '1000', '0', '11', '11']);

    const passed = passingFilters('organizations', records);
    expect(passed.map((r) => [credits(r, 'OldImage'), credits(r, 'NewImage')])).toEqual([
      ['12', '10'],
      ['1', '0'],
      ['5', '0'],
      ['1000', '0'],
    ]);
    // Nothing the worker would have made an event of is filtered out, and each crossing fires once.
    expect(eventTypes('organizations', passed)).toEqual(eventTypes('organizations', records));
    expect(eventTypes('organizations', passed)).toEqual(['credits.low', 'credits.exhausted', 'credits.exhausted', 'credits.low', 'credits.exhausted']);
  });

  it('organizations: holds and settles are judged on the settled balance (credits + creditsHeld), once per crossing', async () => {
    const id = `org_${randomUUID()}`;
    await db.send(new PutCommand({ TableName: tableName('organizations'), Item: { id, name: 'Holds', credits: 20, creditsHeld: 0 } }));
    const move = (credits: number, held: number) =>
      db.send(new UpdateCommand({ TableName: tableName('organizations'), Key: { id }, UpdateExpression: 'ADD credits :c, creditsHeld :h', ExpressionAttributeValues: { ':c': credits, ':h': held } }));
    // [credits, held, settled after the write]: events it means
    await move(-15, 15); //  5, 15, 20: none (a hold moves nothing)
    await move(3, -15); //   8,  0,  8: credits.low (the settle charged 12)
    await move(-8, 8); //    0,  8,  8: none (a hold of the rest is no crossing)
    await move(8, -8); //    8,  0,  8: none (a failed reply returns its hold)
    await move(-8, 8); //    0,  8,  8: none
    await move(0, -8); //    0,  0,  0: credits.exhausted (charged in full)
    const records = await recordsOf('organizations', 'id', id);
    const passed = passingFilters('organizations', records);
    expect(eventTypes('organizations', records)).toEqual(['credits.low', 'credits.exhausted']);
    expect(eventTypes('organizations', passed)).toEqual(['credits.low', 'credits.exhausted']);
  });

  it('a numeric filter on credits (instead of the deployed one) would match none of those records', async () => {
    const id = `org_${randomUUID()}`;
    await db.send(new PutCommand({ TableName: tableName('organizations'), Item: { id, name: 'Numeric', credits: 11 } }));
    await addCredits(id, -11);
    const records = await recordsOf('organizations', 'id', id);
    const numeric = { eventName: ['MODIFY'], dynamodb: { NewImage: { credits: { N: [{ numeric: ['>=', -9_007_199_254_740_991, '<=', 10] }] } } } };
    expect(records.filter((r) => matchesPattern(numeric, r))).toEqual([]);
    expect(eventTypes('organizations', records)).toEqual(['credits.low', 'credits.exhausted']);
  });

  it('api-keys: revokes, rolls and expiry notices pass; an INSERT and other updates do not', async () => {
    const id = `key_${randomUUID()}`;
    const put = (item: Record<string, unknown>) => db.send(new PutCommand({ TableName: tableName('apiKeys'), Item: { id, organizationId: 'org_f', keyHash: id, status: 'active', ...item } }));
    const set = (name: string, value: string) =>
      db.send(new UpdateCommand({ TableName: tableName('apiKeys'), Key: { id }, UpdateExpression: 'SET #a = :v', ExpressionAttributeNames: { '#a': name }, ExpressionAttributeValues: { ':v': value } }));
    await put({ name: 'k' });
    await set('name', 'renamed');
    await set('lastNotice', 'expiring:7');
    await set('rolledTo', 'key_next');
    await set('status', 'revoked');
    const records = await recordsOf('apiKeys', 'id', id);
    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'MODIFY', 'MODIFY', 'MODIFY']);
    const passed = passingFilters('apiKeys', records);
    expect(passed).toEqual(records.slice(2));
  });
});
