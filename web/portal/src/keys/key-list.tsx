// The key list (docs/api.md "Portal (web)"): badges, and per row the owner's actions and their
// dialogs. A rolled key's replacement shows in the new-key dialog, as after creation.
import { useState } from 'preact/hooks';
import type { ApiKey, KeyType, NewApiKey } from '../../../api/management.ts';
import { useSession } from '../session.tsx';
import { CopyButton, Dialog, ErrorAlert, Field, FormActions, formatDate, formatDateTime, formatNumber, Hidden, Table, useAction } from '../ui.tsx';
import { NewKeyDialog } from './new-key.tsx';

export const TYPE_LABEL: Record<KeyType, string> = { secret: 'Secret', publishable: 'Widget' };
const STATUS_LABEL = { active: 'Active', disabled: 'Disabled', expired: 'Expired' } as const;

export function TypeBadge({ type }: { type: KeyType }) {
  return <span class={`badge badge-${type}`}>{TYPE_LABEL[type]}</span>;
}

export function StatusBadge({ status }: { status: ApiKey['status'] }) {
  return <span class={`badge status-${status}`}>{STATUS_LABEL[status]}</span>;
}

function RevokeDialog(props: { apiKey: ApiKey; onClose: () => void; onRevoked: () => void }) {
  const { api } = useSession();
  const action = useAction();
  return (
    <Dialog title={`Revoke ${props.apiKey.name}?`} onClose={props.onClose}>
      <p>
        The key <span class="mono">{props.apiKey.displayKey}</span> stops working at once, and every chat session it started ends. This
        cannot be undone.
      </p>
      <ErrorAlert error={action.error} />
      <div class="actions">
        <button
          type="button"
          class="danger"
          disabled={action.busy}
          onClick={async () => {
            if (await action.run(() => api.revokeKey(props.apiKey.organizationId, props.apiKey.id))) props.onRevoked();
          }}
        >
          Revoke API key
        </button>
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

function RollDialog(props: { apiKey: ApiKey; onClose: () => void; onRolled: (key: NewApiKey) => void }) {
  const { api } = useSession();
  const action = useAction();
  const [hours, setHours] = useState('24');
  return (
    <Dialog title={`Roll ${props.apiKey.name}`} onClose={props.onClose}>
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          let rolled: NewApiKey | undefined;
          const ok = await action.run(async () => {
            rolled = await api.rollKey(props.apiKey.organizationId, props.apiKey.id, hours.trim() === '' ? undefined : Number(hours));
          });
          if (ok && rolled) props.onRolled(rolled);
        }}
      >
        <p>A replacement key with the same settings is created. The old key keeps working for the grace period, then expires.</p>
        <Field label="Grace period (hours)" type="number" min={0} max={168} step={1} value={hours} onValue={setHours} />
        <FormActions action={action} submit="Roll API key" onCancel={props.onClose} />
      </form>
    </Dialog>
  );
}

/** The key list: owners get Disable/Enable, Roll and Revoke per row. */
export function KeyTable(props: { keys: ApiKey[]; onChanged: () => void; caption: string }) {
  const { api, canManageKeys } = useSession();
  const [dialog, setDialog] = useState<{ kind: 'revoke' | 'roll'; key: ApiKey } | undefined>(undefined);
  const [rolled, setRolled] = useState<NewApiKey | undefined>(undefined);
  const toggle = useAction();
  if (props.keys.length === 0) return <p>No API keys match.</p>;
  return (
    <>
      <ErrorAlert error={toggle.error} />
      <Table caption={props.caption} columns={['Name', 'Type', 'Key', 'Created', 'Expires', 'Status', 'Allowed domains', 'Last used', 'Usage', canManageKeys && 'Actions']}>
        {props.keys.map((k) => (
          <tr key={k.id}>
            <th scope="row">{k.name}</th>
            <td><TypeBadge type={k.type} /></td>
            <td>
              <span class="mono">{k.displayKey}</span>
              {k.type === 'publishable' && k.key ? <> <CopyButton text={k.key} hiddenLabel={k.name} /></> : null}
            </td>
            <td>{formatDate(k.createdAt)}</td>
            <td>{formatDate(k.expiresAt)}</td>
            <td><StatusBadge status={k.status} /></td>
            <td>{k.type === 'publishable' ? k.allowedDomains.join(', ') || 'localhost only' : '—'}</td>
            <td>{formatDateTime(k.lastUsedAt)}</td>
            <td>{formatNumber(k.usageCount)}</td>
            {canManageKeys ? (
              <td class="row-actions">
                {k.status === 'expired' ? null : (
                  <button
                    type="button"
                    disabled={toggle.busy}
                    onClick={async () => {
                      const status = k.status === 'active' ? 'disabled' : 'active';
                      if (await toggle.run(() => api.updateKey(k.organizationId, k.id, { status }))) props.onChanged();
                    }}
                  >
                    {k.status === 'active' ? 'Disable' : 'Enable'}
                    <Hidden> {k.name}</Hidden>
                  </button>
                )}
                <button type="button" onClick={() => setDialog({ kind: 'roll', key: k })}>
                  Roll<Hidden> {k.name}</Hidden>
                </button>
                <button type="button" class="danger" onClick={() => setDialog({ kind: 'revoke', key: k })}>
                  Revoke<Hidden> {k.name}</Hidden>
                </button>
              </td>
            ) : null}
          </tr>
        ))}
      </Table>
      {dialog?.kind === 'revoke' ? (
        <RevokeDialog
          apiKey={dialog.key}
          onClose={() => setDialog(undefined)}
          onRevoked={() => {
            setDialog(undefined);
            props.onChanged();
          }}
        />
      ) : null}
      {dialog?.kind === 'roll' ? (
        <RollDialog
          apiKey={dialog.key}
          onClose={() => setDialog(undefined)}
          onRolled={(key) => {
            setDialog(undefined);
            setRolled(key);
            props.onChanged();
          }}
        />
      ) : null}
      {rolled ? <NewKeyDialog created={rolled} onDone={() => setRolled(undefined)} /> : null}
    </>
  );
}
