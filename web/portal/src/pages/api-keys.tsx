// Organization -> API Keys (/organization/api-key, the path the TalkifAI docs give): create a key,
// see it once, and manage the list with filters and pages.
import { useState } from 'preact/hooks';
import type { KeyStatus, KeyType } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { LoadedView, Pager, Select, useLoad, usePages } from '../ui.tsx';
import { KeyTable } from '../keys/key-list.tsx';
import { CreateKeyFlow } from '../keys/new-key.tsx';

const PAGE_SIZE = 20;
const TYPE_FILTER: { value: KeyType | ''; label: string }[] = [
  { value: '', label: 'All types' },
  { value: 'secret', label: 'Secret' },
  { value: 'publishable', label: 'Widget' },
];
const STATUS_FILTER: { value: KeyStatus | ''; label: string }[] = [
  { value: '', label: 'All statuses' },
  { value: 'active', label: 'Active' },
  { value: 'disabled', label: 'Disabled' },
  { value: 'expired', label: 'Expired' },
];

export function ApiKeysPage() {
  const { api, canManageKeys } = useSession();
  const org = useOrganization();
  const [type, setType] = useState<KeyType | ''>('');
  const [status, setStatus] = useState<KeyStatus | ''>('');
  const pages = usePages();
  const cursor = pages.cursor;
  const keys = useLoad(
    () => api.listKeys(org.id, { limit: PAGE_SIZE, ...(type ? { type } : {}), ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) }),
    [org.id, type, status, cursor],
  );
  const filtersChanged = pages.reset;

  return (
    <>
      <h1>API Keys</h1>
      <p>
        Secret keys are for servers and are shown once. Widget keys are safe in web pages and work only from the domains you allow.
        {canManageKeys ? null : ' Only owners can create and change keys.'}
      </p>
      <CreateKeyFlow label="Create API key" onCreated={() => keys.reload()} />

      <h2>Your API Keys</h2>
      <div class="filters">
        <Select label="Type" value={type} options={TYPE_FILTER} onValue={(value) => { setType(value); filtersChanged(); }} />
        <Select label="Status" value={status} options={STATUS_FILTER} onValue={(value) => { setStatus(value); filtersChanged(); }} />
      </div>
      <LoadedView loaded={keys} loading="Loading keys…">
        {(data) => (
          <KeyTable
            caption="Your API Keys"
            keys={data.items}
            onChanged={keys.reload}
            empty={
              type || status || cursor ? (
                <p>No API keys match.</p>
              ) : (
                <div class="card empty">
                  <h3>No API keys yet</h3>
                  <p>
                    {canManageKeys
                      ? 'Create your first key with Create API key above: a secret key for your server, or a widget key for a web page.'
                      : 'An owner of this organization can create the first one.'}
                  </p>
                </div>
              )
            }
          />
        )}
      </LoadedView>
      <Pager pages={pages} nextCursor={keys.data?.nextCursor} />
    </>
  );
}
