// The audit log (docs/api.md section 11), newest first. Until the audit-log route is deployed the
// API answers 404: that is shown as an empty log, any other error in an alert.
import { useState } from 'preact/hooks';
import { ApiClientError } from '../../../api/http.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ErrorAlert, formatDateTime, Table, useLoad } from '../ui.tsx';

function describeChanges(changes: { field: string; from: unknown; to: unknown }[] | undefined): string {
  if (!changes?.length) return '—';
  return changes.map((c) => `${c.field}: ${JSON.stringify(c.from ?? null)} → ${JSON.stringify(c.to ?? null)}`).join('; ');
}

export function AuditLogPage() {
  const { api, canReadAuditLog } = useSession();
  const org = useOrganization();
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const log = useLoad(async () => {
    if (!canReadAuditLog) return undefined;
    try {
      return await api.auditLog(org.id, { limit: 50, ...(cursor ? { cursor } : {}) });
    } catch (error) {
      if (error instanceof ApiClientError && error.status === 404) return { items: [], nextCursor: null };
      throw error;
    }
  }, [org.id, cursor, canReadAuditLog]);
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
      {log.data?.items.length ? (
        <div class="pager">
          <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous page
          </button>
          <button type="button" disabled={!log.data.nextCursor} onClick={() => log.data?.nextCursor && setCursors([...cursors, log.data.nextCursor])}>
            Next page
          </button>
        </div>
      ) : null}
    </>
  );
}
