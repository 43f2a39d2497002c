// The audit log (docs/api.md "Audit log"), newest first, as people know things: a key by its name
// and display key, a member by email, a database or assistant by name, and each change in words. Filters by
// action and by target (a name, email or id). Any error shows in an alert.
import { useState } from 'preact/hooks';
import type { AuditEntry, ManagementClient } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ErrorAlert, Field, formatDateTime, formatNumber, Pager, Select, Table, useLoad, usePages } from '../ui.tsx';
import { describeChanges, type Target } from './audit-words.ts';
// The one list of audit actions (pure, no dependencies): the filter offers every action the API records.
import { AUDIT_ACTIONS } from '../../../../shared/domain/audit.ts';

const ACTION_OPTIONS = [{ value: '', label: 'All actions' }, ...AUDIT_ACTIONS.map((a) => ({ value: a, label: a }))];

/** What the organization's keys, members, databases and assistants are called, by id. */
async function targetNames(api: ManagementClient, orgId: string, orgName: string): Promise<Map<string, Target>> {
  const names = new Map<string, Target>([[orgId, { label: orgName, search: [orgName] }]]);
  const [members, databases, assistants] = await Promise.all([api.listMembers(orgId), api.listDatabases(orgId), api.listAssistants(orgId)]);
  for (const m of members.items) if (m.email) names.set(m.userId, { label: m.email, search: [m.email] });
  for (const d of databases.items) names.set(d.id, { label: d.name, search: [d.name] });
  for (const a of assistants.items) names.set(a.id, { label: a.name, search: [a.name] });
  let cursor: string | undefined;
  do {
    const page = await api.listKeys(orgId, { limit: 100, ...(cursor ? { cursor } : {}) });
    for (const k of page.items) names.set(k.id, { label: `${k.name} (${k.displayKey})`, search: [k.name, k.displayKey] });
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return names;
}

/** A key or member that no longer lists (revoked, removed) is still named by the entry that created or added it. */
function nameFromEntries(entries: AuditEntry[], id: string): string | undefined {
  for (const entry of entries) {
    if (entry.target.id !== id) continue;
    const named = entry.changes?.find((c) => (c.field === 'name' || c.field === 'email') && typeof c.to === 'string');
    if (named) return named.to as string;
  }
  return undefined;
}

const TARGET_TYPE: Record<string, string> = { api_key: 'Key', member: 'Member', database: 'Database', organization: 'Organization', webhook: 'Webhook', assistant: 'Assistant' };

export function AuditLogPage() {
  const { api, canReadAuditLog } = useSession();
  const org = useOrganization();
  const pages = usePages();
  const cursor = pages.cursor;
  const [action, setAction] = useState('');
  const [targetText, setTargetText] = useState('');
  const [target, setTarget] = useState('');
  const names = useLoad(() => (canReadAuditLog ? targetNames(api, org.id, org.name) : Promise.resolve(new Map<string, Target>())), [org.id, canReadAuditLog]);
  const targetId = resolveTarget(target, names.data);
  const log = useLoad(
    async () =>
      canReadAuditLog
        ? api.auditLog(org.id, { limit: 50, ...(cursor ? { cursor } : {}), ...(action ? { action } : {}), ...(targetId ? { targetId } : {}) })
        : undefined,
    [org.id, cursor, canReadAuditLog, action, targetId],
  );
  const nameOf = (entry: AuditEntry) => {
    const known = names.data?.get(entry.target.id)?.label ?? nameFromEntries(log.data?.items ?? [], entry.target.id);
    return `${TARGET_TYPE[entry.target.type] ?? entry.target.type} ${known ?? entry.target.id}`;
  };
  return (
    <>
      <h1>Audit log</h1>
      <p>Every change made to this organization, newest first.</p>
      {canReadAuditLog ? null : <p>Only owners and admins can read the audit log.</p>}
      {canReadAuditLog ? (
        <form
          class="filters"
          onSubmit={(event) => {
            event.preventDefault();
            setTarget(targetText.trim());
            pages.reset();
          }}
        >
          <Select label="Action" value={action} options={ACTION_OPTIONS} onValue={(value) => { setAction(value); pages.reset(); }} />
          <Field label="Target" value={targetText} onValue={setTargetText} placeholder="Key name, email or id" />
          <button type="submit">Filter</button>
        </form>
      ) : null}
      <ErrorAlert error={log.error ?? names.error} />
      {log.data ? (
        log.data.items.length === 0 ? (
          <p>{action || target ? 'No entries match.' : 'No audit entries yet.'}</p>
        ) : (
          <Table cards caption="Audit log" columns={['When', 'Action', 'Actor', 'Target', 'Changes']}>
            {log.data.items.map((entry) => (
              <tr key={entry.id}>
                <td data-label="When">{formatDateTime(entry.occurredAt)}</td>
                <th scope="row">{entry.action}</th>
                <td data-label="Actor">{entry.actor.email ?? (entry.actor.type === 'system' ? 'Keygate' : entry.actor.id)}{entry.actor.type === 'operator' ? ' (operator)' : ''}</td>
                <td data-label="Target" class="key-name">{nameOf(entry)}</td>
                <td data-label="Changes">
                  {describeChanges(entry.changes, formatDateTime, formatNumber, (id) => names.data?.get(id)?.label ?? nameFromEntries(log.data?.items ?? [], id))}
                </td>
              </tr>
            ))}
          </Table>
        )
      ) : log.loading && canReadAuditLog ? (
        <p role="status">Loading the audit log…</p>
      ) : null}
      {log.data?.items.length ? <Pager pages={pages} nextCursor={log.data.nextCursor} /> : null}
    </>
  );
}

/** A typed name, email or display key of a known target means its id; anything else is taken as an id. */
function resolveTarget(text: string, names: Map<string, Target> | undefined): string {
  if (!text) return '';
  const wanted = text.toLowerCase();
  for (const [id, target] of names ?? []) if (target.search.some((s) => s.toLowerCase() === wanted)) return id;
  return text;
}
