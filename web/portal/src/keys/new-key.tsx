// Creating a key, and the one place its plaintext is ever shown: a modal dialog that nothing
// behind can take the focus from until Done, so a click elsewhere cannot drop the only copy.
import type { Ref } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { KeyType, NewApiKey } from '../../../api/management.ts';
import { useOrganization, useSession } from '../session.tsx';
import { ActionForm, CopyButton, Dialog, Field, FormActions, useAction, useLoad } from '../ui.tsx';
import { AssistantSelect, loadAssistantChoices, organizationDefaultLabel, type AssistantChoices } from '../pages/assistants.tsx';
import { domainList, droppedParts } from './domains.ts';

export { domainList };

/** The one line a site adds to show the chat widget; the script is served beside the portal. */
export function embedSnippet(portalOrigin: string, key: string): string {
  return `<script src="${portalOrigin}/widget.js" data-key="${key}" async></script>`;
}

/** docs/api.md "Keys": names are 1..50 characters; lifetime 1..365 days. */
export const MAX_NAME = 50;
const MAX_DAYS = 365;

/** Key name, never cut short: a name over the limit is refused with a message saying so. */
export function NameField(props: { value: string; onValue: (value: string) => void; autofocus?: boolean; inputRef?: Ref<HTMLInputElement> }) {
  const id = useId();
  const length = props.value.trim().length;
  const tooLong = length > MAX_NAME;
  return (
    <Field
      label="Key name"
      value={props.value}
      onValue={props.onValue}
      required
      placeholder="Production Server"
      aria-invalid={tooLong ? 'true' : undefined}
      aria-describedby={id}
      {...(props.autofocus ? { 'data-autofocus': true } : {})}
      {...(props.inputRef ? { inputRef: props.inputRef } : {})}
    >
      <span id={id} class={tooLong ? 'field-error' : 'hint'}>
        {tooLong ? `Too long: ${length} characters. A key name has at most ${MAX_NAME}.` : `At most ${MAX_NAME} characters.`}
      </span>
    </Field>
  );
}

/** Allowed domains, saying before saving what the key will allow: localhost only, or an entry's dropped path. */
export function DomainsField(props: { value: string; onValue: (value: string) => void }) {
  const id = useId();
  const dropped = droppedParts(props.value);
  return (
    <Field
      label="Allowed domains"
      value={props.value}
      onValue={props.onValue}
      placeholder="mysite.com, staging.mysite.com"
      aria-describedby={`${id}-hint ${id}-notes`}
    >
      <span class="hint" id={`${id}-hint`}>
        Comma-separated. Subdomains are covered; localhost is always allowed; https:// is optional.
      </span>
      <span class="notes" id={`${id}-notes`} aria-live="polite">
        {domainList(props.value).length === 0 ? (
          <span class="note">No domains: this key will work only from localhost, for trying it out.</span>
        ) : null}
        {dropped.map((d) => (
          <span class="note" key={d.entry}>
            {`${d.entry}: ${d.dropped} is dropped, the key allows ${d.kept}.`}
          </span>
        ))}
      </span>
    </Field>
  );
}

/** Refused before sending: the API would refuse it too, in less helpful words. */
export function nameProblem(name: string): string | undefined {
  const length = name.trim().length;
  if (length > MAX_NAME) return `The key name is ${length} characters long; at most ${MAX_NAME} are allowed.`;
  return undefined;
}

/** Said under a widget key's Assistant combobox: the choice is fixed in the key. */
export const PINNED_HINT = 'A widget key always answers with this assistant; only an owner\'s edit of the key changes it.';

/** What a widget key's own fields edit: the domains it answers on and the assistant it is pinned to. */
export function useWidgetKeyState(domains: string, assistantId: string) {
  const [domainsValue, onDomains] = useState(domains);
  const [assistantValue, onAssistantId] = useState(assistantId);
  return { domains: domainsValue, onDomains, assistantId: assistantValue, onAssistantId };
}

export function WidgetKeyFields(props: ReturnType<typeof useWidgetKeyState> & {
  choices: AssistantChoices | undefined;
  /** The Assistant combobox's first option (none: the key must name one). */
  inherited?: string;
}) {
  return (
    <>
      <DomainsField value={props.domains} onValue={props.onDomains} />
      <AssistantSelect
        choices={props.choices}
        value={props.assistantId}
        onValue={props.onAssistantId}
        hint={PINNED_HINT}
        {...(props.inherited !== undefined ? { inherited: props.inherited } : {})}
      />
    </>
  );
}

export function CreateKeyForm(props: {
  /** A database's widget keys are always widget keys scoped to it. */
  databaseId?: string;
  /** What the Assistant combobox's first option is called (default: the organization's default). */
  inheritedAssistant?: string;
  onCreated: (key: NewApiKey) => void;
  onCancel: () => void;
}) {
  const { api } = useSession();
  const org = useOrganization();
  const [name, setName] = useState('');
  const [type, setType] = useState<KeyType>(props.databaseId ? 'publishable' : 'secret');
  const widget = useWidgetKeyState('', '');
  const [days, setDays] = useState(String(MAX_DAYS));
  const publishable = type === 'publishable';
  const choices = useLoad(() => (publishable ? loadAssistantChoices(api, org.id) : Promise.resolve(undefined)), [org.id, publishable]);
  const create = useAction();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <ActionForm
      class="card"
      aria-labelledby="create-key-title"
      action={create}
      run={async () => {
        const problem = nameProblem(name);
        if (problem) throw new Error(problem);
        return api.createKey(org.id, {
          name: name.trim(),
          type,
          ...(type === 'publishable' ? { allowedDomains: domainList(widget.domains), ...(widget.assistantId ? { assistantId: widget.assistantId } : {}) } : {}),
          ...(props.databaseId ? { databaseId: props.databaseId } : {}),
          ...(days.trim() ? { expiresInDays: Number(days) } : {}),
        });
      }}
      onDone={props.onCreated}
    >
      <h2 id="create-key-title">{props.databaseId ? 'New widget key for this database' : 'Create an API key'}</h2>
      <NameField inputRef={first} value={name} onValue={setName} />
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
      {publishable ? (
        <WidgetKeyFields
          {...widget}
          choices={choices.data}
          inherited={props.inheritedAssistant ?? organizationDefaultLabel(choices.data)}
        />
      ) : null}
      <Field label="Expires in (days)" type="number" min={1} max={MAX_DAYS} step={1} value={days} onValue={setDays} />
      <FormActions action={create} submit="Generate API key" onCancel={props.onCancel} />
    </ActionForm>
  );
}

/**
 * The plaintext of a new or rolled key, shown once. It lives only in this component's props: `Done`
 * unmounts it, after which it is in no DOM node, storage or URL. Escape does not close it.
 */
export function NewKeyDialog(props: { created: NewApiKey; onDone: () => void; returnFocus?: () => HTMLElement | null }) {
  const input = useRef<HTMLInputElement>(null);
  const snippetBox = useRef<HTMLTextAreaElement>(null);
  const { created } = props;
  const secret = created.type === 'secret';
  const snippet = secret ? '' : embedSnippet(window.location.origin, created.key);
  return (
    <Dialog title="Your new API key" class="new-key" {...(props.returnFocus ? { returnFocus: props.returnFocus } : {})}>
      <p>
        <strong>{created.name}</strong>.{' '}
        {secret
          ? 'Copy it now and keep it in a password manager or an environment variable. It is shown only once: Keygate keeps only a hash of it.'
          : 'Widget keys are safe in a web page. You can copy it again from the key list at any time.'}
      </p>
      <label>
        Your new API key
        <input ref={input} data-autofocus readOnly value={created.key} class="mono" spellcheck={false} autoComplete="off" />
      </label>
      <div class="actions">
        <CopyButton text={created.key} source={() => input.current} />
      </div>
      {secret ? null : (
        <>
          <label>
            Embed snippet
            <textarea ref={snippetBox} readOnly rows={4} value={snippet} class="mono" spellcheck={false} aria-describedby="snippet-hint" />
          </label>
          <p class="hint" id="snippet-hint">
            Paste it before the closing body tag of a page on an allowed domain.
          </p>
          <div class="actions">
            <CopyButton text={snippet} label="Copy snippet" source={() => snippetBox.current} />
          </div>
        </>
      )}
      <div class="actions">
        <button type="button" class="primary" onClick={props.onDone}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

/**
 * The create-key flow both the API Keys page and a database's Widget Integration use: the button,
 * the form, then the new key's dialog; focus returns to the button after Done.
 */
export function CreateKeyFlow(props: { label: string; databaseId?: string; inheritedAssistant?: string; onCreated: () => void }) {
  const { canManageKeys } = useSession();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<NewApiKey | undefined>(undefined);
  const button = useRef<HTMLButtonElement>(null);
  if (!canManageKeys) return null;
  return (
    <>
      {creating ? (
        <CreateKeyForm
          {...(props.databaseId ? { databaseId: props.databaseId } : {})}
          {...(props.inheritedAssistant ? { inheritedAssistant: props.inheritedAssistant } : {})}
          onCancel={() => setCreating(false)}
          onCreated={(key) => {
            setCreating(false);
            setCreated(key);
            props.onCreated();
          }}
        />
      ) : (
        <button type="button" class="primary" ref={button} onClick={() => setCreating(true)}>
          {props.label}
        </button>
      )}
      {created ? (
        <NewKeyDialog
          created={created}
          onDone={() => setCreated(undefined)}
          returnFocus={() => button.current}
        />
      ) : null}
    </>
  );
}
