// Create the tables of shared/tables.ts in a DynamoDB (Local) the same way the CDK construct does:
// same keys, same indexes, same TTL attribute; plus LOCAL_TABLES, the local stand-ins for AWS
// services. Existing tables are left as they are.
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { LOCAL_TABLES, physicalTableName, TABLES, type TableDefinition } from '../../shared/tables.ts';

/** Every table the local runtime has: the stack's, and the local stand-ins for AWS services. */
const ALL_TABLES: TableDefinition[] = [...Object.values(TABLES), ...Object.values(LOCAL_TABLES)];

export function createTableInput(stage: string, def: TableDefinition): CreateTableCommandInput {
  const attributes = new Map<string, AttributeDefinition>();
  const keyAttrs = [def.partitionKey, def.sortKey, ...(def.indexes ?? []).flatMap((i) => [i.partitionKey, i.sortKey])];
  for (const attr of keyAttrs) {
    if (attr) attributes.set(attr.name, { AttributeName: attr.name, AttributeType: attr.type });
  }
  const keySchema = (pk: { name: string }, sk?: { name: string }) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: physicalTableName(stage, def),
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes.values()],
    KeySchema: keySchema(def.partitionKey, def.sortKey),
    ...(def.stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } } : {}),
    ...(def.indexes?.length
      ? {
          GlobalSecondaryIndexes: def.indexes.map((index) => ({
            IndexName: index.name,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: index.projection ?? 'ALL' },
          })),
        }
      : {}),
  };
}

export async function createTables(client: DynamoDBClient, stage: string): Promise<void> {
  for (const def of ALL_TABLES) {
    const name = physicalTableName(stage, def);
    try {
      await client.send(new CreateTableCommand(createTableInput(stage, def)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      await enableStream(client, name, def);
      await addMissingIndexes(client, stage, def);
    }
    if (def.ttlAttribute) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
      if (Table) {
        await client
          .send(
            new UpdateTimeToLiveCommand({
              TableName: name,
              TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true },
            }),
          )
          .catch((error: Error) => {
            // Enabling TTL twice is refused; that is fine.
            if (!/already enabled|TimeToLive is already/i.test(error.message)) throw error;
          });
      }
    }
  }
}

/** A table kept from before webhooks gets its stream (webhook events come from it). */
async function enableStream(client: DynamoDBClient, name: string, def: TableDefinition): Promise<void> {
  if (!def.stream) return;
  const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
  if (Table?.StreamSpecification?.StreamEnabled) return;
  await client.send(
    new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }),
  );
}

/**
 * A table kept from an earlier run (`.keygate/dynamodb`) gets the indexes added to shared/tables.ts
 * since, as a deploy would add them. DynamoDB Local builds them at once; AWS would backfill.
 */
async function addMissingIndexes(client: DynamoDBClient, stage: string, def: TableDefinition): Promise<void> {
  const name = physicalTableName(stage, def);
  const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
  const existing = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  const wanted = createTableInput(stage, def);
  for (const index of wanted.GlobalSecondaryIndexes ?? []) {
    if (existing.has(index.IndexName)) continue;
    await client.send(
      new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: wanted.AttributeDefinitions,
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
  }
}

/** The environment a function needs to find each table (what the CDK's bindTable sets in AWS). */
export function tableEnv(stage: string): Record<string, string> {
  return Object.fromEntries(
    ALL_TABLES.map((def) => [def.envVar, physicalTableName(stage, def)]),
  );
}
