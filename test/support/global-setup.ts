// One DynamoDB Local (in memory) for the integration and end-to-end tests, with the tables created
// from shared/tables.ts. Every test file gets its endpoint through `inject('dynamodbEndpoint')`.
import type { TestProject } from 'vitest/node';
import { createTables } from '../../infra/local/bootstrap.ts';
import { localDynamoClient, startDynamoDbLocal, type RunningDynamoDb } from '../../infra/local/dynamodb-local.ts';
import { TABLES } from '../../shared/tables.ts';
import { scanForSecretKeys } from './secret-scan.ts';
import { TEST_STAGE } from './stage.ts';

let dynamo: RunningDynamoDb | undefined;

export async function setup(project: TestProject): Promise<void> {
  dynamo = await startDynamoDbLocal();
  const client = localDynamoClient(dynamo.endpoint);
  await createTables(client, TEST_STAGE);
  client.destroy();
  project.provide('dynamodbEndpoint', dynamo.endpoint);
}

/** After the whole run: no table may hold a secret key's plaintext, then DynamoDB Local stops. */
export async function teardown(): Promise<void> {
  if (!dynamo) return;
  try {
    const client = localDynamoClient(dynamo.endpoint);
    const { items, leaks } = await scanForSecretKeys(client, TEST_STAGE);
    client.destroy();
    console.info(`secret-key scan: ${items} items in ${Object.keys(TABLES).length} tables, ${leaks.length} secret keys found`);
    if (leaks.length > 0) throw new Error(`Secret key plaintext found in tables: ${leaks.join(', ')}`);
  } finally {
    await dynamo.stop();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}
