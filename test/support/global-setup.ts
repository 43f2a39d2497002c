// One DynamoDB Local (in memory) for the integration and end-to-end tests, with the tables created
// from shared/tables.ts. Every test file gets its endpoint through `inject('dynamodbEndpoint')`.
import type { TestProject } from 'vitest/node';
import { createTables } from '../../infra/local/bootstrap.ts';
import { localDynamoClient, startDynamoDbLocal, type RunningDynamoDb } from '../../infra/local/dynamodb-local.ts';
import { TEST_STAGE } from './stage.ts';

let dynamo: RunningDynamoDb | undefined;

export async function setup(project: TestProject): Promise<void> {
  dynamo = await startDynamoDbLocal();
  const client = localDynamoClient(dynamo.endpoint);
  await createTables(client, TEST_STAGE);
  client.destroy();
  project.provide('dynamodbEndpoint', dynamo.endpoint);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}
