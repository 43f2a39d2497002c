// An organization's assistants, stored with its other settings in the databases table (partition
// `organizationId`; README "Tables"):
//   id `asst_…`               the assistant: its settings, `nameKey`, `version` (moves with every
//                             PATCH) and `refVersion` (moves whenever a database, key or the org
//                             default starts naming it);
//   id `asstname#<nameKey>`   the name lock that makes names unique in the organization;
// and the organization item carries `defaultAssistantId`.
//
// Deleting an assistant that something names is refused (409). What names it is read at the
// deletion (the org item, the org's databases, its keys through api-keys.byOrganization), and the
// delete is conditional on `refVersion` as read before those reads: a database, key or default that
// starts naming the assistant meanwhile bumps it (`assistantRef` in that change's transaction) and
// the delete fails instead of leaving a dangling reference.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  assistantNameKey,
  defaultAssistantSettings,
  isAssistantId,
  settingsChanges,
  type Assistant,
  type AssistantSettings,
  type UpstreamChoice,
} from '../domain/assistants.ts';
import { actorContext, type AuditContext } from '../domain/audit.ts';
import { ApiError, orNotFound, validationError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import { iso } from '../domain/time.ts';
import { tableName } from '../tables.ts';
import { auditPut } from './audit-log.ts';
import { db, queryAll, transactUpdate, transactWrite, type CancellationReason } from './client.ts';

type TransactItem = NonNullable<Parameters<typeof transactWrite>[0]['TransactItems']>[number];

export const ASSISTANT_ID_PREFIX = 'asst_';
const NAME_LOCK_PREFIX = 'asstname#';

export interface AssistantItem extends Assistant {
  nameKey: string;
  updatedAt: string;
  version: number;
  refVersion?: number;
}

interface NameLockItem {
  organizationId: string;
  id: string;
  assistantId: string;
}

export function assistantView(item: Assistant): Assistant {
  return {
    id: item.id,
    organizationId: item.organizationId,
    name: item.name,
    upstream: item.upstream,
    model: item.model,
    instructions: item.instructions,
    maxInputTokens: item.maxInputTokens,
    maxOutputTokens: item.maxOutputTokens,
    temperature: item.temperature,
    createdAt: item.createdAt,
  };
}

const nameLockId = (name: string) => `${NAME_LOCK_PREFIX}${assistantNameKey(name)}`;

function newAssistantItem(organizationId: string, settings: AssistantSettings, now: Date): AssistantItem {
  return {
    id: newId('asst'),
    organizationId,
    ...settings,
    nameKey: assistantNameKey(settings.name),
    createdAt: iso(now),
    updatedAt: iso(now),
    version: 1,
  };
}

/** The writes that create an assistant and its name lock (the lock's condition makes the 409). */
function createItems(item: AssistantItem) {
  const table = tableName('databases');
  return [
    { Put: { TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(id)' } },
    {
      Put: {
        TableName: table,
        Item: { organizationId: item.organizationId, id: nameLockId(item.name), assistantId: item.id } satisfies NameLockItem,
        ConditionExpression: 'attribute_not_exists(id)',
      },
    },
  ];
}

const nameTaken = (name: string) => new ApiError('CONFLICT', `An assistant named ${name} already exists in this organization`);

/**
 * A write to put in a transaction that makes something name the assistant `id`: fails (its
 * condition) when the assistant does not exist, and bumps `refVersion` so a deletion racing it fails.
 */
export function assistantRef(organizationId: string, id: string) {
  return {
    Update: {
      TableName: tableName('databases'),
      Key: { organizationId, id },
      UpdateExpression: 'ADD refVersion :one',
      ConditionExpression: 'attribute_exists(id)',
      ExpressionAttributeValues: { ':one': 1 },
    },
  };
}

/** The 400 for an `assistantId` that names no assistant of the organization. */
export function unknownAssistant(field = 'assistantId'): ApiError {
  return validationError([{ field, message: 'does not exist in this organization' }]);
}

/** Whether the transaction failed on the condition of the item at `index`. */
function failedAt(reasons: CancellationReason[], index: number): boolean {
  return reasons[index]?.Code === 'ConditionalCheckFailed';
}

/**
 * Writes `items` in one transaction that, when `assistantId` is given, also makes them name that
 * assistant (`assistantRef`): a 400 `unknownAssistant(field)` when it does not exist. False when one
 * of `items` failed its condition.
 */
export async function transactNamingAssistant(
  organizationId: string,
  assistantId: string | null | undefined,
  items: TransactItem[],
  field = 'assistantId',
): Promise<boolean> {
  const result = await transactWrite({ TransactItems: [...(assistantId ? [assistantRef(organizationId, assistantId)] : []), ...items] });
  if (result.ok) return true;
  if (assistantId && failedAt(result.reasons, 0)) throw unknownAssistant(field);
  return false;
}

export async function getAssistant(organizationId: string, id: string): Promise<AssistantItem | undefined> {
  if (!isAssistantId(id)) return undefined;
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName('databases'), Key: { organizationId, id }, ConsistentRead: true }),
  );
  return Item as AssistantItem | undefined;
}

export async function requireAssistant(organizationId: string, id: string): Promise<AssistantItem> {
  return orNotFound(await getAssistant(organizationId, id), 'Assistant not found');
}

export async function listAssistants(organizationId: string): Promise<AssistantItem[]> {
  const items = await queryAll<AssistantItem>({
    TableName: tableName('databases'),
    KeyConditionExpression: 'organizationId = :o AND begins_with(id, :p)',
    ExpressionAttributeValues: { ':o': organizationId, ':p': ASSISTANT_ID_PREFIX },
  });
  return items.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/** An assistant by id or by name (case and Unicode form folded), or undefined. */
export async function findAssistant(organizationId: string, ref: string): Promise<AssistantItem | undefined> {
  if (isAssistantId(ref)) return getAssistant(organizationId, ref);
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName('databases'), Key: { organizationId, id: nameLockId(ref) }, ConsistentRead: true }),
  );
  const lock = Item as NameLockItem | undefined;
  return lock ? getAssistant(organizationId, lock.assistantId) : undefined;
}

export async function createAssistant(
  organizationId: string,
  settings: AssistantSettings,
  audit: AuditContext,
  now: Date,
): Promise<AssistantItem> {
  const { item, writes } = creationWrites(organizationId, settings, audit, now);
  const result = await transactWrite({ TransactItems: writes });
  if (!result.ok) {
    if (failedAt(result.reasons, 1)) throw nameTaken(settings.name);
    throw new Error('Assistant id collision'); // 119 random bits: not expected
  }
  return item;
}

/** Apply new settings to `current` (as just read), moving the name lock when the name changes. */
export async function updateAssistant(
  current: AssistantItem,
  next: AssistantSettings,
  audit: AuditContext,
  now: Date,
): Promise<AssistantItem> {
  const changes = settingsChanges(current, next);
  if (changes.length === 0) return current;
  const table = tableName('databases');
  const { organizationId } = current;
  const renamed = assistantNameKey(next.name) !== current.nameKey;
  const updated: AssistantItem = { ...current, ...next, nameKey: assistantNameKey(next.name), updatedAt: iso(now), version: current.version + 1 };
  const result = await transactWrite({
    TransactItems: [
      {
        Update: {
          TableName: table,
          Key: { organizationId, id: current.id },
          UpdateExpression:
            'SET #name = :name, nameKey = :nameKey, upstream = :upstream, model = :model, instructions = :instructions, ' +
            'maxInputTokens = :maxIn, maxOutputTokens = :maxOut, temperature = :temperature, updatedAt = :now, version = :next',
          ConditionExpression: 'version = :version',
          ExpressionAttributeNames: { '#name': 'name' },
          ExpressionAttributeValues: {
            ':name': next.name,
            ':nameKey': updated.nameKey,
            ':upstream': next.upstream,
            ':model': next.model,
            ':instructions': next.instructions,
            ':maxIn': next.maxInputTokens,
            ':maxOut': next.maxOutputTokens,
            ':temperature': next.temperature,
            ':now': iso(now),
            ':next': updated.version,
            ':version': current.version,
          },
        },
      },
      ...(renamed
        ? [
            {
              Put: {
                TableName: table,
                Item: { organizationId, id: nameLockId(next.name), assistantId: current.id } satisfies NameLockItem,
                ConditionExpression: 'attribute_not_exists(id)',
              },
            },
            { Delete: { TableName: table, Key: { organizationId, id: nameLockId(current.name) } } },
          ]
        : []),
      auditPut(audit, organizationId, { action: 'assistant.updated', target: { type: 'assistant', id: current.id }, changes }, now),
    ],
  });
  if (!result.ok) {
    if (renamed && failedAt(result.reasons, 1)) throw nameTaken(next.name);
    throw new ApiError('CONFLICT', 'The assistant changed meanwhile, try again');
  }
  return updated;
}

/** What still names an assistant: the org default, databases and live keys (the first few of each). */
export interface AssistantReferences {
  organizationDefault: boolean;
  databaseIds: string[];
  keyIds: string[];
}

async function referencesTo(organizationId: string, id: string): Promise<AssistantReferences> {
  const [org, databases, keys] = await Promise.all([
    db.send(new GetCommand({ TableName: tableName('organizations'), Key: { id: organizationId }, ConsistentRead: true, ProjectionExpression: 'defaultAssistantId' })),
    queryAll<{ id: string }>({
      TableName: tableName('databases'),
      KeyConditionExpression: 'organizationId = :o AND begins_with(id, :p)',
      FilterExpression: 'assistantId = :a',
      ExpressionAttributeValues: { ':o': organizationId, ':p': 'db_', ':a': id },
      ProjectionExpression: 'id',
    }),
    queryAll<{ id: string }>({
      TableName: tableName('apiKeys'),
      IndexName: 'byOrganization',
      KeyConditionExpression: 'organizationId = :o',
      FilterExpression: 'assistantId = :a AND #status <> :revoked',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':o': organizationId, ':a': id, ':revoked': 'revoked' },
      ProjectionExpression: 'id',
    }),
  ]);
  return {
    organizationDefault: (org.Item as { defaultAssistantId?: string } | undefined)?.defaultAssistantId === id,
    databaseIds: databases.map((d) => d.id),
    keyIds: keys.map((k) => k.id),
  };
}

function inUseMessage(refs: AssistantReferences): string | undefined {
  const parts: string[] = [];
  if (refs.organizationDefault) parts.push("the organization's default");
  if (refs.databaseIds.length) parts.push(`database(s) ${refs.databaseIds.slice(0, 5).join(', ')}`);
  if (refs.keyIds.length) parts.push(`key(s) ${refs.keyIds.slice(0, 5).join(', ')}`);
  return parts.length ? `The assistant is in use (${parts.join('; ')}): point them at another assistant first` : undefined;
}

export async function deleteAssistant(organizationId: string, id: string, audit: AuditContext, now: Date): Promise<void> {
  const current = await requireAssistant(organizationId, id);
  const inUse = inUseMessage(await referencesTo(organizationId, id));
  if (inUse) throw new ApiError('CONFLICT', inUse);
  const table = tableName('databases');
  const result = await transactWrite({
    TransactItems: [
      {
        Delete: {
          TableName: table,
          Key: { organizationId, id },
          ConditionExpression: current.refVersion === undefined ? 'attribute_exists(id) AND attribute_not_exists(refVersion)' : 'refVersion = :rv',
          ...(current.refVersion === undefined ? {} : { ExpressionAttributeValues: { ':rv': current.refVersion } }),
        },
      },
      { Delete: { TableName: table, Key: { organizationId, id: nameLockId(current.name) } } },
      {
        ConditionCheck: {
          TableName: tableName('organizations'),
          Key: { id: organizationId },
          ConditionExpression: 'attribute_not_exists(defaultAssistantId) OR defaultAssistantId <> :a',
          ExpressionAttributeValues: { ':a': id },
        },
      },
      auditPut(audit, organizationId, {
        action: 'assistant.deleted',
        target: { type: 'assistant', id },
        changes: [{ field: 'name', from: current.name, to: null }],
      }, now),
    ],
  });
  if (!result.ok) throw new ApiError('CONFLICT', 'The assistant changed or came into use meanwhile, try again');
}

/** The writes that create the `Default` assistant of a new organization, with its audit entry. */
export function defaultAssistantItems(
  organizationId: string,
  upstreams: readonly UpstreamChoice[],
  defaultUpstream: string,
  audit: AuditContext,
  now: Date,
): { item: AssistantItem; writes: TransactItem[] } {
  return creationWrites(organizationId, defaultAssistantSettings(upstreams, defaultUpstream), audit, now);
}

/** A new assistant's item, its writes (item and name lock) and its `assistant.created` audit entry. */
function creationWrites(
  organizationId: string,
  settings: AssistantSettings,
  audit: AuditContext,
  now: Date,
): { item: AssistantItem; writes: TransactItem[] } {
  const item = newAssistantItem(organizationId, settings, now);
  return {
    item,
    writes: [
      ...createItems(item),
      auditPut(audit, organizationId, {
        action: 'assistant.created',
        target: { type: 'assistant', id: item.id },
        changes: settingsChanges(null, settings),
      }, now),
    ],
  };
}

const SYSTEM = actorContext({ type: 'system', id: 'keygate', email: null });

/** Makes `assistantId` the organization's default, only where it has none yet. */
function firstDefaultAssistant(organizationId: string, assistantId: string) {
  return transactUpdate('organizations', { id: organizationId }, 'SET defaultAssistantId = :a', 'attribute_exists(id) AND attribute_not_exists(defaultAssistantId)', { ':a': assistantId });
}

/**
 * The organization's default assistant id, creating `Default` first for an organization made before
 * assistants existed. Idempotent under concurrency: the org item's `defaultAssistantId` is set only
 * where none is (and the name lock allows one `Default`), so racing first uses agree on one.
 */
export async function ensureDefaultAssistant(
  org: { id: string; defaultAssistantId?: string | null },
  upstreams: readonly UpstreamChoice[],
  defaultUpstream: string,
  now: Date = new Date(),
): Promise<string> {
  if (org.defaultAssistantId) return org.defaultAssistantId;
  const { item, writes } = defaultAssistantItems(org.id, upstreams, defaultUpstream, SYSTEM, now);
  const result = await transactWrite({
    TransactItems: [
      ...writes,
      firstDefaultAssistant(org.id, item.id),
    ],
  });
  if (result.ok) return item.id;
  // Someone else got there first: theirs is the default.
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName('organizations'), Key: { id: org.id }, ConsistentRead: true, ProjectionExpression: 'defaultAssistantId' }),
  );
  const existing = (Item as { defaultAssistantId?: string } | undefined)?.defaultAssistantId;
  if (existing) return existing;
  if (!Item) throw new ApiError('NOT_FOUND', 'Organization not found');
  // No default but a `Default` already exists (an owner made one): it becomes the default.
  const named = await findAssistant(org.id, 'Default');
  if (!named) throw new ApiError('SERVICE_UNAVAILABLE', 'The default assistant is being created, try again', {}, { 'Retry-After': '1' });
  const adopt = await transactWrite({
    TransactItems: [
      assistantRef(org.id, named.id),
      firstDefaultAssistant(org.id, named.id),
      auditPut(SYSTEM, org.id, {
        action: 'organization.updated',
        target: { type: 'organization', id: org.id },
        changes: [{ field: 'defaultAssistantId', from: null, to: named.id }],
      }, now),
    ],
  });
  if (adopt.ok) return named.id;
  return ensureDefaultAssistant({ id: org.id }, upstreams, defaultUpstream, now);
}
