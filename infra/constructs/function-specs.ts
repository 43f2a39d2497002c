// What each deployed function is and may touch, in one map: entry file, size, timeout, tables
// (least privilege: read, readUpdate or readWrite per table), and whether it reads the session signing secret,
// calls Bedrock or uses the user directory. The stack applies this map; the infra tests check the synthesized policies
// against it, so a permission exists if and only if it is written here.
import { Duration } from 'aws-cdk-lib';
import { AUTHORIZER_ENTRY, FUNCTION_ENTRIES, type FunctionName } from '../../shared/routes.ts';
import type { TableKey } from '../../shared/tables.ts';
import { REPLY_FUNCTION_MIN_TIMEOUT_SECONDS } from '../../shared/chat/upstreams.ts';
import type { TableAccess } from './tables.ts';

/**
 * Route functions that are deployed ('dev' is local only), the API key authorizer, and the webhook
 * workers (stream consumer, delivery, expiry sweep: infra/constructs/webhooks.ts wires their triggers).
 */
export type DeployedFunctionName = Exclude<FunctionName, 'dev'> | 'authorizer' | WebhookWorkerName | 'creditSweep';
export type WebhookWorkerName = 'webhookEvents' | 'webhookDelivery' | 'expirySweep';

export interface FunctionSpec {
  /** Entry file relative to the repository root, exporting `handler` (route functions' from the route table's FUNCTION_ENTRIES). */
  entry: string;
  memorySize: number;
  timeout: Duration;
  tables: Partial<Record<TableKey, TableAccess>>;
  sessionSecret: boolean;
  bedrock: boolean;
  /**
   * Reads the deployed upstreams without calling them (lists them, creates assistants on them): gets
   * the same upstream settings as the functions that call them, so every function agrees on them.
   */
  upstreamSettings?: boolean;
  /** Finds and invites portal users by email in the user pool (cognito-idp:ListUsers, AdminCreateUser). */
  userDirectory?: boolean;
}

// Every function that admits requests (shared/db/rate-limits.ts `admit`) refreshes the key's
// lastUsedAt/usageCount with an UpdateItem on api-keys: `readUpdate` there, never PutItem or
// DeleteItem (only the management function creates and deletes keys); and it reads the
// organization when the key's copy of its limits is older (to bring the copy up to date).
export const FUNCTION_SPECS: Record<DeployedFunctionName, FunctionSpec> = {
  // On every public request: sized for a fast cold start rather than cheapest memory.
  authorizer: {
    entry: AUTHORIZER_ENTRY,
    memorySize: 512,
    timeout: Duration.seconds(10),
    tables: { apiKeys: 'read' },
    sessionSecret: false,
    bedrock: false,
  },
  management: {
    entry: FUNCTION_ENTRIES.management,
    memorySize: 512,
    timeout: Duration.seconds(10),
    tables: {
      organizations: 'readWrite',
      members: 'readWrite',
      databases: 'readWrite',
      apiKeys: 'readWrite',
      // readUpdate: a limit change is applied to the counters (request and token windows) before it is copied to the keys, and a billing change is stamped on the credit batches.
      usage: 'readUpdate',
      auditLog: 'readAppend',
      webhooks: 'readWrite',
    },
    sessionSecret: false,
    bedrock: false,
    upstreamSettings: true,
    // Members by email: the only function that may look up or invite users.
    userDirectory: true,
  },
  publicApi: {
    entry: FUNCTION_ENTRIES.publicApi,
    memorySize: 512,
    // whoami, session creation and the OpenAI-compatible models list; replies are the chatStream function's.
    timeout: Duration.seconds(10),
    // databases and auditLog: the assistant a new session keeps, and `Default` made on first use for
    // an organization that predates assistants (with its audit entry).
    tables: {
      organizations: 'readWrite',
      usage: 'readWrite',
      sessions: 'readWrite',
      apiKeys: 'readUpdate',
      databases: 'readWrite',
      auditLog: 'readAppend',
    },
    sessionSecret: true,
    bedrock: false,
    upstreamSettings: true,
  },
  chatSession: {
    entry: FUNCTION_ENTRIES.chatSession,
    memorySize: 512,
    timeout: Duration.seconds(10),
    // organizations read: a key whose copy of the limits is older than its organization's is brought
    // up to date at its next request (admit), whichever function serves it.
    tables: { sessions: 'readWrite', messages: 'read', apiKeys: 'readUpdate', usage: 'readWrite', organizations: 'read' },
    sessionSecret: true,
    bedrock: false,
  },
  // The reply function: every route that waits for a reply (session messages, one-shot messages, chat completions), on
  // the streaming integration. The stack sets its timeout above the upstreams' maxDurationSeconds
  // (replyFunctionTimeoutSeconds); this is the least it gets.
  chatStream: {
    entry: FUNCTION_ENTRIES.chatStream,
    memorySize: 512,
    timeout: Duration.seconds(REPLY_FUNCTION_MIN_TIMEOUT_SECONDS),
    // sessions readWrite: a one-shot conversation is created with its first turn. databases and
    // auditLog: the assistant that answers, and `Default` made on first use.
    tables: {
      sessions: 'readWrite',
      messages: 'readWrite',
      apiKeys: 'readUpdate',
      usage: 'readWrite',
      organizations: 'readWrite',
      databases: 'readWrite',
      auditLog: 'readAppend',
    },
    sessionSecret: true,
    bedrock: true,
  },
  export: {
    entry: FUNCTION_ENTRIES.export,
    memorySize: 512,
    timeout: Duration.seconds(28),
    tables: { sessions: 'read', messages: 'read', usage: 'readWrite', apiKeys: 'readUpdate', organizations: 'read' },
    sessionSecret: false,
    bedrock: false,
  },
  // Reads each stream batch's subscribers and queues one message per webhook.
  webhookEvents: {
    entry: 'functions/webhook-events.ts',
    memorySize: 256,
    timeout: Duration.seconds(30),
    tables: { webhooks: 'read' },
    sessionSecret: false,
    bedrock: false,
  },
  // Up to 10 attempts at once, each at most 10 s (DELIVERY_TIMEOUT_MS), plus the DynamoDB and KMS calls.
  webhookDelivery: {
    entry: 'functions/webhook-delivery.ts',
    memorySize: 256,
    timeout: Duration.seconds(30),
    tables: { webhooks: 'read' },
    sessionSecret: false,
    bedrock: false,
  },
  // Queries the byNoticeDue index and records each due notice with one conditional UpdateItem.
  expirySweep: {
    entry: 'functions/expiry-sweep.ts',
    memorySize: 256,
    timeout: Duration.minutes(5),
    tables: { apiKeys: 'readUpdate' },
    sessionSecret: false,
    bedrock: false,
  },
  // Queries the usage table's byHoldDue index and settles each hold past its due time: UpdateItem
  // on the reservation, its batch and the organization's balance (infra/constructs/credit-sweep.ts).
  creditSweep: {
    entry: 'functions/credit-sweep.ts',
    memorySize: 256,
    timeout: Duration.minutes(1),
    tables: { usage: 'readUpdate', organizations: 'readUpdate' },
    sessionSecret: false,
    bedrock: false,
  },
};

export const DEPLOYED_FUNCTIONS = Object.keys(FUNCTION_SPECS) as DeployedFunctionName[];
