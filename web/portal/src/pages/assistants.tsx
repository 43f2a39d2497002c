// Assistants (docs/api.md "Chat backends (upstreams) and assistants"): who answers. Owners create,
// edit and delete them, choosing among the deployed upstreams and their models by name, and pick
// the organization's default; everyone else reads them. The Assistant combobox that databases and
// widget keys use lives here too.
import { useState } from 'preact/hooks';
import type { Assistant, AssistantInput, ManagementClient, Upstream } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ActionForm, ConfirmDialog, Dialog, ErrorAlert, Field, FormActions, formatNumber, LoadedView, RowAction, Select, Table, useAction, useLoad } from '../ui.tsx';

/** The API's bounds (docs/api.md): names 1..50, instructions up to 8,000 characters. */
const NAME_MAX = 50;
const INSTRUCTIONS_MAX = 8_000;
const OUTPUT = { min: 1, max: 32_000, default: 1_024 };
const INPUT = { min: 1, max: 200_000, default: 8_000 };

/** A required whole number of tokens within an assistant's bounds. */
function TokenCountField(props: { label: string; bounds: { min: number; max: number }; value: string; onValue: (value: string) => void }) {
  return <Field label={props.label} type="number" min={props.bounds.min} max={props.bounds.max} step={1} required value={props.value} onValue={props.onValue} />;
}

export interface AssistantChoices {
  assistants: Assistant[];
  /** The organization's default assistant, when the organization names one. */
  defaultAssistant: Assistant | undefined;
}

/** The organization's assistants and its default (read after the list, which creates `Default` if missing). */
export async function loadAssistantChoices(api: ManagementClient, orgId: string): Promise<AssistantChoices> {
  const { items } = await api.listAssistants(orgId);
  const org = await api.getOrganization(orgId);
  return { assistants: items, defaultAssistant: items.find((a) => a.id === org.defaultAssistantId) };
}

/**
 * [combobox] `Assistant`: the first option ('') leaves the choice to what comes next (a database's
 * assistant, else the organization's default), named by `inherited`.
 */
export function AssistantSelect(props: {
  choices: AssistantChoices | undefined;
  value: string;
  onValue: (id: string) => void;
  inherited?: string;
  disabled?: boolean;
  hint?: string;
}) {
  const assistants = props.choices?.assistants ?? [];
  const options = [
    ...(props.inherited !== undefined ? [{ value: '', label: props.inherited }] : []),
    ...assistants.map((a) => ({ value: a.id, label: a.name })),
  ];
  // A value no option has yet (the list is still loading) shows as the inherited choice until it is there.
  const value = options.some((o) => o.value === props.value) ? props.value : (options[0]?.value ?? '');
  return (
    <Select
      label="Assistant"
      value={value}
      options={options}
      onValue={props.onValue}
      disabled={props.disabled || options.length === 0}
      {...(props.hint ? { hint: props.hint } : {})}
    />
  );
}

/** "Organization default (Default)". */
export function organizationDefaultLabel(choices: AssistantChoices | undefined): string {
  return choices?.defaultAssistant ? `Organization default (${choices.defaultAssistant.name})` : 'Organization default';
}

interface Draft {
  name: string;
  upstream: string;
  model: string;
  instructions: string;
  maxOutputTokens: string;
  maxInputTokens: string;
  temperature: string;
}

function draftOf(assistant: Assistant | undefined, upstreams: Upstream[]): Draft {
  const upstream = assistant?.upstream ?? upstreams[0]?.name ?? '';
  return {
    name: assistant?.name ?? '',
    upstream,
    model: assistant?.model ?? upstreams.find((u) => u.name === upstream)?.models[0] ?? '',
    instructions: assistant?.instructions ?? '',
    maxOutputTokens: String(assistant?.maxOutputTokens ?? OUTPUT.default),
    maxInputTokens: String(assistant?.maxInputTokens ?? INPUT.default),
    temperature: assistant?.temperature === null || assistant?.temperature === undefined ? '' : String(assistant.temperature),
  };
}

/** What the form sends: a model only for an upstream that has models, a blank temperature as the upstream's own. */
function inputOf(draft: Draft, upstreams: Upstream[]): AssistantInput {
  const models = upstreams.find((u) => u.name === draft.upstream)?.models ?? [];
  const name = draft.name.trim();
  if (name.length > NAME_MAX) throw new Error(`The assistant name is ${name.length} characters long; at most ${NAME_MAX} are allowed.`);
  return {
    name,
    upstream: draft.upstream,
    model: models.length > 0 ? draft.model || models[0]! : null,
    instructions: draft.instructions,
    maxOutputTokens: Number(draft.maxOutputTokens),
    maxInputTokens: Number(draft.maxInputTokens),
    temperature: draft.temperature.trim() === '' ? null : Number(draft.temperature),
  };
}

/** The fields of an assistant, for creating one and for editing one. */
function AssistantFields(props: { draft: Draft; onDraft: (draft: Draft) => void; upstreams: Upstream[]; autofocus?: boolean }) {
  const { draft, upstreams } = props;
  const set = (change: Partial<Draft>) => props.onDraft({ ...draft, ...change });
  const models = upstreams.find((u) => u.name === draft.upstream)?.models ?? [];
  return (
    <>
      <Field
        label="Assistant name"
        value={draft.name}
        onValue={(name) => set({ name })}
        required
        placeholder="Support"
        {...(props.autofocus ? { 'data-autofocus': true } : {})}
      />
      <Select
        label="Upstream"
        value={draft.upstream}
        options={upstreams.map((u) => ({ value: u.name, label: `${u.name} (${u.kind})` }))}
        onValue={(upstream) => set({ upstream, model: upstreams.find((u) => u.name === upstream)?.models[0] ?? '' })}
      />
      {models.length > 0 ? <Select label="Model" value={draft.model} options={models.map((m) => ({ value: m, label: m }))} onValue={(model) => set({ model })} /> : null}
      <label>
        Instructions
        <textarea
          rows={4}
          value={draft.instructions}
          maxLength={INSTRUCTIONS_MAX}
          onInput={(e) => set({ instructions: (e.target as HTMLTextAreaElement).value })}
          placeholder="You answer questions about our products, briefly and politely."
        />
        <span class="hint">The system prompt, up to {formatNumber(INSTRUCTIONS_MAX)} characters.</span>
      </label>
      <div class="field-row">
        <TokenCountField label="Max output tokens" bounds={OUTPUT} value={draft.maxOutputTokens} onValue={(maxOutputTokens) => set({ maxOutputTokens })} />
        <TokenCountField label="Max input tokens" bounds={INPUT} value={draft.maxInputTokens} onValue={(maxInputTokens) => set({ maxInputTokens })} />
        <Field
          label="Temperature"
          type="number"
          min={0}
          max={2}
          step={0.1}
          placeholder="Upstream's own"
          value={draft.temperature}
          onValue={(temperature) => set({ temperature })}
        />
      </div>
    </>
  );
}

function CreateAssistantForm(props: { upstreams: Upstream[]; onCreated: (assistant: Assistant) => void }) {
  const { api } = useSession();
  const org = useOrganization();
  const [draft, setDraft] = useState(() => draftOf(undefined, props.upstreams));
  const create = useAction();
  return (
    <ActionForm
      class="card"
      aria-labelledby="create-assistant-title"
      action={create}
      run={() => api.createAssistant(org.id, inputOf(draft, props.upstreams))}
      onDone={(created) => {
        setDraft(draftOf(undefined, props.upstreams));
        props.onCreated(created);
      }}
    >
      <h2 id="create-assistant-title">Create an assistant</h2>
      <AssistantFields draft={draft} onDraft={setDraft} upstreams={props.upstreams} />
      <FormActions action={create} submit="Create assistant" />
    </ActionForm>
  );
}

function EditAssistantDialog(props: { assistant: Assistant; upstreams: Upstream[]; onClose: () => void; onSaved: (assistant: Assistant) => void }) {
  const { api } = useSession();
  const { assistant } = props;
  const [draft, setDraft] = useState(() => draftOf(assistant, props.upstreams));
  const save = useAction();
  return (
    <Dialog title={`Edit ${assistant.name}`} onClose={props.onClose}>
      <ActionForm action={save} run={() => api.updateAssistant(assistant.organizationId, assistant.id, inputOf(draft, props.upstreams))} onDone={props.onSaved}>
        <AssistantFields draft={draft} onDraft={setDraft} upstreams={props.upstreams} autofocus />
        <FormActions action={save} submit="Save changes" onCancel={props.onClose} />
      </ActionForm>
    </Dialog>
  );
}

type Pending = { kind: 'edit' | 'delete'; assistant: Assistant };

export function AssistantsPage() {
  const { api, canManageAssistants: canManage } = useSession();
  const org = useOrganization();
  const choices = useLoad(() => loadAssistantChoices(api, org.id), [org.id]);
  const upstreams = useLoad(() => api.listUpstreams(org.id), [org.id]);
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const [notice, setNotice] = useState('');
  const makeDefault = useAction();
  const done = (text: string) => {
    setNotice(text);
    setPending(undefined);
    makeDefault.clear();
    choices.reload();
  };
  const upstreamList = upstreams.data?.items ?? [];
  const defaultId = choices.data?.defaultAssistant?.id;
  return (
    <>
      <h1>Assistants</h1>
      <p>
        An assistant is who answers: a chat backend of this deployment (its upstream) and model, instructions and limits. Widget keys are
        pinned to one assistant; secret keys may name one per request, else the database's or the organization's default answers.
        {canManage ? null : ' Only owners can create and change assistants.'}
      </p>
      <ErrorAlert error={upstreams.error} />
      {canManage && upstreams.data ? <CreateAssistantForm upstreams={upstreamList} onCreated={(a) => done(`${a.name} was created.`)} /> : null}
      <p role="status" class="status">
        {notice}
      </p>
      <h2>Your assistants</h2>
      <LoadedView loaded={choices} loading="Loading assistants…" otherError={makeDefault.error}>
        {(data) => (
          <Table cards caption="Your assistants" columns={['Name', 'Upstream', 'Model', 'Max output tokens', 'Instructions', canManage && 'Actions']}>
            {data.assistants.map((a) => (
              <tr key={a.id}>
                <th scope="row" class="key-name">
                  {a.name}
                  {a.id === defaultId ? <> <span class="badge status-active">Organization default</span></> : null}
                </th>
                <td data-label="Upstream">{a.upstream}</td>
                <td data-label="Model" class="key-name">{a.model ?? '—'}</td>
                <td data-label="Max output tokens">{formatNumber(a.maxOutputTokens)}</td>
                <td data-label="Instructions" class="instructions">{a.instructions || <span class="muted">None</span>}</td>
                {canManage ? (
                  <td class="row-actions">
                    <RowAction label="Edit" of={a.name} onClick={() => setPending({ kind: 'edit', assistant: a })} />
                    {a.id === defaultId ? null : (
                      <RowAction
                        label="Make default"
                        of={a.name}
                        disabled={makeDefault.busy}
                        onClick={async () => {
                          if (await makeDefault.run(() => api.updateOrganization(org.id, { defaultAssistantId: a.id }))) done(`${a.name} now answers by default.`);
                        }}
                      />
                    )}
                    <RowAction label="Delete" of={a.name} danger onClick={() => setPending({ kind: 'delete', assistant: a })} />
                  </td>
                ) : null}
              </tr>
            ))}
          </Table>
        )}
      </LoadedView>
      {pending?.kind === 'edit' ? (
        <EditAssistantDialog
          assistant={pending.assistant}
          upstreams={upstreamList}
          onClose={() => setPending(undefined)}
          onSaved={(a) => done(`${a.name} was saved.`)}
        />
      ) : null}
      {pending?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete ${pending.assistant.name}?`}
          confirm="Delete assistant"
          onConfirm={() => api.deleteAssistant(org.id, pending.assistant.id)}
          onClose={() => setPending(undefined)}
          onDone={() => done(`${pending.assistant.name} was deleted.`)}
        >
          <p>
            Chat sessions already started with it keep it. An assistant that the organization's default, a database or a widget key names cannot
            be deleted: choose another one there first.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
