// One DynamoDB document client per process, created at module scope so warm invocations reuse it.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type BatchGetCommandInput,
  type BatchGetCommandOutput,
  TransactWriteCommand,
  UpdateCommand,
  type QueryCommandInput,
  type UpdateCommandInput,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { ApiError } from '../domain/errors.ts';
import { tableName, type TableKey } from '../tables.ts';
import { dynamoClientConfig } from './config.ts';

export function createDocumentClient(env: NodeJS.ProcessEnv = process.env, overrides: { maxAttempts?: number } = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ ...dynamoClientConfig(env), ...overrides }), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export const db = createDocumentClient();

/**
 * For the counter writes of the limiter (admissions, take-backs, token holds and returns): one
 * attempt, no SDK retry. An `ADD` retried after a timeout or a 5xx whose first attempt was applied
 * would count twice (or give back twice); the limiter retries only what DynamoDB did not apply
 * (isNotApplied) and resolves the rest itself (shared/db/rate-limits.ts).
 */
export const countingDb = createDocumentClient(process.env, { maxAttempts: 1 });

const NOT_APPLIED_NAMES = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'LimitExceededException']);
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True when a failed write was certainly not applied: DynamoDB refused it before applying it
 * (throttling), or it never reached DynamoDB (no connection). A timeout, a 5xx or a connection
 * reset may come after the write was applied: those are not.
 */
export function isNotApplied(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e.name && NOT_APPLIED_NAMES.has(e.name)) return true;
  if (e.code && NOT_SENT_CODES.has(e.code)) return true;
  // The SDK's connection timeout: the request never had a socket to go out on.
  if (e.name === 'TimeoutError' && e.message?.includes('did not establish a connection')) return true;
  return e.cause !== undefined && e.cause !== error && isNotApplied(e.cause);
}

const UNAVAILABLE_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'InternalServerError',
  'ServiceUnavailable',
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** True when an error means "DynamoDB is unreachable or overloaded", not "the request was wrong". */
export function isUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (e.name && UNAVAILABLE_NAMES.has(e.name)) return true;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  if ((e.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  return e.cause !== undefined && e.cause !== error && isUnavailable(e.cause);
}

export function isConditionFailed(error: unknown): boolean {
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

type StartKey = Record<string, unknown> | undefined;

/** The pages `read` returns from each LastEvaluatedKey in turn, until the last one or until the caller stops reading. */
export async function* pages<P extends { LastEvaluatedKey?: StartKey }>(read: (start: StartKey) => Promise<P>): AsyncGenerator<P> {
  let start: StartKey;
  do {
    const page = await read(start);
    yield page;
    start = page.LastEvaluatedKey;
  } while (start);
}

/** Every item of a query, following pagination. For small, bounded partitions (members, databases). */
export async function queryAll<T>(input: QueryCommandInput): Promise<T[]> {
  const items: T[] = [];
  for await (const page of pages((start) => db.send(new QueryCommand({ ...input, ExclusiveStartKey: start })))) {
    items.push(...((page.Items ?? []) as T[]));
  }
  return items;
}

/**
 * The items of `keys` in one table, in the order of `keys` (BatchGetItem, 100 keys a call), asking
 * again for what DynamoDB left unprocessed, with a growing pause, up to `attempts` times: a key
 * still left then reads as undefined, as an absent item does (the callers treat both as "not known").
 */
export async function batchGet<T = Record<string, unknown>>(table: string, keys: Record<string, unknown>[], { consistent = true, attempts = 3 }: { consistent?: boolean; attempts?: number } = {}): Promise<(T | undefined)[]> {
  const items: Record<string, unknown>[] = [];
  for (let first = 0; first < keys.length; first += 100) {
    let request: BatchGetCommandInput['RequestItems'] = { [table]: { Keys: keys.slice(first, first + 100), ConsistentRead: consistent } };
    for (let attempt = 1; request && Object.keys(request).length > 0 && attempt <= attempts; attempt++) {
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** Math.min(attempt, 6)));
      const out: BatchGetCommandOutput = await db.send(new BatchGetCommand({ RequestItems: request }));
      items.push(...((out.Responses?.[table] ?? []) as Record<string, unknown>[]));
      request = out.UnprocessedKeys;
    }
  }
  // An item answers the key whose every attribute it carries with the same value.
  return keys.map((key) => items.find((item) => Object.entries(key).every(([name, value]) => item[name] === value)) as T | undefined);
}

/** A conditional update: its output, or undefined when its condition failed (other errors throw). */
export async function conditionalUpdate(input: UpdateCommandInput): Promise<UpdateCommandOutput | undefined> {
  try {
    return await db.send(new UpdateCommand(input));
  } catch (error) {
    if (isConditionFailed(error)) return undefined;
    throw error;
  }
}

/** `SET #a = :a, ...` for the defined fields of `changes`, with its names and values. */
function setClause(changes: Record<string, unknown>) {
  const sets: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    sets.push(`#${field} = :${field}`);
    names[`#${field}`] = field;
    values[`:${field}`] = value;
  }
  return { expression: `SET ${sets.join(', ')}`, names, values };
}

/**
 * A transaction's update of the item at `key` that sets the defined fields of `changes`, and does
 * `also` (e.g. `ADD #v :one`), under `condition`; `names` and `values` are those `also` and
 * `condition` use.
 */
export function setFieldsUpdate(
  table: TableKey,
  key: Record<string, unknown>,
  changes: Record<string, unknown>,
  more: { condition: string; also?: string; names?: Record<string, string>; values?: Record<string, unknown> },
) {
  const set = setClause(changes);
  return {
    Update: {
      TableName: tableName(table),
      Key: key,
      UpdateExpression: more.also ? `${set.expression} ${more.also}` : set.expression,
      ConditionExpression: more.condition,
      ExpressionAttributeNames: { ...set.names, ...more.names },
      ExpressionAttributeValues: { ...set.values, ...more.values },
    },
  };
}

/** A transaction's update of the item at `key`: `update` under `condition`, with the `values` they use. */
export function transactUpdate(table: TableKey, key: Record<string, unknown>, update: string, condition: string, values: Record<string, unknown>) {
  return { Update: { TableName: tableName(table), Key: key, UpdateExpression: update, ConditionExpression: condition, ExpressionAttributeValues: values } };
}

/**
 * Transactions on a busy item (an organization's balance or owner count) can be cancelled with
 * TransactionConflict while another transaction holds it; they are retried with jittered backoff.
 * DynamoDB Local rarely reports conflicts; a unit test covers this path with a mocked client.
 */
const MAX_TRANSACTION_ATTEMPTS = 8;

export type CancellationReason = { Code?: string };

function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  const e = error as { name?: string; CancellationReasons?: CancellationReason[] };
  return e?.name === 'TransactionCanceledException' ? (e.CancellationReasons ?? []) : undefined;
}

function isConflict(reasons: CancellationReason[]): boolean {
  return reasons.some((r) => r.Code === 'TransactionConflict') && !reasons.some((r) => r.Code === 'ConditionalCheckFailed');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A write transaction: ok, or cancelled by a condition (with DynamoDB's reasons, in item order). */
export async function transactWrite(
  input: ConstructorParameters<typeof TransactWriteCommand>[0],
): Promise<{ ok: true } | { ok: false; reasons: CancellationReason[] }> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.send(new TransactWriteCommand(input));
      return { ok: true };
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (!reasons) throw error;
      if (!isConflict(reasons)) return { ok: false, reasons };
      if (attempt >= MAX_TRANSACTION_ATTEMPTS) {
        throw new ApiError('SERVICE_UNAVAILABLE', 'The item is busy, try again shortly', {}, { 'Retry-After': '1' });
      }
      await sleep(Math.random() * Math.min(200, 10 * 2 ** attempt));
    }
  }
}
