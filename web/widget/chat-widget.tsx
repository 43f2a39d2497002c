// The widget's UI (docs/api.md "Chat widget"): a launcher [button] "Open chat" and a panel [dialog]
// named by the title, with the conversation [log], an [alert] for failures, [textbox] "Message",
// [button] "Send" (or "Stop" while a reply streams) and [button] "Close chat".
// Keyboard: Enter sends (Shift+Enter for a new line), Escape closes and gives focus back to the launcher.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Conversation, ConversationState, Turn } from './conversation.ts';
import type { WidgetStore } from './storage.ts';

function useConversation(conversation: Conversation): ConversationState {
  const [state, setState] = useState(conversation.state);
  useEffect(() => conversation.subscribe(() => setState(conversation.state)), [conversation]);
  return state;
}

const NOTES: Partial<Record<Turn['status'], string>> = {
  stopped: ' (stopped)',
  failed: ' (not complete)',
};

function Message({ turn, title }: { turn: Turn; title: string }) {
  const note = turn.role === 'user' && turn.status === 'failed' ? ' (not sent)' : NOTES[turn.status];
  return (
    <div class={`message ${turn.role}`}>
      <span class="visually-hidden">{turn.role === 'user' ? 'You: ' : `${title}: `}</span>
      {turn.content}
      {note && <span class="note">{note}</span>}
    </div>
  );
}

export interface ChatWidgetProps {
  conversation: Conversation;
  store: WidgetStore;
  title: string;
  initiallyOpen: boolean;
}

export function ChatWidget({ conversation, store, title, initiallyOpen }: ChatWidgetProps) {
  const state = useConversation(conversation);
  const [open, setOpen] = useState(initiallyOpen || store.open);
  const [draft, setDraft] = useState('');
  const launcher = useRef<HTMLButtonElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const log = useRef<HTMLDivElement>(null);
  /** Where focus goes after the next render: set only by the visitor's own actions. */
  const focusNext = useRef<'input' | 'launcher' | null>(null);

  const busy = state.phase !== 'idle';
  const replying = state.phase === 'sending' || state.phase === 'streaming';

  useEffect(() => {
    store.open = open;
    if (open) conversation.restore();
  }, [open]);

  useLayoutEffect(() => {
    const target = focusNext.current === 'input' ? input.current : focusNext.current === 'launcher' ? launcher.current : null;
    focusNext.current = null;
    target?.focus();
  });

  // Keep the newest text in view as it streams.
  useLayoutEffect(() => {
    if (log.current) log.current.scrollTop = log.current.scrollHeight;
  }, [state.turns]);

  function openPanel() {
    focusNext.current = 'input';
    setOpen(true);
  }
  function closePanel() {
    focusNext.current = 'launcher';
    setOpen(false);
  }
  function submit(event: Event) {
    event.preventDefault();
    if (conversation.send(draft)) setDraft('');
  }
  function onKeyDown(event: KeyboardEvent) {
    if (event.key === 'Escape') {
      event.stopPropagation();
      closePanel();
    }
  }
  function onInputKeyDown(event: KeyboardEvent) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) submit(event);
  }

  const failure = state.failure;
  return (
    <div class="root">
      <button ref={launcher} type="button" class="launcher" aria-label="Open chat" aria-haspopup="dialog" aria-expanded={open} hidden={open} onClick={openPanel}>
        <svg aria-hidden="true" viewBox="0 0 24 24" width="28" height="28">
          <path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2Z" />
        </svg>
      </button>
      <div role="dialog" aria-labelledby="keygate-chat-title" class="panel" hidden={!open} onKeyDown={onKeyDown}>
        <div class="header">
          <h2 id="keygate-chat-title">{title}</h2>
          <button type="button" class="close" aria-label="Close chat" onClick={closePanel}>
            <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20">
              <path fill="none" stroke="currentColor" stroke-width="2.5" stroke-linecap="round" d="M6 6l12 12M18 6 6 18" />
            </svg>
          </button>
        </div>
        <div ref={log} role="log" aria-label="Conversation" aria-busy={busy} tabIndex={0} class="log">
          {state.turns.length === 0 && state.phase === 'idle' && <div class="hint">Send a message to start the conversation.</div>}
          {state.phase === 'loading' && <div class="hint">Loading the conversation…</div>}
          {state.turns.map((turn) => (
            <Message key={turn.id} turn={turn} title={title} />
          ))}
          {state.phase === 'sending' && <div class="hint">{title} is replying…</div>}
        </div>
        {failure && (
          <div role="alert" class="alert">
            <p>{failure.text}</p>
            {failure.detail && <p class="detail">{failure.detail}</p>}
            {failure.action === 'retry' && (
              <button type="button" class="secondary" onClick={() => { focusNext.current = 'input'; conversation.retry(); }}>
                Retry
              </button>
            )}
            {failure.action === 'new-conversation' && (
              <button type="button" class="secondary" onClick={() => { focusNext.current = 'input'; conversation.startNew(); }}>
                Start a new conversation
              </button>
            )}
          </div>
        )}
        <form class="composer" onSubmit={submit}>
          <label for="keygate-chat-message" class="visually-hidden">
            Message
          </label>
          <textarea
            ref={input}
            id="keygate-chat-message"
            rows={2}
            placeholder="Type a message…"
            value={draft}
            onInput={(event) => setDraft((event.currentTarget as HTMLTextAreaElement).value)}
            onKeyDown={onInputKeyDown}
          />
          {/* One button that is Send or Stop, so focus stays on it when it changes. */}
          <button type={replying ? 'button' : 'submit'} class="primary" onClick={replying ? () => conversation.stop() : undefined}>
            {replying ? 'Stop' : 'Send'}
          </button>
        </form>
      </div>
    </div>
  );
}
