// DynamoDB Local has no IAM: this holds the calls of the process to one deployed function's table
// grants (infra/constructs/function-specs.ts), so a test sees what that function's code may do in
// AWS. A call outside them fails as AWS fails it (AccessDeniedException), before it is sent.
import { countingDb, db } from '../../shared/db/client.ts';
import { TABLES, tableName, type TableKey } from '../../shared/tables.ts';
import { FUNCTION_SPECS, type DeployedFunctionName } from '../../infra/constructs/function-specs.ts';
import { TABLE_ACTIONS } from '../../infra/constructs/tables.ts';

let acting: DeployedFunctionName | undefined;

/** Each table's name in this environment, to its key. */
const tableKeys = () => new Map((Object.keys(TABLES) as TableKey[]).map((key) => [tableName(key), key]));

type Input = Record<string, unknown> & {
  TableName?: string;
  RequestItems?: Record<string, unknown>;
  TransactItems?: Record<string, { TableName?: string }>[];
};

/** The (action, table name) pairs one call needs. */
function needs(command: string, input: Input): [string, string][] {
  const action = `dynamodb:${command.replace(/Command$/, '')}`;
  if (input.TransactItems) {
    const kinds: Record<string, string> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem', Get: 'GetItem' };
    return input.TransactItems.flatMap((item) => Object.entries(item).map(([kind, op]): [string, string] => [`dynamodb:${kinds[kind] ?? kind}`, op.TableName ?? '']));
  }
  if (input.RequestItems) return Object.keys(input.RequestItems).map((table) => [action, table]);
  return input.TableName ? [[action, input.TableName]] : [];
}

for (const client of [db, countingDb]) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (acting) {
        const spec = FUNCTION_SPECS[acting];
        const keys = tableKeys();
        for (const [action, table] of needs(context.commandName ?? '', args.input as Input)) {
          const key = keys.get(table);
          const access = key ? spec.tables[key] : undefined;
          if (!access || !TABLE_ACTIONS[access].includes(action)) {
            throw Object.assign(new Error(`${acting} is not authorized to perform ${action} on ${key ?? table}`), { name: 'AccessDeniedException', $fault: 'client' });
          }
        }
      }
      return next(args);
    },
    { step: 'initialize', name: 'functionGrants' },
  );
}

/** Run `work` with this process's DynamoDB calls held to `fn`'s grants. */
export async function asFunction<T>(fn: DeployedFunctionName, work: () => Promise<T>): Promise<T> {
  acting = fn;
  try {
    return await work();
  } finally {
    acting = undefined;
  }
}
