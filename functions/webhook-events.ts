// DynamoDB Streams consumer of the api-keys and organizations tables: the events each change means
// (revoked, rolled, expiry notices, credits low/exhausted) go to the delivery queue. A failure throws
// and the event source mapping retries the batch (bisecting it), then sends it to the dead-letter queue.
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { tableName } from '../shared/tables.ts';
import type { StreamChange, StreamTable } from '../shared/webhooks/events.ts';
import { handleChanges } from '../shared/webhooks/stream.ts';

/** `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>` names its table. */
function tableOf(record: DynamoDBRecord): StreamTable | undefined {
  const name = /:table\/([^/]+)\/stream\//.exec(record.eventSourceARN ?? '')?.[1];
  if (name === tableName('apiKeys')) return 'apiKeys';
  if (name === tableName('organizations')) return 'organizations';
  return undefined;
}

const image = (value: unknown) => (value ? unmarshall(value as Record<string, AttributeValue>) : undefined);

export function toChange(record: DynamoDBRecord): StreamChange {
  const seconds = record.dynamodb?.ApproximateCreationDateTime;
  return {
    eventId: record.eventID ?? '',
    eventName: record.eventName as StreamChange['eventName'],
    ...(record.dynamodb?.OldImage ? { oldImage: image(record.dynamodb.OldImage) } : {}),
    ...(record.dynamodb?.NewImage ? { newImage: image(record.dynamodb.NewImage) } : {}),
    at: seconds ? new Date(seconds * 1000) : new Date(),
  };
}

export async function handler(event: DynamoDBStreamEvent): Promise<void> {
  for (const record of event.Records) {
    const table = tableOf(record);
    if (table) await handleChanges(table, [toChange(record)]);
  }
}
