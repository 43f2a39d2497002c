// The `openai` upstream: any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure OpenAI,
// vLLM, Ollama, LiteLLM ...), streamed. POST {baseUrl}/chat/completions with the assistant's
// instructions as the first (system) message, then the conversation, its model, output cap
// (max_completion_tokens) and temperature when it sets one, `stream_options.include_usage` for the
// token counts, and `user` an opaque id of the key (never the key, never the caller's credentials).
// `choices[0].delta.content` pieces are the deltas; a `finish_reason` or `[DONE]` completes it.
import { createHash } from 'node:crypto';
import { reportedUsage, ReplyError, REPLY_MESSAGES, type ChatBackend, type ReplyRequest, type TokenUsage } from './backend.ts';
import { incomplete, malformed, mediaType, postUpstream, sseEvents } from './upstream-fetch.ts';
import { managedSecret } from './upstream-secrets.ts';
import type { OpenAIUpstream } from './upstreams.ts';

/** What the upstream sees of the key: stable per key, meaningless outside Keygate. */
export function opaqueUser(keyId: string): string {
  return `kg_${createHash('sha256').update(`keygate-user\0${keyId}`).digest('base64url').slice(0, 24)}`;
}

/** The Chat Completions request body for a reply. */
export function chatCompletionsBody({ turns, assistant, identity }: Pick<ReplyRequest, 'turns' | 'assistant' | 'identity'>): Record<string, unknown> {
  return {
    model: assistant.model,
    messages: [...(assistant.instructions ? [{ role: 'system', content: assistant.instructions }] : []), ...turns.map((t) => ({ role: t.role, content: t.content }))],
    max_completion_tokens: assistant.maxOutputTokens,
    ...(assistant.temperature !== null ? { temperature: assistant.temperature } : {}),
    stream: true,
    stream_options: { include_usage: true },
    user: opaqueUser(identity.keyId),
  };
}

interface Chunk {
  choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  error?: unknown;
}

export function openaiBackend(upstream: OpenAIUpstream): ChatBackend {
  const apiKey = (): Promise<string | undefined> =>
    upstream.apiKey !== undefined ? Promise.resolve(upstream.apiKey) : upstream.apiKeySecretName ? managedSecret(upstream.apiKeySecretName) : Promise.resolve(undefined);
  return {
    kind: 'openai',
    async *reply(request) {
      if (!request.assistant.model) throw new ReplyError('VALIDATION_ERROR', REPLY_MESSAGES.rejected);
      let key: string | undefined;
      try {
        key = await apiKey();
      } catch (error) {
        throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { cause: error, failure: 'unavailable' });
      }
      const res = await postUpstream(
        'openai',
        `${upstream.baseUrl}/chat/completions`,
        { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
        JSON.stringify(chatCompletionsBody(request)),
        request.signal,
      );
      if (mediaType(res) !== 'text/event-stream') {
        await res.body?.cancel().catch(() => undefined);
        throw malformed();
      }
      let finished = false;
      let usage: TokenUsage | undefined;
      for await (const event of sseEvents(res, request.signal)) {
        if (event.data === '[DONE]') return usage;
        let chunk: Chunk;
        try {
          chunk = JSON.parse(event.data) as Chunk;
        } catch {
          throw malformed();
        }
        if (typeof chunk !== 'object' || chunk === null) throw malformed();
        if (chunk.error !== undefined) throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { failure: 'upstream_error' });
        if (chunk.usage) {
          usage = reportedUsage({ inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens }) ?? usage;
        }
        if (chunk.choices !== undefined && !Array.isArray(chunk.choices)) throw malformed();
        const choice = chunk.choices?.[0];
        const content = choice?.delta?.content;
        if (typeof content === 'string' && content !== '') yield content;
        if (typeof choice?.finish_reason === 'string') finished = true;
      }
      // Some servers close without [DONE]; a finish_reason still says the reply is whole.
      if (!finished) throw incomplete();
      return usage;
    },
  };
}
