// Counts every DynamoDB call made in this process with AWS SDK middleware, and optionally asks
// DynamoDB for the capacity each call consumed.
//
// Two ways a client gets the middleware, so no client is missed:
//  - `instrument(client, label)`: the clients we know of (the `db` document client and the
//    authorizer's `keyLookupClient`), added as soon as they exist;
//  - `discover()`: wraps the SDK's shared `Client.prototype.send` so that any other DynamoDB client
//    (one a module creates later, e.g. for rate limits) is instrumented on its first call.
// A document client shares its underlying client's middleware stack, so a stack is instrumented once.
//
// The middleware runs at the start of the `initialize` step: one record per logical call (retries
// happen further down the stack and are not counted twice). Operation names are the DynamoDB API's
// (`GetItem`, `TransactWriteItems`, ...), also for document-client commands (`GetCommand` is sent
// as a `GetItemCommand`).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export const READ_OPERATIONS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
export const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
/** Operations whose input takes `ReturnConsumedCapacity`. */
const CAPACITY_OPERATIONS = new Set([
  ...READ_OPERATIONS,
  ...WRITE_OPERATIONS,
  'ExecuteStatement',
  'BatchExecuteStatement',
  'ExecuteTransaction',
]);

export interface Capacity {
  read: number;
  write: number;
}

export interface DynamoCall {
  /** Which client made it: `db`, `keyLookupClient`, `bareClient` or `discovered:<n>`. */
  client: string;
  operation: string;
  /** Logical table names (`api-keys`, `usage`, ...), without the `keygate-<stage>-` prefix. */
  tables: string[];
  /** performance.now() at the start and end of the call. */
  start: number;
  end?: number;
  /** Set when capacity was requested and DynamoDB returned `ConsumedCapacity`. */
  capacity?: Capacity;
  capacityRequested: boolean;
  error?: string;
  /** The command input as the caller sent it (before the bench's capacity flag). */
  input: Record<string, unknown>;
}

/** The DynamoDB calls of one request, and how many of them came after its response. */
export interface Window {
  status: number;
  calls: DynamoCall[];
  afterResponse: number;
}

interface StackLike {
  add(middleware: unknown, options: Record<string, unknown>): void;
}
interface ClientLike {
  middlewareStack: StackLike;
  config?: { serviceId?: string };
}

type AnyInput = Record<string, unknown>;
type Next = (args: { input: AnyInput; [k: string]: unknown }) => Promise<{ output: Record<string, unknown>; [k: string]: unknown }>;

function logicalTable(name: string): string {
  return name.replace(/^keygate-[^-]+-/, '');
}

/** The tables a command input touches (single-table, batch and transaction shapes). */
export function tablesOf(input: AnyInput): string[] {
  const names = new Set<string>();
  if (typeof input.TableName === 'string') names.add(input.TableName);
  if (input.RequestItems && typeof input.RequestItems === 'object') {
    for (const name of Object.keys(input.RequestItems)) names.add(name);
  }
  for (const item of (Array.isArray(input.TransactItems) ? input.TransactItems : []) as Record<string, { TableName?: string }>[]) {
    for (const part of Object.values(item)) if (part?.TableName) names.add(part.TableName);
  }
  return [...names].map(logicalTable).sort();
}

/** Sum `ConsumedCapacity` (one object or a list), split into read and write request units. */
export function capacityOf(operation: string, consumed: unknown): Capacity | undefined {
  if (consumed === undefined || consumed === null) return undefined;
  const list = (Array.isArray(consumed) ? consumed : [consumed]) as {
    CapacityUnits?: number;
    ReadCapacityUnits?: number;
    WriteCapacityUnits?: number;
  }[];
  const capacity: Capacity = { read: 0, write: 0 };
  for (const c of list) {
    if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
      capacity.read += c.ReadCapacityUnits ?? 0;
      capacity.write += c.WriteCapacityUnits ?? 0;
    } else if (READ_OPERATIONS.has(operation)) {
      capacity.read += c.CapacityUnits ?? 0;
    } else {
      capacity.write += c.CapacityUnits ?? 0;
    }
  }
  return capacity;
}

export class DynamoCounter {
  readonly calls: DynamoCall[] = [];
  /** When true, every call that supports it is sent with `ReturnConsumedCapacity: 'TOTAL'`. */
  returnConsumedCapacity = false;
  private readonly stacks = new WeakSet<object>();
  private readonly labels: string[] = [];
  private discovered = 0;
  private restoreSend: (() => void) | undefined;

  /** Labels of the clients carrying the middleware, in the order they got it. */
  get clients(): readonly string[] {
    return this.labels;
  }

  instrument(client: ClientLike, label: string): boolean {
    const stack = client.middlewareStack as unknown as object;
    if (this.stacks.has(stack)) return false;
    this.stacks.add(stack);
    this.labels.push(label);
    client.middlewareStack.add(this.middleware(label), {
      step: 'initialize',
      priority: 'high',
      name: 'keygateBenchDynamoCounter',
      override: true,
    });
    return true;
  }

  /** Instrument any DynamoDB client on its first `send`. Returns a function that undoes the patch. */
  discover(): () => void {
    if (this.restoreSend) return this.restoreSend;
    const proto = Object.getPrototypeOf(DynamoDBClient.prototype) as { send: (...args: unknown[]) => unknown };
    const original = proto.send;
    const counter = this;
    proto.send = function patchedSend(this: ClientLike, ...args: unknown[]) {
      if (this?.config?.serviceId === 'DynamoDB' && this.middlewareStack && !counter.stacks.has(this.middlewareStack as unknown as object)) {
        counter.discovered += 1;
        counter.instrument(this, `discovered:${counter.discovered}`);
      }
      return original.apply(this, args);
    };
    this.restoreSend = () => {
      proto.send = original;
      this.restoreSend = undefined;
    };
    return this.restoreSend;
  }

  mark(): number {
    return this.calls.length;
  }

  since(mark: number): DynamoCall[] {
    return this.calls.slice(mark);
  }

  /** Forget recorded calls (long phases such as the load test record many). */
  clear(): void {
    this.calls.length = 0;
  }

  /**
   * Run `fn` and return the calls that started while it ran, plus any that started within
   * `settleMs` after it (work a handler leaves running after it has answered).
   */
  async window<T>(fn: () => Promise<T>, settleMs = 0): Promise<{ result: T; calls: DynamoCall[]; afterResponse: number }> {
    const start = this.mark();
    const result = await fn();
    const answered = this.mark();
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
    // Then let every call the request started finish, so background work is counted whole.
    const deadline = performance.now() + 2_000;
    while (this.since(start).some((c) => c.end === undefined) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const calls = this.since(start);
    return { result, calls, afterResponse: calls.length - (answered - start) };
  }

  private middleware(label: string) {
    return (next: Next, context: { commandName?: string }) =>
      async (args: { input: AnyInput; [k: string]: unknown }) => {
        const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
        const capacityRequested = this.returnConsumedCapacity && CAPACITY_OPERATIONS.has(operation);
        const call: DynamoCall = {
          client: label,
          operation,
          tables: tablesOf(args.input ?? {}),
          start: performance.now(),
          capacityRequested,
          input: args.input,
        };
        this.calls.push(call);
        const input = capacityRequested ? { ...args.input, ReturnConsumedCapacity: 'TOTAL' } : args.input;
        try {
          const result = await next({ ...args, input });
          call.end = performance.now();
          if (capacityRequested) call.capacity = capacityOf(operation, result.output?.ConsumedCapacity);
          return result;
        } catch (error) {
          call.end = performance.now();
          call.error = (error as { name?: string })?.name ?? 'Error';
          if (capacityRequested) call.capacity = capacityOf(operation, (error as { ConsumedCapacity?: unknown })?.ConsumedCapacity);
          throw error;
        }
      };
  }
}

export interface CallClassification {
  total: number;
  reads: number;
  writes: number;
  other: number;
}

export function classify(calls: readonly DynamoCall[]): CallClassification {
  let reads = 0;
  let writes = 0;
  let other = 0;
  for (const call of calls) {
    if (READ_OPERATIONS.has(call.operation)) reads += 1;
    else if (WRITE_OPERATIONS.has(call.operation)) writes += 1;
    else other += 1;
  }
  return { total: calls.length, reads, writes, other };
}

/** `GetItem[api-keys]@keyLookupClient` */
export function describeCall(call: DynamoCall): string {
  const tables = call.tables.length ? `[${call.tables.join('+')}]` : '';
  const error = call.error ? ` !${call.error}` : '';
  return `${call.operation}${tables}@${call.client}${error}`;
}

/** The calls of one request, in order: `GetItem[api-keys]@keyLookupClient -> UpdateItem[usage]@db`. */
export function sequence(calls: readonly DynamoCall[]): string {
  return calls.length ? calls.map(describeCall).join(' -> ') : '(none)';
}

/** Per command name: `GetItem ×1, UpdateItem ×1`. */
export function byCommand(calls: readonly DynamoCall[]): string {
  const counts = new Map<string, number>();
  for (const call of calls) counts.set(call.operation, (counts.get(call.operation) ?? 0) + 1);
  return counts.size ? [...counts].map(([op, n]) => `${op} ×${n}`).join(', ') : 'none';
}
