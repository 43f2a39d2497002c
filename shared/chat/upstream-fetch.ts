// The network half of the `openai` and `http` upstreams: one POST (never retried: a retry could
// produce a second reply), its status mapped as docs/upstreams.md says, and its Server-Sent Events
// parsed as they arrive. The upstream's own words (error bodies, messages) are never read into an
// error a caller could see; only the status and the error's name are logged.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describeError, logger } from '../log.ts';
import { ReplyError, REPLY_MESSAGES } from './backend.ts';

/** The upstream's status as a ReplyError (undefined for 2xx): 4xx but 429 -> 400, the rest -> 503. */
export function statusError(status: number): ReplyError | undefined {
  if (status >= 200 && status < 300) return undefined;
  if (status === 429) return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.busy, { failure: 'rate_limited' });
  if (status >= 400 && status < 500) return new ReplyError('VALIDATION_ERROR', REPLY_MESSAGES.rejected, { failure: 'refused' });
  return new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { failure: 'unavailable' });
}

export const malformed = () => new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.failed, { failure: 'malformed' });
export const incomplete = () => new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.incomplete, { failure: 'incomplete' });

/** POST `body` and return the 2xx response; anything else is a ReplyError (the body discarded). */
export async function postUpstream(kind: string, url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    // A redirect is refused: it could carry the request (and its credentials) somewhere else.
    res = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'error' });
  } catch (error) {
    if (signal.aborted) throw error;
    logger.warn('upstream unreachable', { kind, error: describeError(error).name });
    throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { cause: error, failure: 'unavailable' });
  }
  const failure = statusError(res.status);
  if (failure) {
    await res.body?.cancel().catch(() => undefined);
    logger.warn('upstream refused the reply', { kind, status: res.status, failure: failure.failure });
    throw failure;
  }
  return res;
}

export function mediaType(res: Response): string {
  return (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The response's Server-Sent Events as they arrive. A body that breaks off is `incomplete`. */
export async function* sseEvents(res: Response, signal: AbortSignal): AsyncGenerator<EventSourceMessage> {
  if (!res.body) throw malformed();
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => queue.push(event) });
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) throw error;
        throw Object.assign(incomplete(), { cause: error });
      }
      if (chunk.done) {
        parser.feed(decoder.decode());
        parser.reset({ consume: true });
      } else {
        parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
      while (queue.length > 0) yield queue.shift()!;
      if (chunk.done) return;
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/** Read a whole JSON body (an http upstream's non-streamed answer); not JSON is `malformed`. */
export async function jsonBody(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw malformed();
  }
}
