// The pieces of key management the API Keys page and a database's Widget Integration share:
// the create form, the once-only display of a new key, the key table and its dialogs.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiKey, KeyType, NewApiKey } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { CopyButton, Dialog, ErrorAlert, Field, FormActions, formatDate, formatDateTime, formatNumber, Hidden, Table, useAction } from '../ui.tsx';

export const TYPE_LABEL: Record<KeyType, string> = { secret: 'Secret', publishable: 'Widget' };
const STATUS_LABEL = { active: 'Active', disabled: 'Disabled', expired: 'Expired' } as const;

/** docs/api.md section 1: names are 1..50 characters; lifetime 1..365 days. */
const MAX_NAME = 50;
const MAX_DAYS = 365;

export function CreateKeyForm(props: {
  /** A database's widget keys are always widget keys scoped to it. */
  databaseId?: string;
  onCreated: (key: NewApiKey) => void;
  onCancel: () => void;
}) {
  const { api } = useSession();
  const org = useOrganization();
  const [name, setName] = useState('');
  const [type, setType] = useState<KeyType>(props.databaseId ? 'publishable' : 'secret');
  const [domains, setDomains] = useState('');
  const [days, setDays] = useState(String(MAX_DAYS));
  const create = useAction();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <form
      class="card"
      aria-labelledby="create-key-title"
      onSubmit={async (event) => {
        event.preventDefault();
        let created: NewApiKey | undefined;
        const ok = await create.run(async () => {
          created = await api.createKey(org.id, {
            name,
            type,
            ...(type === 'publishable' && domains.trim() ? { allowedDomains: domains } : {}),
            ...(props.databaseId ? { databaseId: props.databaseId } : {}),
            ...(days.trim() ? { expiresInDays: Number(days) } : {}),
          });
        });
        if (ok && created) props.onCreated(created);
      }}
    >
      <h2 id="create-key-title">{props.databaseId ? 'New widget key for this database' : 'Create an API key'}</h2>
      <Field label="Key name" inputRef={first} value={name} onValue={setName} required maxLength={MAX_NAME} placeholder="Production Server" />
      {props.databaseId ? null : (
        <fieldset>
          <legend>Key type</legend>
          <label class="inline">
            <input type="radio" name="key-type" value="secret" checked={type === 'secret'} onChange={() => setType('secret')} />
            Secret
          </label>
          <span class="hint">For servers only: full API access, shown once.</span>
          <label class="inline">
            <input type="radio" name="key-type" value="publishable" checked={type === 'publishable'} onChange={() => setType('publishable')} />
            Widget
          </label>
          <span class="hint">Safe in a web page: locked to the domains you list.</span>
        </fieldset>
      )}
      {type === 'publishable' ? (
        <Field label="Allowed domains" value={domains} onValue={setDomains} placeholder="mysite.com, staging.mysite.com" aria-describedby="domains-hint">
          <span class="hint" id="domains-hint">
            Comma-separated. Subdomains are covered; localhost is always allowed; https:// is optional.
          </span>
        </Field>
      ) : null}
      <Field label="Expires in (days)" type="number" min={1} max={MAX_DAYS} step={1} value={days} onValue={setDays} />
      <FormActions action={create} submit="Generate API key" onCancel={props.onCancel} />
    </form>
  );
}

/**
 * The plaintext of a new key, shown once. It lives only in this component's props: `Done` unmounts
 * it, after which it is in no DOM node, storage or URL (docs/api.md section 9).
 */
export function NewKeyPanel(props: { created: NewApiKey; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  const secret = props.created.type === 'secret';
  return (
    <section class="card new-key" aria-labelledby="new-key-title">
      <h2 id="new-key-title">Your new API key: {props.created.name}</h2>
      <p>
        {secret
          ? 'Copy it now and keep it in a password manager or an environment variable. It is shown only once: Keygate keeps only a hash of it.'
          : 'Widget keys are safe in a web page. You can copy it again from the key list at any time.'}
      </p>
      <label>
        Your new API key
        <input ref={input} readOnly value={props.created.key} class="mono" spellcheck={false} autoComplete="off" />
      </label>
      <div class="actions">
        <CopyButton text={props.created.key} source={() => input.current} />
        <button type="button" class="primary" onClick={props.onDone}>
          Done
        </button>
      </div>
    </section>
  );
}

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

/** The key list (docs/api.md section 9): owners get Disable/Enable, Roll and Revoke per row. */
export function KeyTable(props: { keys: ApiKey[]; onChanged: () => void; onRolled: (key: NewApiKey) => void; caption: string }) {
  const { api, canManageKeys } = useSession();
  const [dialog, setDialog] = useState<{ kind: 'revoke' | 'roll'; key: ApiKey } | undefined>(undefined);
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
          onRolled={(rolled) => {
            setDialog(undefined);
            props.onRolled(rolled);
          }}
        />
      ) : null}
    </>
  );
}
