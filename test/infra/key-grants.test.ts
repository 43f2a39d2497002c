// Grants on the api-keys and organizations tables against what each function's code calls.
// Every function that admits requests (shared/db/rate-limits.ts `admit`) refreshes the key's
// lastUsedAt/usageCount with an UpdateItem on api-keys (shared/db/api-keys.ts `recordKeyUse`), and
// reads the organization to bring a key's older copy of its limits up to date (`repairKeyCopy`);
// without those rights DynamoDB refuses the calls in AWS (DynamoDB Local has no IAM to notice).
// Only the management function creates or deletes keys.
import { describe, expect, it } from 'vitest';
import { DEPLOYED_FUNCTIONS, type DeployedFunctionName } from '../../infra/constructs/function-specs.ts';
import type { TableKey } from '../../shared/tables.ts';
import { actions, referencedIds, roleStatements, synthBeforeAll, tableLogicalId } from '../support/stack.ts';

const ADMITTING: DeployedFunctionName[] = ['publicApi', 'chatSession', 'chatStream', 'export'];
/** Functions whose code never touches the organizations table. */
const NO_ORGANIZATIONS: DeployedFunctionName[] = ['authorizer'];

describe('api-keys and organizations grants follow the code', () => {
  const s = synthBeforeAll();

  const granted = (name: DeployedFunctionName, table: TableKey) => {
    const id = tableLogicalId(s, table);
    return roleStatements(s, name)
      .filter((st) => referencedIds(st.Resource).has(id))
      .flatMap(actions);
  };

  it.each(ADMITTING)('%s may update a key it counts a request against', (name) => {
    expect(granted(name, 'apiKeys')).toContain('dynamodb:UpdateItem');
  });

  it.each(ADMITTING)('%s may read the organization of a key whose copy of its limits is older', (name) => {
    expect(granted(name, 'organizations')).toContain('dynamodb:GetItem');
  });

  it.each(DEPLOYED_FUNCTIONS.filter((n) => n !== 'management'))('%s can neither create nor delete keys', (name) => {
    const onKeys = granted(name, 'apiKeys');
    for (const action of ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) expect(onKeys).not.toContain(action);
  });

  it.each(NO_ORGANIZATIONS)('%s has no access to the organizations table', (name) => {
    expect(granted(name, 'organizations')).toEqual([]);
  });
});
