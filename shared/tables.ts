// The DynamoDB tables, written once. The CDK tables construct and the local bootstrap both iterate
// over this list; functions find each physical table name in the environment variable named here.
// The README's "Tables" section documents each table's access patterns for operators.

export type AttributeType = 'S' | 'N';

export interface KeyAttribute {
  name: string;
  type: AttributeType;
}

export interface IndexDefinition {
  name: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** Attributes copied into the index: all (default), or only the keys (updates to other attributes cost nothing there). */
  projection?: 'ALL' | 'KEYS_ONLY';
}

export interface TableDefinition {
  /** Logical name; the physical name is `keygate-<stage>-<name>`. */
  name: string;
  /** Environment variable that carries the physical table name into functions. */
  envVar: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  indexes?: IndexDefinition[];
  /** Epoch-seconds attribute DynamoDB TTL deletes by. Reads still filter expired items themselves. */
  ttlAttribute?: string;
  /** Durable tables keep their data when the stack is deleted (RETAIN). All tables have PITR. */
  durable: boolean;
  /** A DynamoDB stream (new and old images): webhook events come from the changes themselves. */
  stream?: boolean;
}

export const TTL_ATTRIBUTE = 'ttl';

function str<N extends string>(name: N) {
  return { name, type: 'S' } as const;
}

/** An organization's items, listed newest first (api keys, sessions, messages). */
const BY_ORGANIZATION = {
  name: 'byOrganization',
  partitionKey: str('organizationId'),
  sortKey: str('createdAt'),
} as const satisfies IndexDefinition;

/** Items owned by an organization, each with its own id. */
const ORGANIZATION_ITEM_KEYS = { partitionKey: str('organizationId'), sortKey: str('id') } as const;

export const TABLES = {
  organizations: {
    name: 'organizations',
    envVar: 'ORGANIZATIONS_TABLE',
    partitionKey: str('id'),
    durable: true,
    stream: true,
  },
  members: {
    name: 'members',
    envVar: 'MEMBERS_TABLE',
    partitionKey: str('organizationId'),
    sortKey: str('userId'),
    indexes: [
      { name: 'byUser', partitionKey: str('userId'), sortKey: str('organizationId') },
    ],
    durable: true,
  },
  databases: {
    name: 'databases',
    envVar: 'DATABASES_TABLE',
    ...ORGANIZATION_ITEM_KEYS,
    durable: true,
  },
  apiKeys: {
    name: 'api-keys',
    envVar: 'API_KEYS_TABLE',
    partitionKey: str('id'),
    indexes: [
      BY_ORGANIZATION,
      // The operator CLI's `keys find <display prefix>` (a leak report often has only `sk_AbCdE…`).
      // Keys only: lastUsedAt/usageCount refreshes never write to it.
      { name: 'byDisplayKey', partitionKey: str('displayKey'), projection: 'KEYS_ONLY' },
      // Sparse: only keys with an expiry notice still to send (shared/webhooks/sweep.ts).
      { name: 'byNoticeDue', partitionKey: str('noticeShard'), sortKey: str('noticeAt') },
    ],
    ttlAttribute: TTL_ATTRIBUTE,
    durable: true,
    stream: true,
  },
  usage: {
    name: 'usage',
    envVar: 'USAGE_TABLE',
    partitionKey: str('pk'),
    sortKey: str('sk'),
    indexes: [
      // Sparse: only credit holds not yet settled, by when they are due to the sweep
      // (shared/db/credits.ts sweepHolds). Keys only: a hold's other writes never reach it.
      { name: 'byHoldDue', partitionKey: str('holdShard'), sortKey: str('holdDue'), projection: 'KEYS_ONLY' },
    ],
    ttlAttribute: TTL_ATTRIBUTE,
    durable: true,
  },
  sessions: {
    name: 'sessions',
    envVar: 'SESSIONS_TABLE',
    partitionKey: str('id'),
    indexes: [BY_ORGANIZATION],
    ttlAttribute: TTL_ATTRIBUTE,
    durable: false,
  },
  messages: {
    name: 'messages',
    envVar: 'MESSAGES_TABLE',
    partitionKey: str('sessionId'),
    sortKey: str('id'),
    indexes: [BY_ORGANIZATION],
    ttlAttribute: TTL_ATTRIBUTE,
    durable: false,
  },
  // One item per management change (shared/db/audit-log.ts), written in the change's transaction.
  // `id` sorts by time, so an organization's partition reads newest first and `from`/`to` are key
  // conditions; `byTarget` (`<orgId>#<targetId>`) answers the targetId filter.
  auditLog: {
    name: 'audit-log',
    envVar: 'AUDIT_LOG_TABLE',
    ...ORGANIZATION_ITEM_KEYS,
    indexes: [{ name: 'byTarget', partitionKey: str('targetKey'), sortKey: str('id') }],
    ttlAttribute: TTL_ATTRIBUTE,
    durable: true,
  },
  // An organization's webhook endpoints (at most 10); the secret only as ciphertext.
  webhooks: {
    name: 'webhooks',
    envVar: 'WEBHOOKS_TABLE',
    ...ORGANIZATION_ITEM_KEYS,
    durable: true,
  },
} as const satisfies Record<string, TableDefinition>;

export type TableKey = keyof typeof TABLES;

/**
 * Tables of the local runtime only (never in the CDK stack): stand-ins for AWS services. The local
 * bootstrap creates them next to TABLES; in AWS, Cognito's user pool is the user directory.
 */
export const LOCAL_TABLES = {
  /** The local user directory (shared/users/local-directory.ts): one item per email. */
  localUsers: {
    name: 'local-users',
    envVar: 'LOCAL_USERS_TABLE',
    partitionKey: str('email'),
    durable: false,
  },
} as const satisfies Record<string, TableDefinition>;

export function physicalTableName(stage: string, table: TableDefinition): string {
  return `keygate-${stage}-${table.name}`;
}

/** The physical table name a function was given, failing loudly on a wiring mistake. */
export function tableName(table: TableKey, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[TABLES[table].envVar];
  if (!value) throw new Error(`Missing environment variable ${TABLES[table].envVar}`);
  return value;
}

/** The stack output carrying a table's name, e.g. `ApiKeysTableName` (the operator CLI reads them). */
export function tableOutputId(key: TableKey): string {
  return `${key[0]!.toUpperCase()}${key.slice(1)}TableName`;
}
