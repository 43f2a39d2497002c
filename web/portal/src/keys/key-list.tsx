// The key list (docs/api.md "Portal (web)"): badges, and per row the owner's actions and their
// dialogs. A rolled key's replacement shows in the new-key dialog, as after creation.
import { useState } from 'preact/hooks';
import type { ApiKey, KeyType, NewApiKey } from '../../../api/management.ts';
import { useSession } from '../session.tsx';
import { ActionForm, ConfirmDialog, CopyButton, Dialog, ErrorAlert, Field, FormActions, formatDate, formatDateTime, formatNumber, RowAction, Table, useAction, useLoad } from '../ui.tsx';
import { loadAssistantChoices } from '../pages/assistants.tsx';
import { MAX_NAME, NewKeyDialog, NameField, WidgetKeyFields, domainList, useWidgetKeyState } from './new-key.tsx';

export const TYPE_LABEL: Record<KeyType, string> = { secret: 'Secret', publishable: 'Widget' };
const STATUS_LABEL = { active: 'Active', disabled: 'Disabled', expired: 'Expired' } as const;

export function TypeBadge({ type }: { type: KeyType }) {
  return <span class={`badge badge-${type}`}>{TYPE_LABEL[type]}</span>;
}

export function StatusBadge({ status }: { status: ApiKey['status'] }) {
  return <span class={`badge status-${status}`}>{STATUS_LABEL[status]}</span>;
}

/** A rolled key: `Replaced` beside its status, and when it stops (or stopped) working. */
function KeyStatus({ apiKey }: { apiKey: ApiKey }) {
  return (
    <>
      <StatusBadge status={apiKey.status} />
      {apiKey.replacedBy ? (
        <span class="replaced">
          {' '}
          <span class="badge status-replaced">Replaced</span>{' '}
          <span class="muted">
            {apiKey.status === 'expired' ? 'expired' : 'expires'} {formatDateTime(apiKey.expiresAt)}
          </span>
        </span>
      ) : null}
    </>
  );
}

function RevokeDialog(props: { apiKey: ApiKey; onClose: () => void; onRevoked: () => void }) {
  const { api } = useSession();
  return (
    <ConfirmDialog
      title={`Revoke ${props.apiKey.name}?`}
      confirm="Revoke API key"
      onConfirm={() => api.revokeKey(props.apiKey.organizationId, props.apiKey.id)}
      onClose={props.onClose}
      onDone={props.onRevoked}
    >
      <p>
        The key <span class="mono">{props.apiKey.displayKey}</span> stops working at once, and every chat session it started ends. This
        cannot be undone.
      </p>
    </ConfirmDialog>
  );
}

function RollDialog(props: { apiKey: ApiKey; onClose: () => void; onRolled: (key: NewApiKey) => void }) {
  const { api } = useSession();
  const action = useAction();
  const [hours, setHours] = useState('24');
  return (
    <Dialog title={`Roll ${props.apiKey.name}`} onClose={props.onClose}>
      <ActionForm
        action={action}
        run={() => api.rollKey(props.apiKey.organizationId, props.apiKey.id, hours.trim() === '' ? undefined : Number(hours))}
        onDone={props.onRolled}
      >
        <p>A replacement key with the same settings is created. The old key keeps working for the grace period, then expires.</p>
        <Field label="Grace period (hours)" data-autofocus type="number" min={0} max={168} step={1} value={hours} onValue={setHours} />
        <FormActions action={action} submit="Roll API key" onCancel={props.onClose} />
      </ActionForm>
    </Dialog>
  );
}

/** Name and allowed domains of an existing key: the key string (and a widget's snippet) stay the same. */
function EditDialog(props: { apiKey: ApiKey; onClose: () => void; onSaved: () => void }) {
  const { api } = useSession();
  const { apiKey } = props;
  const action = useAction();
  const [name, setName] = useState(apiKey.name);
  const publishable = apiKey.type === 'publishable';
  const widget = useWidgetKeyState(apiKey.allowedDomains.join(', '), apiKey.assistantId ?? '');
  const { assistantId } = widget;
  const choices = useLoad(() => (publishable ? loadAssistantChoices(api, apiKey.organizationId) : Promise.resolve(undefined)), [apiKey.organizationId, publishable]);
  return (
    <Dialog title={`Edit ${apiKey.name}`} onClose={props.onClose}>
      <ActionForm
        noValidate
        action={action}
        run={() =>
          api.updateKey(apiKey.organizationId, apiKey.id, {
            name: name.trim(),
            ...(publishable ? { allowedDomains: domainList(widget.domains) } : {}),
            ...(publishable && assistantId && assistantId !== apiKey.assistantId ? { assistantId } : {}),
          })
        }
        onDone={props.onSaved}
      >
        <NameField value={name} onValue={setName} autofocus />
        {publishable ? (
          <WidgetKeyFields
            {...widget}
            choices={choices.data}
            {...(apiKey.assistantId ? {} : { inherited: 'As the key was created (the default of its database or organization)' })}
          />
        ) : null}
        <FormActions action={action} submit="Save changes" onCancel={props.onClose} />
      </ActionForm>
    </Dialog>
  );
}

type RowDialog = { kind: 'revoke' | 'roll' | 'edit'; key: ApiKey };

/**
 * The key list: owners get Edit, Disable/Enable, Roll and Revoke per row. On a narrow screen each
 * row is a card (styles.css), so every key's name, status and actions stay on screen.
 */
export function KeyTable(props: { keys: ApiKey[]; onChanged: () => void; caption: string; empty: preact.ComponentChildren }) {
  const { api, canManageKeys, organization } = useSession();
  const [dialog, setDialog] = useState<RowDialog | undefined>(undefined);
  // Which assistant each widget key answers with, by name (read only when the list has a widget key).
  const hasWidget = props.keys.some((k) => k.type === 'publishable' && k.assistantId);
  const choices = useLoad(
    () => (hasWidget && organization ? loadAssistantChoices(api, organization.id) : Promise.resolve(undefined)),
    [organization?.id, hasWidget],
  );
  const assistantName = (id: string | null) => (id ? choices.data?.assistants.find((a) => a.id === id)?.name : undefined);
  const [rolled, setRolled] = useState<NewApiKey | undefined>(undefined);
  const toggle = useAction();
  const close = () => setDialog(undefined);
  const closeAndReload = () => {
    setDialog(undefined);
    toggle.clear();
    props.onChanged();
  };
  return (
    <>
      <ErrorAlert error={toggle.error} />
      {props.keys.length === 0 ? (
        props.empty
      ) : (
        <Table
          cards
          caption={props.caption}
          columns={['Name', 'Type', 'Key', 'Created', 'Expires', 'Status', 'Allowed domains', 'Last used', 'Usage', canManageKeys && 'Actions']}
        >
          {props.keys.map((k) => (
            <tr key={k.id}>
              <th scope="row" class="key-name">{k.name}</th>
              <td data-label="Type">
                <TypeBadge type={k.type} />
                {k.type === 'publishable' && assistantName(k.assistantId) ? <span class="muted key-assistant">Assistant: {assistantName(k.assistantId)}</span> : null}
              </td>
              <td data-label="Key">
                <span class="mono">{k.displayKey}</span>
                {k.type === 'publishable' && k.key ? <> <CopyButton text={k.key} hiddenLabel={k.name} /></> : null}
              </td>
              <td data-label="Created">{formatDate(k.createdAt)}</td>
              <td data-label="Expires">{formatDate(k.expiresAt)}</td>
              <td data-label="Status"><KeyStatus apiKey={k} /></td>
              <td data-label="Allowed domains" class="domains">{k.type === 'publishable' ? k.allowedDomains.join(', ') || 'localhost only' : '—'}</td>
              <td data-label="Last used">{formatDateTime(k.lastUsedAt)}</td>
              <td data-label="Usage">{formatNumber(k.usageCount)}</td>
              {canManageKeys ? (
                <td class="row-actions">
                  {k.status === 'expired' ? null : (
                    <>
                      <RowAction label="Edit" of={k.name} onClick={() => setDialog({ kind: 'edit', key: k })} />
                      <RowAction
                        label={k.status === 'active' ? 'Disable' : 'Enable'}
                        of={k.name}
                        disabled={toggle.busy}
                        onClick={async () => {
                          const status = k.status === 'active' ? 'disabled' : 'active';
                          if (await toggle.run(() => api.updateKey(k.organizationId, k.id, { status }))) props.onChanged();
                        }}
                      />
                    </>
                  )}
                  <RowAction label="Roll" of={k.name} onClick={() => setDialog({ kind: 'roll', key: k })} />
                  <RowAction label="Revoke" of={k.name} danger onClick={() => setDialog({ kind: 'revoke', key: k })} />
                </td>
              ) : null}
            </tr>
          ))}
        </Table>
      )}
      {dialog?.kind === 'revoke' ? <RevokeDialog apiKey={dialog.key} onClose={close} onRevoked={closeAndReload} /> : null}
      {dialog?.kind === 'edit' ? <EditDialog apiKey={dialog.key} onClose={close} onSaved={closeAndReload} /> : null}
      {dialog?.kind === 'roll' ? (
        <RollDialog
          apiKey={dialog.key}
          onClose={close}
          onRolled={(key) => {
            setRolled(key);
            closeAndReload();
          }}
        />
      ) : null}
      {rolled ? <NewKeyDialog created={rolled} onDone={() => setRolled(undefined)} /> : null}
    </>
  );
}
