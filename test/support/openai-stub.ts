// An OpenAI-compatible Chat Completions server for tests: streams `chat.completion.chunk` events
// as OpenAI does (role first, content pieces, a finish_reason, the usage chunk when asked, [DONE]),
// and misbehaves on request (statuses, a slow first byte, a malformed stream, a stream that stops).
// Proven to speak the protocol by the official `openai` SDK in test/unit/openai-backend.test.ts.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubMode =
  | { kind: 'ok'; pieces?: string[]; delayMs?: number; usage?: boolean }
  | { kind: 'status'; status: number }
  | { kind: 'slow'; firstByteMs: number }
  | { kind: 'malformed' }
  | { kind: 'no-done' }
  | { kind: 'json' }
  | { kind: 'hang-after-first' };

export interface StubRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, any>;
}

export interface OpenAIStub {
  url: string;
  baseUrl: string;
  requests: StubRequest[];
  /** What the next requests get (default: ok). */
  mode: StubMode;
  /** Requests whose connection closed before the reply ended (the caller stopped the upstream). */
  aborted: number;
  close(): Promise<void>;
}

const chunk = (id: string, model: string, delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

export async function startOpenAIStub(): Promise<OpenAIStub> {
  const stub = { requests: [] as StubRequest[], mode: { kind: 'ok' } as StubMode, aborted: 0 };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', async () => {
      const body = raw ? (JSON.parse(raw) as Record<string, any>) : {};
      stub.requests.push({ path: req.url ?? '', headers: req.headers, body });
      const mode = stub.mode;
      let finished = false;
      res.on('close', () => {
        if (!finished) stub.aborted++;
      });
      const end = () => {
        finished = true;
        res.end();
      };
      if (mode.kind === 'status') {
        res.writeHead(mode.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'upstream secret detail: sk-upstream-should-never-leak', type: 'invalid_request_error' } }));
        finished = true;
        return;
      }
      if (mode.kind === 'slow') await new Promise((r) => setTimeout(r, mode.firstByteMs));
      if (res.destroyed) return;
      if (mode.kind === 'json') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"choices":[]}');
        finished = true;
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.flushHeaders();
      const id = 'chatcmpl-stub';
      const model = String(body.model ?? 'unknown');
      if (mode.kind === 'malformed') {
        res.write(chunk(id, model, { role: 'assistant', content: '' }));
        res.write('data: {"choices": [ not json\n\n');
        return end();
      }
      res.write(chunk(id, model, { role: 'assistant', content: '' }));
      const pieces = mode.kind === 'ok' && mode.pieces ? mode.pieces : ['Hello', ' from', ' the', ' stub.'];
      for (const piece of pieces) {
        if (res.destroyed) return;
        res.write(chunk(id, model, { content: piece }));
        if (mode.kind === 'hang-after-first') return; // never finishes: the caller must stop it
        if (mode.kind === 'ok' && mode.delayMs) await new Promise((r) => setTimeout(r, mode.delayMs));
      }
      if (mode.kind === 'no-done') return end();
      res.write(chunk(id, model, {}, 'stop'));
      const wantsUsage = body.stream_options?.include_usage === true && !(mode.kind === 'ok' && mode.usage === false);
      if (wantsUsage) {
        res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage: { prompt_tokens: 11, completion_tokens: pieces.length, total_tokens: 11 + pieces.length } })}\n\n`);
      }
      res.write('data: [DONE]\n\n');
      end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(stub, {
    url,
    baseUrl: `${url}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
