// The reply-latency figure's caller and upstream, in a worker thread: neither shares Keygate's event
// loop (a real caller and a real upstream never do), so what Keygate does after a delta is written
// (the next DynamoDB call's CPU work, the rest of the stream) cannot delay the caller reading it, and
// Keygate's own work cannot delay the upstream's timer. Times are sent as epoch ms
// (performance.timeOrigin + performance.now()), comparable across threads.
//
// Messages in: { id, base, sessionId, token } (one session message). Out: first { ready, baseUrl },
// then per message { id, status, firstDeltaAt, startedAt, upstream: { received, firstByte }[] }.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

const { thinkMs } = workerData as { thinkMs: number };
const now = () => performance.timeOrigin + performance.now();

interface UpstreamTiming {
  received: number;
  firstByte: number;
}
let timings: UpstreamTiming[] = [];

/** A minimal OpenAI-compatible streaming upstream that timestamps each request and its first delta. */
const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'bench-model', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const server: Server = createServer((req, res) => {
  const received = now();
  req.resume();
  req.on('end', () => {
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(chunk({ role: 'assistant', content: 'Hello' }));
      timings.push({ received, firstByte: now() });
      res.write(chunk({ content: ' from the bench upstream.' }));
      res.write(chunk({}, 'stop'));
      res.write(`data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'bench-model', choices: [], usage: { prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 } })}\n\n`);
      res.end('data: [DONE]\n\n');
    }, thinkMs);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  parentPort!.postMessage({ ready: true, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` });
});

/** One session message: when it was sent, when its first `message.delta` was read, and the whole reply read. */
async function timedReply(base: string, sessionId: string, token: string): Promise<{ status: number; startedAt: number; firstDeltaAt: number }> {
  const startedAt = now();
  const res = await fetch(`${base}/v1/chat/sessions/${encodeURIComponent(sessionId)}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ content: 'How long until the first delta?' }),
  });
  let firstDeltaAt = Number.NaN;
  let text = '';
  const decoder = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(part, { stream: true });
    if (Number.isNaN(firstDeltaAt) && text.includes('event: message.delta')) firstDeltaAt = now();
  }
  return { status: res.status === 200 && text.includes('event: message.completed') ? 200 : res.status, startedAt, firstDeltaAt };
}

parentPort!.on('message', (message: { id: number; base: string; sessionId: string; token: string } | 'close') => {
  if (message === 'close') {
    server.closeAllConnections();
    server.close(() => parentPort!.close());
    return;
  }
  timings = [];
  timedReply(message.base, message.sessionId, message.token).then(
    (result) => parentPort!.postMessage({ id: message.id, ...result, upstream: timings }),
    (error: unknown) => parentPort!.postMessage({ id: message.id, error: String((error as Error)?.message ?? error) }),
  );
});
