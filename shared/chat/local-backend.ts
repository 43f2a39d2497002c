// The `echo` upstream: a deterministic reply, a fixed template around the user's words, streamed
// word by word with a small delay (CHAT_LOCAL_DELAY_MS, default 15 ms) so streaming is observable.
// The local runtime's upstream when no other is configured, and the tests'.
//
// Two messages simulate failures, so the refund paths can be exercised end to end:
//   `[fail]`            fails before the first delta (the request gets a JSON 503)
//   `[fail-midstream]`  fails after two deltas (the stream ends with an `error` event)
import { setTimeout as sleep } from 'node:timers/promises';
import { ReplyError, REPLY_MESSAGES, type ChatBackend, type ChatTurn } from './backend.ts';

export const FAIL_BEFORE_STREAM = '[fail]';
export const FAIL_MIDSTREAM = '[fail-midstream]';

/** The full reply the echo upstream gives to `turns`. */
export function localReply(turns: readonly ChatTurn[]): string {
  const last = turns.at(-1)?.content ?? '';
  const turn = turns.filter((t) => t.role === 'user').length;
  return `You said: ${last.trim()} (turn ${turn}). This reply comes from the Keygate local backend.`;
}

/** The reply cut into deltas at word starts; joined, they give the reply back exactly. */
export function words(text: string): string[] {
  return text.split(/(?<=\s)(?=\S)/);
}

export function createLocalBackend(env: NodeJS.ProcessEnv = process.env): ChatBackend {
  const parsed = Number(env.CHAT_LOCAL_DELAY_MS ?? 15);
  const delayMs = Number.isFinite(parsed) && parsed >= 0 ? parsed : 15;
  return {
    kind: 'echo',
    async *reply({ turns, signal }) {
      const last = turns.at(-1)?.content.trim();
      if (last === FAIL_BEFORE_STREAM) throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable);
      let sent = 0;
      for (const word of words(localReply(turns))) {
        if (signal.aborted) return undefined;
        if (delayMs > 0) await sleep(delayMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return undefined;
        if (last === FAIL_MIDSTREAM && sent === 2) throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable);
        sent++;
        yield word;
      }
      // No usage reported: the reply's tokens are estimated, as for any upstream that reports none.
      return undefined;
    },
  };
}
