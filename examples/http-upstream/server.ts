// A reference `http` upstream for Keygate (docs/upstreams.md): verifies Keygate's signature
// (refusing a stale `t` and a repeated `id`), then answers with Server-Sent Events, `delta` events
// and a `done` with the usage, from an OpenAI-compatible endpoint (OPENAI_BASE_URL, OPENAI_API_KEY,
// OPENAI_MODEL: the assistant's `model` wins when Keygate sends one) or, without one, by echoing the
// last message. Node's standard library only; run with `node examples/http-upstream/server.ts`
// (Node 24), settings from the environment: SIGNING_SECRET (required), PORT (default 8787).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SeenIds, verifyRequest } from './verify.ts';

export interface UpstreamOptions {
  signingSecret: string;
  /** Stream from this OpenAI-compatible endpoint; without it, echo. */
  openai?: { baseUrl: string; apiKey?: string; model?: string };
  /** Tests: what each verified request carried, and its headers. */
  onRequest?: (body: KeygateRequest, headers: IncomingMessage['headers']) => void;
}

export interface KeygateRequest {
  id: string;
  assistant: { id: string; name: string; model: string | null; instructions: string; maxOutputTokens: number; temperature: number | null };
  messages: { role: 'user' | 'assistant'; content: string }[];
  identity: Record<string, string | null>;
}

const MAX_BODY_BYTES = 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

async function* echo(request: KeygateRequest): AsyncGenerator<string, { inputTokens: number; outputTokens: number }> {
  const last = request.messages.at(-1)?.content ?? '';
  const words = `Echo: ${last}`.split(/(?<=\s)/);
  for (const word of words) yield word;
  return { inputTokens: request.messages.length, outputTokens: words.length };
}

/** Chat Completions, streamed; its deltas passed on as they arrive, its usage at the end. */
async function* fromOpenAI(
  openai: NonNullable<UpstreamOptions['openai']>,
  request: KeygateRequest,
  signal: AbortSignal,
): AsyncGenerator<string, { inputTokens: number; outputTokens: number } | undefined> {
  const res = await fetch(`${openai.baseUrl.replace(/\/+$/, '')}/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(openai.apiKey ? { Authorization: `Bearer ${openai.apiKey}` } : {}) },
    body: JSON.stringify({
      model: request.assistant.model ?? openai.model,
      messages: [...(request.assistant.instructions ? [{ role: 'system', content: request.assistant.instructions }] : []), ...request.messages],
      max_completion_tokens: request.assistant.maxOutputTokens,
      ...(request.assistant.temperature !== null ? { temperature: request.assistant.temperature } : {}),
      stream: true,
      stream_options: { include_usage: true },
    }),
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`model answered ${res.status}`);
  let usage: { inputTokens: number; outputTokens: number } | undefined;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return usage;
      const parsed = JSON.parse(data) as { choices?: { delta?: { content?: string } }[]; usage?: { prompt_tokens: number; completion_tokens: number } };
      const text = parsed.choices?.[0]?.delta?.content;
      if (text) yield text;
      if (parsed.usage) usage = { inputTokens: parsed.usage.prompt_tokens, outputTokens: parsed.usage.completion_tokens };
    }
  }
  return usage;
}

export function createHttpUpstream(options: UpstreamOptions): Server {
  const seen = new SeenIds();
  return createServer(async (req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      res.writeHead(413).end();
      return;
    }
    const verdict = verifyRequest(options.signingSecret, req.headers['keygate-signature'] as string | undefined, raw, seen);
    if (!verdict.ok) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: verdict.reason }));
      return;
    }
    const request = verdict.body as unknown as KeygateRequest;
    options.onRequest?.(request, req.headers);
    // Keygate stops reading when its caller leaves: stop the model too.
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    try {
      const stream = options.openai ? fromOpenAI(options.openai, request, abort.signal) : echo(request);
      for (;;) {
        const next = await stream.next();
        if (next.done) {
          send(res, 'done', next.value ? { usage: next.value } : {});
          break;
        }
        send(res, 'delta', { content: next.value });
      }
    } catch {
      // Keygate never shows this text to its caller; keep it free of secrets anyway.
      send(res, 'error', { message: 'the model failed' });
    }
    res.end();
  });
}

if (import.meta.main) {
  const signingSecret = process.env.SIGNING_SECRET;
  if (!signingSecret) throw new Error('Set SIGNING_SECRET (the signingSecret Keygate signs with)');
  const baseUrl = process.env.OPENAI_BASE_URL;
  const server = createHttpUpstream({
    signingSecret,
    ...(baseUrl
      ? { openai: { baseUrl, ...(process.env.OPENAI_API_KEY ? { apiKey: process.env.OPENAI_API_KEY } : {}), ...(process.env.OPENAI_MODEL ? { model: process.env.OPENAI_MODEL } : {}) } }
      : {}),
  });
  const port = Number(process.env.PORT ?? 8787);
  server.listen(port, '127.0.0.1', () => console.log(`http upstream listening on http://127.0.0.1:${port}`));
}
