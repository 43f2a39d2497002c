// Server-Sent Events for the session message stream (docs/api.md "Routes"): each event is
// `event: <name>\ndata: <one JSON line>\n\n`. JSON.stringify escapes CR and LF, so data is one line.
// An EventSink is where events go: a Lambda response stream in AWS, a Node ServerResponse locally (both through writableSink),
// a buffer when the stream is answered as one body. Everything before the last write is shared.
import type { Writable } from 'node:stream';

export type StreamEventName = 'message.delta' | 'message.completed' | 'error';

export const SSE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

export function encodeEvent(name: StreamEventName, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Where a stream's events go. A client that goes away stops the upstream (onClose): the reply ends
 * with what was produced, which is stored and paid for; sends just go nowhere.
 */
export interface EventSink {
  send(name: StreamEventName, data: unknown): Promise<void>;
  /** Raw stream text (the OpenAI-compatible route's `data:` lines). */
  write(text: string): Promise<void>;
  /** Ends the stream; further sends are ignored. */
  end(): void;
  /** Called once if the client goes away before the stream has ended. */
  onClose?(listener: () => void): void;
}

/** Events written to a Node writable (a Lambda response stream, a PassThrough, a ServerResponse). */
export function writableSink(out: Writable): EventSink {
  let ended = false;
  let gone = false;
  const listeners: (() => void)[] = [];
  const onGone = () => {
    if (gone) return;
    gone = true;
    if (!ended) for (const listener of listeners.splice(0)) listener();
  };
  out.once('close', onGone);
  out.on('error', onGone);
  const write = async (text: string) => {
    if (ended || gone || out.destroyed || out.writableEnded) return;
    if (!out.write(text)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('close', done);
          resolve();
        };
        out.on('drain', done);
        out.on('close', done);
      });
    }
  };
  return {
    send: (name, data) => write(encodeEvent(name, data)),
    write,
    end() {
      if (ended) return;
      ended = true;
      out.off('close', onGone);
      if (!out.destroyed && !out.writableEnded) out.end();
    },
    onClose(listener) {
      if (gone && !ended) listener();
      else listeners.push(listener);
    },
  };
}

/** Collects the events into one body (the stream route answered without streaming). */
export function bufferSink(): EventSink & { body(): string } {
  const chunks: string[] = [];
  return {
    async send(name, data) {
      chunks.push(encodeEvent(name, data));
    },
    async write(text) {
      chunks.push(text);
    },
    end() {},
    body: () => chunks.join(''),
  };
}
