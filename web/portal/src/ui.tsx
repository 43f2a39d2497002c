// Small building blocks every page uses: the error alert, the error boundary, the modal dialog,
// labelled fields and selects, a form that runs an action and its submit row, a table, a pager, a
// loader hook and the view of what it loaded, and date and number formatting.
import { Component, type ComponentChildren, type FormHTMLAttributes, type InputHTMLAttributes, type Ref } from 'preact';
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiClientError } from '../../api/http.ts';

/** What a person reads for any failure: the API's own message, or a plain one. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiClientError) return error.message;
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong. Please try again.';
}

export function ErrorAlert({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div role="alert" class="alert">
      {errorMessage(error)}
    </div>
  );
}

/** Never a blank page: a render error shows in an alert with a way back. */
export class ErrorBoundary extends Component<{ children: ComponentChildren }, { error: unknown }> {
  override state = { error: undefined as unknown };

  override componentDidCatch(error: unknown) {
    this.setState({ error });
  }

  override render() {
    if (this.state.error) {
      return (
        <main class="page">
          <h1>Something went wrong</h1>
          <div role="alert" class="alert">
            {errorMessage(this.state.error)}
          </div>
          <button type="button" onClick={() => window.location.reload()}>
            Reload the page
          </button>
        </main>
      );
    }
    return this.props.children;
  }
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on `reload`); the latest answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export interface Action {
  busy: boolean;
  error: unknown;
  run: (action: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
}

/**
 * What `loaded` holds, drawn by `children` once it is there; meanwhile `loading` in a status line.
 * Its failure shows in an alert, else `otherError` (another failure of the page shown in that place).
 */
export function LoadedView<T>(props: { loaded: Loaded<T>; loading: string; otherError?: unknown; children: (data: NonNullable<T>) => ComponentChildren }) {
  const { data, error, loading } = props.loaded;
  return (
    <>
      <ErrorAlert error={error ?? props.otherError} />
      {data ? props.children(data) : loading ? <p role="status">{props.loading}</p> : null}
    </>
  );
}

/** Runs one action at a time, keeping its error for an alert. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(undefined) };
}

export interface Pages {
  /** The current page's cursor (none for the first page). */
  cursor: string | undefined;
  hasPrevious: boolean;
  previous: () => void;
  next: (cursor: string) => void;
  /** Back to the first page (e.g. when a filter changes). */
  reset: () => void;
}

/** Cursor pagination: the cursors of the pages seen so far, the current page's last. */
export function usePages(): Pages {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors[cursors.length - 1],
    hasPrevious: cursors.length > 1,
    previous: () => setCursors(cursors.slice(0, -1)),
    next: (cursor) => setCursors([...cursors, cursor]),
    reset: () => setCursors([undefined]),
  };
}

/** `Previous page` and `Next page`; Next while the API gave a cursor for the page after this one. */
export function Pager(props: { pages: Pages; nextCursor: string | null | undefined }) {
  const { pages, nextCursor } = props;
  return (
    <div class="pager">
      <button type="button" disabled={!pages.hasPrevious} onClick={pages.previous}>
        Previous page
      </button>
      <button type="button" disabled={!nextCursor} onClick={() => nextCursor && pages.next(nextCursor)}>
        Next page
      </button>
    </div>
  );
}

/**
 * A native modal <dialog>: nothing behind it can be clicked or focused while it is open. Focus goes
 * to the element marked `data-autofocus` (else the first focusable one), Escape and Cancel close it
 * (`onClose`; without it Escape does nothing, so only the dialog's own button closes it), and focus
 * returns to the opener after (or to `returnFocus()`, when the opener is gone).
 */
export function Dialog(props: {
  title: ComponentChildren;
  onClose?: () => void;
  returnFocus?: () => HTMLElement | null | undefined;
  children: ComponentChildren;
  class?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const returnFocus = useRef(props.returnFocus);
  returnFocus.current = props.returnFocus;
  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    dialog.showModal();
    const first = dialog.querySelector<HTMLElement>('[data-autofocus]');
    if (first) {
      first.focus();
      if (first instanceof HTMLInputElement || first instanceof HTMLTextAreaElement) first.select();
    }
    return () => {
      if (dialog.open) dialog.close();
      const target = opener?.isConnected && opener !== document.body ? opener : returnFocus.current?.();
      target?.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class={props.class}
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        props.onClose?.();
      }}
    >
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
    </dialog>
  );
}

/**
 * Asks before a destructive action: the focus starts on Cancel, so Enter alone changes nothing.
 * `onConfirm` runs the action; its error shows in the dialog, which stays open.
 */
export function ConfirmDialog(props: {
  title: string;
  confirm: string;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
  onDone: () => void;
  children: ComponentChildren;
}) {
  const action = useAction();
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      {props.children}
      <ErrorAlert error={action.error} />
      <div class="actions">
        <button
          type="button"
          class="danger"
          disabled={action.busy}
          onClick={async () => {
            if (await action.run(props.onConfirm)) props.onDone();
          }}
        >
          {props.confirm}
        </button>
        <button type="button" data-autofocus onClick={props.onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

/**
 * A labelled text input: the label's text names it, `onValue` gets what was typed, the other props
 * go to the input. `children` (a hint) follow the input inside the label.
 */
export function Field({ label, onValue, inputRef, children, ...input }: InputHTMLAttributes<HTMLInputElement> & {
  label: string;
  onValue: (value: string) => void;
  inputRef?: Ref<HTMLInputElement>;
  children?: ComponentChildren;
}) {
  return (
    <label>
      {label}
      <input {...input} ref={inputRef} onInput={(e) => onValue((e.target as HTMLInputElement).value)} />
      {children}
    </label>
  );
}

/** A labelled select of `options`; `onValue` gets the chosen option's value. */
export function Select<T extends string>(props: {
  label: ComponentChildren;
  value: T;
  options: readonly { value: T; label: string }[];
  onValue: (value: T) => void;
  disabled?: boolean;
  class?: string;
  /** A hint under the select, which describes it. */
  hint?: string;
}) {
  const hintId = useId();
  return (
    <label class={props.class}>
      {props.label}
      <select
        value={props.value}
        disabled={props.disabled}
        aria-describedby={props.hint ? hintId : undefined}
        onChange={(e) => props.onValue((e.target as HTMLSelectElement).value as T)}
      >
        {props.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      {props.hint ? (
        <span class="hint" id={hintId}>
          {props.hint}
        </span>
      ) : null}
    </label>
  );
}

/**
 * A form whose submit runs `run` through `action` (one at a time, its error kept for `FormActions`)
 * instead of navigating, then hands what `run` returned to `onDone` once it succeeded.
 */
export function ActionForm<T>({ action, run, onDone, children, ...form }: Omit<FormHTMLAttributes<HTMLFormElement>, 'action'> & {
  action: Action;
  run: () => Promise<T>;
  onDone?: (result: T) => unknown;
  children: ComponentChildren;
}) {
  return (
    <form
      {...form}
      onSubmit={async (event) => {
        event.preventDefault();
        let result: T;
        if (await action.run(async () => { result = await run(); })) await onDone?.(result!);
      }}
    >
      {children}
    </form>
  );
}

/** The end of a form: the error of its action, if any, and its submit button (disabled while the action runs), with Cancel when `onCancel` is given. */
export function FormActions(props: { action: Pick<Action, 'busy' | 'error'>; submit: string; onCancel?: () => void }) {
  const submit = (
    <button type="submit" class="primary" disabled={props.action.busy}>
      {props.submit}
    </button>
  );
  return (
    <>
      <ErrorAlert error={props.action.error} />
      {props.onCancel ? (
        <div class="actions">
          {submit}
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      ) : (
        submit
      )}
    </>
  );
}

/**
 * A table in a focusable region named by its caption (a narrow screen scrolls the table, not the
 * page). `columns` are the header cells; a false one is left out (e.g. Actions for non-owners).
 * With `cards`, a narrow screen shows each row as a card instead, its cells labelled by their
 * `data-label` (styles.css), for tables too wide to read by scrolling.
 */
export function Table(props: { caption: string; showCaption?: boolean; cards?: boolean; columns: (string | false)[]; children: ComponentChildren }) {
  return (
    <div class={props.cards ? 'table-scroll cards' : 'table-scroll'} tabIndex={0} role="region" aria-label={props.caption}>
      <table>
        <caption class={props.showCaption ? undefined : 'visually-hidden'}>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((column) =>
              column === false ? null : (
                <th key={column} scope="col">
                  {column}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** Text for screen readers only, e.g. the key name after a row's `Revoke` button. */
export function Hidden({ children }: { children: ComponentChildren }) {
  return <span class="visually-hidden">{children}</span>;
}

/** A table row's action button: reads "<label> <name>" to a screen reader, only "<label>" on screen. */
export function RowAction(props: { label: ComponentChildren; of: string; onClick: () => void; danger?: boolean; disabled?: boolean }) {
  return (
    <button type="button" class={props.danger ? 'danger' : undefined} disabled={props.disabled} onClick={props.onClick}>
      {props.label}
      <Hidden> {props.of}</Hidden>
    </button>
  );
}

const dateFormat = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
const dateTimeFormat = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  timeZone: 'UTC',
  timeZoneName: 'short',
});

/** "Jan 15, 2026" (UTC), as the TalkifAI docs show dates; a dash for none. */
export function formatDate(iso: string | null | undefined): string {
  return iso ? dateFormat.format(new Date(iso)) : '—';
}

export function formatDateTime(iso: string | null | undefined): string {
  return iso ? dateTimeFormat.format(new Date(iso)) : 'Never';
}

export const formatNumber = (n: number) => n.toLocaleString('en-US');

/** Copies text with the Clipboard API; says so in a polite live region (or how to copy by hand). */
export function CopyButton(props: { text: string; label?: string; hiddenLabel?: string; source?: () => HTMLInputElement | HTMLTextAreaElement | null }) {
  const [status, setStatus] = useState('');
  return (
    <>
      <button
        type="button"
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(props.text);
            setStatus('Copied to the clipboard.');
          } catch {
            props.source?.()?.select();
            setStatus('Copying is not allowed here: the text is selected, press Ctrl+C (or Cmd+C).');
          }
        }}
      >
        {props.label ?? 'Copy'}
        {props.hiddenLabel ? <Hidden> {props.hiddenLabel}</Hidden> : null}
      </button>
      <span role="status" class="status">
        {status}
      </span>
    </>
  );
}
