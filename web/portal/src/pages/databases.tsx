// Databases, and a database's page with its Widget Integration: widget keys scoped to the
// database and the embed snippet for each (the widget script is served beside the portal).
import { useState } from 'preact/hooks';
import type { ApiKey, Database, ManagementClient } from '../../../api/management.ts';
import { Link } from '../router.tsx';
import { useOrganization, useSession } from '../session.tsx';
import { ActionForm, CopyButton, ErrorAlert, Field, FormActions, formatDate, LoadedView, useAction, useLoad } from '../ui.tsx';
import { KeyTable } from '../keys/key-list.tsx';
import { CreateKeyFlow, embedSnippet } from '../keys/new-key.tsx';
import { AssistantSelect, loadAssistantChoices, organizationDefaultLabel, type AssistantChoices } from './assistants.tsx';

const DATABASES = '/organization/databases';

export function DatabasesPage() {
  const { api, canManageDatabases } = useSession();
  const org = useOrganization();
  const databases = useLoad(() => api.listDatabases(org.id), [org.id]);
  const [name, setName] = useState('');
  const create = useAction();
  return (
    <>
      <h1>Databases</h1>
      <p>A database holds what a widget answers from. Each database has its own widget keys.</p>
      {canManageDatabases ? (
        <ActionForm
          class="card"
          action={create}
          run={() => api.createDatabase(org.id, name)}
          onDone={() => {
            setName('');
            databases.reload();
          }}
        >
          <Field label="Database name" value={name} onValue={setName} required maxLength={100} />
          <FormActions action={create} submit="Create database" />
        </ActionForm>
      ) : null}
      <LoadedView loaded={databases} loading="Loading databases…">
        {(data) => (
          data.items.length === 0 ? (
            <p>No databases yet.</p>
          ) : (
            <ul class="db-list">
              {data.items.map((db) => (
                <li key={db.id}>
                  <Link href={`${DATABASES}/${encodeURIComponent(db.id)}`}>{db.name}</Link> <span class="muted">created {formatDate(db.createdAt)}</span>
                </li>
              ))}
            </ul>
          )
        )}
      </LoadedView>
    </>
  );
}

/** Every widget key of the organization scoped to this database (the list API filters by type only). */
async function widgetKeysOf(api: ManagementClient, orgId: string, databaseId: string): Promise<ApiKey[]> {
  const keys: ApiKey[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.listKeys(orgId, { type: 'publishable', limit: 100, ...(cursor ? { cursor } : {}) });
    keys.push(...page.items.filter((k) => k.databaseId === databaseId));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return keys;
}

/** Which assistant answers this database's widget keys (those created without one of their own). */
function DatabaseAssistant(props: { database: Database; choices: AssistantChoices | undefined; onSaved: () => void }) {
  const { api, canManageDatabases } = useSession();
  const org = useOrganization();
  const { database, choices } = props;
  const [assistantId, setAssistantId] = useState(database.assistantId ?? '');
  const [notice, setNotice] = useState('');
  const save = useAction();
  return (
    <ActionForm
      class="card"
      aria-labelledby="database-assistant"
      action={save}
      run={() => {
        setNotice('');
        return api.updateDatabase(org.id, database.id, { assistantId: assistantId || null });
      }}
      onDone={() => {
        const chosen = choices?.assistants.find((a) => a.id === assistantId);
        setNotice(`Saved: ${chosen ? chosen.name : 'the organization default'} answers for this database.`);
        props.onSaved();
      }}
    >
      <h2 id="database-assistant">Assistant</h2>
      <AssistantSelect
        choices={choices}
        value={assistantId}
        onValue={setAssistantId}
        inherited={organizationDefaultLabel(choices)}
        disabled={!canManageDatabases}
        hint="Who answers a widget key created for this database without an assistant of its own. Keys already created keep theirs."
      />
      {canManageDatabases ? <FormActions action={save} submit="Save assistant" /> : null}
      <p role="status" class="status">
        {notice}
      </p>
    </ActionForm>
  );
}

export function DatabasePage({ databaseId }: { databaseId: string }) {
  const { api } = useSession();
  const org = useOrganization();
  const databases = useLoad(() => api.listDatabases(org.id), [org.id]);
  const keys = useLoad(() => widgetKeysOf(api, org.id, databaseId), [org.id, databaseId]);
  const choices = useLoad(() => loadAssistantChoices(api, org.id), [org.id]);
  const database = databases.data?.items.find((d) => d.id === databaseId);
  const databaseAssistant = choices.data?.assistants.find((a) => a.id === database?.assistantId);
  if (databases.data && !database) {
    return (
      <>
        <h1>Database not found</h1>
        <p>
          This organization has no database {databaseId}. Back to <Link href={DATABASES}>Databases</Link>.
        </p>
      </>
    );
  }
  return (
    <>
      <p>
        <Link href={DATABASES}>All databases</Link>
      </p>
      <h1>{database?.name ?? 'Database'}</h1>
      <ErrorAlert error={databases.error ?? choices.error} />
      {database ? <DatabaseAssistant key={database.id} database={database} choices={choices.data} onSaved={databases.reload} /> : null}
      <section aria-labelledby="widget-integration">
        <h2 id="widget-integration">Widget Integration</h2>
        <p>Add the chat widget to your site with a widget key scoped to this database. Paste the snippet before the closing body tag.</p>
        <CreateKeyFlow
          label="Create New API Key"
          databaseId={databaseId}
          inheritedAssistant={databaseAssistant ? `This database's (${databaseAssistant.name})` : organizationDefaultLabel(choices.data)}
          onCreated={() => keys.reload()}
        />
        <LoadedView loaded={keys} loading="Loading widget keys…">
          {(data) => (
            data.length === 0 ? (
              <p>No widget keys for this database yet.</p>
            ) : (
              <>
                <ul class="snippets">
                  {data.map((k) =>
                    k.key ? (
                      <li key={k.id}>
                        <h3>Embed snippet for {k.name}</h3>
                        <pre tabIndex={0} aria-label={`Embed snippet for ${k.name}`}>
                          <code>{embedSnippet(window.location.origin, k.key)}</code>
                        </pre>
                        <CopyButton text={embedSnippet(window.location.origin, k.key)} label="Copy snippet" hiddenLabel={`for ${k.name}`} />
                      </li>
                    ) : null,
                  )}
                </ul>
                <h3>Widget keys of this database</h3>
                <KeyTable
                  caption="Widget keys of this database"
                  keys={data}
                  onChanged={keys.reload}
                  empty={<p>No widget keys for this database yet.</p>}
                />
              </>
            )
          )}
        </LoadedView>
      </section>
    </>
  );
}
