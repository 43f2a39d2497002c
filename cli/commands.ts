// The operator commands. Loaded only after cli/target.ts has set the environment, because the
// shared/db modules create their DynamoDB client and read table names from it. Revokes go through
// the same shared/db function as the API's DELETE, so a revoke here is exactly a revoke there.
import { actorContext, type AuditAction } from '../shared/domain/audit.ts';
import { prefixesFromEnv } from '../shared/domain/api-key.ts';
import { keyQueryOf, KEY_ID_PATTERN } from '../shared/domain/key-query.ts';
import { keyDetails } from '../shared/domain/key-view.ts';
import { revokeKey } from '../shared/db/api-keys.ts';
import type { ApiKeyItem } from '../shared/domain/key-item.ts';
import { listAuditLog } from '../shared/db/audit-log.ts';
import { backfillNotices, type BackfillProgress } from '../shared/db/notice-backfill.ts';
import { countKeys, findByDisplayKey, getKeyItem, DISPLAY_MATCH_LIMIT } from '../shared/db/key-search.ts';
import { getOrganization, listMembers, organizationView } from '../shared/db/organizations.ts';
import { dailyUsage, withExactUsage } from '../shared/db/usage.ts';
import { CliError, EXIT } from './errors.ts';
import { fields, table } from './format.ts';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export interface Output {
  json: unknown;
  text: string;
}

/** What an operator sees of a key: the API's details (no hash, no plaintext, a publishable key's included) and how it was revoked. */
export function operatorKeyView(item: ApiKeyItem, now: Date) {
  return { ...keyDetails(item, now), revokedAt: item.revokedAt ?? null, revocationReason: item.revocationReason ?? null };
}
type KeyView = ReturnType<typeof operatorKeyView>;

function keyText(view: KeyView): string {
  return fields({
    key: `${view.id}  ${view.displayKey}  ${view.type}  ${view.status}`,
    organization: view.organizationId,
    name: view.name,
    created: `${view.createdAt} by ${view.createdBy}`,
    expires: view.expiresAt,
    'last used': `${view.lastUsedAt ?? 'never'} (${plural(view.usageCount, 'request')})`,
    scopes: view.scopes.join(', '),
    ...(view.allowedDomains.length ? { domains: view.allowedDomains.join(', ') } : {}),
    ...(view.revokedAt ? { revoked: `${view.revokedAt}${view.revocationReason ? ` (${view.revocationReason})` : ''}` } : {}),
  });
}

export async function keysFind(input: string, now = new Date()): Promise<Output> {
  const query = keyQueryOf(input, prefixesFromEnv());
  if (query.kind === 'invalid') throw new CliError(query.reason, EXIT.usage);
  let items: ApiKeyItem[];
  let more = false;
  if (query.kind === 'display') {
    ({ items, more } = await findByDisplayKey(query.displayKey));
  } else {
    const item = await getKeyItem(query.keyId);
    items = item ? [item] : [];
  }
  if (items.length === 0) {
    const what = { plaintext: 'the key (by its hash)', id: 'this key id', display: 'this display prefix' }[query.kind];
    throw new CliError(`no key matches ${what}`, EXIT.notFound);
  }
  // usageCount exact as the API shows it, per organization (a display prefix can match several).
  const views = await Promise.all(
    items.map(async (item) => (await withExactUsage(item.organizationId, [operatorKeyView(item, now)], now))[0]!),
  );
  const note = more ? `\nmore than ${DISPLAY_MATCH_LIMIT} keys share this display prefix: give the key or its id` : '';
  return {
    json: { matchedBy: query.kind, items: views, more },
    text: views.map(keyText).join('\n\n') + note,
  };
}

/** The `userAgent` of the audit entries the CLI writes. */
export const CLI_USER_AGENT = 'keygate-cli';

export interface Operator {
  name: string;
  reason: string;
}

export async function keysRevoke(keyId: string, operator: Operator, targetDescription: string, now = new Date()): Promise<Output> {
  if (!KEY_ID_PATTERN.test(keyId)) {
    throw new CliError('revoke takes a key id (key_ + 24 hex): find it with `keygate keys find`', EXIT.usage);
  }
  const item = await getKeyItem(keyId);
  if (!item) throw new CliError('no key has this id', EXIT.notFound);
  if (item.status === 'revoked') {
    const view = operatorKeyView(item, now);
    return { json: { revoked: true, alreadyRevoked: true, key: view }, text: `${keyId} was already revoked at ${item.revokedAt ?? '?'}` };
  }
  // The API's revoke, with an audit entry whose actor is this operator.
  const audit = actorContext({ type: 'operator', id: operator.name, email: null }, { userAgent: CLI_USER_AGENT });
  await revokeKey(item.organizationId, keyId, audit, now, operator.reason);
  const view = operatorKeyView({ ...item, status: 'revoked', revokedAt: now.toISOString(), revocationReason: operator.reason }, now);
  return {
    json: { revoked: true, alreadyRevoked: false, key: view, operator: operator.name, reason: operator.reason },
    text:
      `Revoked ${keyId} (${item.displayKey}, ${item.type}, organization ${item.organizationId}) on ${targetDescription}.\n` +
      `The next request with it is refused, and its sessions have ended. Reason: ${operator.reason} (operator ${operator.name})`,
  };
}

export async function orgsShow(organizationId: string, now = new Date()): Promise<Output> {
  const org = await getOrganization(organizationId);
  if (!org) throw new CliError('no organization has this id', EXIT.notFound);
  const [members, keys] = await Promise.all([listMembers(organizationId), countKeys(organizationId, now)]);
  const view = { ...organizationView(org), ownerCount: org.ownerCount, createdBy: org.createdBy };
  const json = { organization: view, members: members.map((m) => ({ userId: m.userId, role: m.role, createdAt: m.createdAt })), keys };
  const text = [
    fields({
      organization: `${view.id}  ${view.name}`,
      plan: view.plan,
      limits: `${view.limits.perMinute}/minute, ${view.limits.perDay}/day`,
      credits: String(view.credits),
      created: `${view.createdAt} by ${view.createdBy}`,
    }),
    '',
    `keys (${['secret', 'publishable'].map((t) => `${t}: ${Object.values(keys[t as 'secret']).reduce((a, b) => a + b, 0)}`).join(', ')}):`,
    table(['type', 'active', 'disabled', 'expired', 'revoked'], (['secret', 'publishable'] as const).map((t) => [t, ...(['active', 'disabled', 'expired', 'revoked'] as const).map((s) => String(keys[t][s]))])),
    '',
    `members (${members.length}):`,
    members.length ? table(['user', 'role', 'since'], members.map((m) => [m.userId, m.role, m.createdAt])) : '  none',
  ].join('\n');
  return { json, text };
}

export async function usage(organizationId: string, days: number, now = new Date()): Promise<Output> {
  const org = await getOrganization(organizationId);
  if (!org) throw new CliError('no organization has this id', EXIT.notFound);
  const items = await dailyUsage({ organizationId }, days, now);
  const total = items.reduce((sum, d) => ({ requests: sum.requests + d.requests, rateLimited: sum.rateLimited + d.rateLimited, credits: sum.credits + d.credits }), { requests: 0, rateLimited: 0, credits: 0 });
  return {
    json: { organizationId, days, items, total },
    text:
      table(['day (UTC)', 'requests', 'rate limited', 'credits'], items.map((d) => [d.date, String(d.requests), String(d.rateLimited), String(d.credits)])) +
      `\n${plural(days, 'day')}: ${plural(total.requests, 'request')}, ${total.rateLimited} rate limited, ${plural(total.credits, 'credit')}`,
  };
}

export interface AuditOptions {
  limit: number;
  cursor?: string;
  action?: AuditAction;
  targetId?: string;
}

export async function audit(organizationId: string, options: AuditOptions): Promise<Output> {
  const org = await getOrganization(organizationId);
  if (!org) throw new CliError('no organization has this id', EXIT.notFound);
  const page = await listAuditLog(organizationId, options);
  const change = (c: { field: string; from: unknown; to: unknown }) => `${c.field}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`;
  const rows = page.items.map((e) => [e.occurredAt, e.action, `${e.actor.type}:${e.actor.id}`, `${e.target.type}:${e.target.id}`, e.changes.map(change).join('; ')]);
  return {
    json: page,
    text:
      (rows.length ? table(['when (UTC)', 'action', 'actor', 'target', 'changes'], rows) : '  no entries') +
      (page.nextCursor ? `
more: --cursor ${page.nextCursor}` : ''),
  };
}

function backfillCounts(p: BackfillProgress): string {
  return `${plural(p.scanned, 'item')} scanned, ${p.unindexed} without a notice due, ${p.set} set, ` +
    `skipped ${p.skipped.revoked} revoked, ${p.skipped.expired} expired, ${p.skipped.notified} already notified, ${p.changedMeanwhile} changed meanwhile`;
}

/** Once after an upgrade: keys stored before expiry notices existed get their next one (shared/db/notice-backfill.ts). */
export async function noticesBackfill(
  options: { dryRun: boolean; organizationId?: string },
  targetDescription: string,
  progress?: (line: string) => void,
  now = new Date(),
): Promise<Output> {
  if (options.organizationId !== undefined && !(await getOrganization(options.organizationId))) {
    throw new CliError('no organization has this id', EXIT.notFound);
  }
  const result = await backfillNotices({
    now,
    dryRun: options.dryRun,
    ...(options.organizationId !== undefined ? { organizationId: options.organizationId } : {}),
    ...(progress ? { onPage: (p: BackfillProgress) => progress(`page ${p.pages}: ${backfillCounts(p)}`) } : {}),
  });
  const scope = options.organizationId ? `organization ${options.organizationId} on ` : '';
  const done = options.dryRun
    ? `Dry run on ${scope}${targetDescription}: nothing written; ${plural(result.set, 'key')} would be given their next expiry notice.`
    : `Backfilled expiry notices on ${scope}${targetDescription}: ${plural(result.set, 'key')} given ${result.set === 1 ? 'its' : 'their'} next expiry notice (none for a threshold already past).` +
      (result.changedMeanwhile ? ' Some keys changed while this ran: run it again to look at them.' : ' Running it again changes nothing.');
  return { json: { dryRun: options.dryRun, organizationId: options.organizationId ?? null, ...result }, text: `${done}\n${backfillCounts(result)}` };
}
