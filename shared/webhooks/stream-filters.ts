// Which stream records can mean a webhook event: the filter patterns of the two event source
// mappings (infra/constructs/webhooks.ts deploys them; the local runtime applies them with
// event-pattern.ts). The stream worker (events.ts) still decides; these only spare it the rest.
import { LOW_CREDITS } from '../domain/webhooks.ts';
import type { EventPattern } from './event-pattern.ts';
import type { StreamTable } from './events.ts';

/**
 * Credit balances as a stream record writes them: a DynamoDB number is a string (`{"N": "7"}`), in
 * canonical form, and numeric matching never matches a string. Balances are whole numbers, so "at
 * or below n" is the list of "0".."n" plus anything negative.
 */
function balancesAtOrBelow(n: number): PatternValueList {
  return [{ prefix: '-' }, ...Array.from({ length: n + 1 }, (_, i) => String(i))];
}
type PatternValueList = (string | { prefix: string })[];

const modified = { eventName: ['MODIFY'] };
const lowBalances = Array.from({ length: LOW_CREDITS + 1 }, (_, i) => String(i));

export const STREAM_FILTERS: Record<StreamTable, EventPattern[]> = {
  apiKeys: [
    { ...modified, dynamodb: { NewImage: { status: { S: ['revoked'] } } } },
    { ...modified, dynamodb: { NewImage: { rolledTo: { S: [{ exists: true }] } } } },
    { ...modified, dynamodb: { NewImage: { lastNotice: { S: [{ exists: true }] } } } },
  ],
  // Only a write that can cross a threshold of the settled balance (credits + creditsHeld; the worker
  // decides): credits.low (from above LOW_CREDITS to at or below it) and credits.exhausted (from
  // above 0 to 0 or below). The new balance is then at or below the threshold (held credits are never
  // negative); the old settled balance was above it only if the old balance was, or credits were held.
  // A balance already low that drops further with nothing held matches none, so a busy
  // organization's debits do not invoke the function.
  organizations: [
    {
      ...modified,
      dynamodb: {
        OldImage: { credits: { N: [{ 'anything-but': lowBalances }] } },
        NewImage: { credits: { N: balancesAtOrBelow(LOW_CREDITS) } },
      },
    },
    {
      ...modified,
      dynamodb: {
        OldImage: { credits: { N: [{ 'anything-but': ['0'] }] } },
        NewImage: { credits: { N: balancesAtOrBelow(0) } },
      },
    },
    {
      ...modified,
      dynamodb: {
        OldImage: { creditsHeld: { N: [{ 'anything-but': ['0'] }] } },
        NewImage: { credits: { N: balancesAtOrBelow(LOW_CREDITS) } },
      },
    },
  ],
};
