// The audit log (docs/api.md "Audit log"), newest first; any error shows in an alert.
import { useOrganization, useSession } from '../session.tsx';
import { ErrorAlert, formatDateTime, Pager, Table, useLoad, usePages } from '../ui.tsx';

function describeChanges(changes: { field: string; from: unknown; to: unknown }[] | undefined): string {
  if (!changes?.length) return '—';
  return changes.map((c) => `${c.field}: ${JSON.stringify(c.from ?? null)} → ${JSON.stringify(c.to ?? null)}`).join('; ');
}

export function AuditLogPage() {
  const { api, canReadAuditLog } = useSession();
  const org = useOrganization();
  const pages = usePages();
  const cursor = pages.cursor;
  const log = useLoad(
    async () => (canReadAuditLog ? api.auditLog(org.id, { limit: 50, ...(cursor ? { cursor } : {}) }) : undefined),
    [org.id, cursor, canReadAuditLog],
  );
  return (
    <>
      <h1>Audit log</h1>
      <p>Every change made to this organization, newest first.</p>
      {canReadAuditLog ? null : <p>Only owners and admins can read the audit log.</p>}
      <ErrorAlert error={log.error} />
      {log.data ? (
        log.data.items.length === 0 ? (
          <p>No audit entries yet.</p>
        ) : (
          <Table caption="Audit log" columns={['When', 'Action', 'Actor', 'Target', 'Changes']}>
            {log.data.items.map((entry) => (
              <tr key={entry.id}>
                <td>{formatDateTime(entry.occurredAt)}</td>
                <th scope="row">{entry.action}</th>
                <td>{entry.actor.email ?? entry.actor.id} ({entry.actor.type})</td>
                <td>{entry.target.type} {entry.target.id}</td>
                <td>{describeChanges(entry.changes)}</td>
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
