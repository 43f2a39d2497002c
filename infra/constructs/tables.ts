// Every DynamoDB table, built from shared/tables.ts (the same definitions the local bootstrap uses).
// `bindTable` is the only way a function gets table access: it grants the actions and sets the
// table's environment variable in one place, so a function can never hold one without the other.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { physicalTableName, TABLES, type KeyAttribute, type TableDefinition, type TableKey } from '../../shared/tables.ts';

export type TableAccess = 'read' | 'readUpdate' | 'readAppend' | 'readWrite';

/**
 * Item-level actions only: no Scan (shared/db reads by GetItem and Query) and no table management.
 * TransactWriteItems needs no action of its own, only the item actions it contains; ConditionCheckItem
 * lets a read-only table take part in one as a condition. `readUpdate` adds UpdateItem alone: it
 * lets a function change existing items (a key's lastUsedAt) but never create or delete one.
 * `readAppend` adds PutItem alone: the audit log is written once per entry, never changed or deleted.
 */
export const TABLE_ACTIONS: Record<TableAccess, readonly string[]> = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
  readUpdate: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:UpdateItem'],
  readAppend: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:PutItem'],
  readWrite: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:ConditionCheckItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
};

function attribute(key: KeyAttribute): dynamodb.Attribute {
  return { name: key.name, type: key.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER };
}

export interface KeygateTablesProps {
  stage: string;
  /**
   * DynamoDB deletion protection on the durable tables (context `deletionProtection`). Off for a first
   * deploy: a protected table cannot be deleted by the rollback of a failed create, and its fixed name
   * would then block every retry. Turn it on once the stack exists (docs/deploy.md).
   */
  deletionProtection: boolean;
}

export class KeygateTables extends Construct {
  readonly tables: Record<TableKey, dynamodb.Table>;

  constructor(scope: Construct, id: string, props: KeygateTablesProps) {
    super(scope, id);
    const entries = (Object.entries(TABLES) as [TableKey, TableDefinition][]).map(
      ([key, def]) => [key, this.createTable(key, def, props)] as const,
    );
    this.tables = Object.fromEntries(entries) as Record<TableKey, dynamodb.Table>;
  }

  private createTable(key: TableKey, def: TableDefinition, props: KeygateTablesProps): dynamodb.Table {
    const table = new dynamodb.Table(this, key, {
      tableName: physicalTableName(props.stage, def),
      partitionKey: attribute(def.partitionKey),
      ...(def.sortKey ? { sortKey: attribute(def.sortKey) } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      ...(def.ttlAttribute ? { timeToLiveAttribute: def.ttlAttribute } : {}),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Keys, organizations, members and usage outlive the stack (RetainExceptOnCreate: kept on delete or
      // replacement, deleted only by the rollback of the operation that created them, so a retry finds
      // the fixed name free); sessions and messages are transient.
      removalPolicy: def.durable ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY,
      deletionProtection: def.durable && props.deletionProtection,
      ...(def.stream ? { stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES } : {}),
    });
    for (const index of def.indexes ?? []) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: index.projection === 'KEYS_ONLY' ? dynamodb.ProjectionType.KEYS_ONLY : dynamodb.ProjectionType.ALL,
      });
    }
    return table;
  }

  /**
   * Grant `access` on one table (and its named indexes, listed one by one rather than `index/*`)
   * and hand the function the physical table name in the table's environment variable.
   */
  bindTable(fn: lambda.Function, key: TableKey, access: TableAccess): void {
    const def: TableDefinition = TABLES[key];
    const table = this.tables[key];
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `${key}${access[0]!.toUpperCase()}${access.slice(1)}`,
        actions: [...TABLE_ACTIONS[access]],
        resources: [table.tableArn, ...(def.indexes ?? []).map((index) => `${table.tableArn}/index/${index.name}`)],
      }),
    );
    fn.addEnvironment(def.envVar, table.tableName);
  }
}
