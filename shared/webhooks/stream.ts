// The stream consumer (DynamoDB Streams in AWS, the local poller in the local runtime): changes in,
// events out to the delivery queue.
import { dispatch } from './dispatch.ts';
import { eventsFromChange, type StreamChange, type StreamTable } from './events.ts';

export async function handleChanges(table: StreamTable, changes: StreamChange[]): Promise<number> {
  let queued = 0;
  for (const change of changes) {
    for (const event of eventsFromChange(table, change)) queued += await dispatch(event);
  }
  return queued;
}
