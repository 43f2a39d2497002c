// The `http` upstream: the team's own service (docs/upstreams.md). POST <url> with the assistant,
// the conversation and who is asking, signed with the webhook scheme (Keygate-Signature over
// "<t>.<raw body>" under the upstream's signing secret; one signer for webhooks and upstreams). The
// service answers Server-Sent Events (`delta` {content} ..., then `done` {usage?} or `error`
// {message}) or one JSON `{content, usage?}`. The `error` event's message is the service's own
// text: logged by length only, never passed on.
import { newId } from '../domain/ids.ts';
import { SIGNATURE_HEADER, signatureHeader } from '../domain/webhooks.ts';
import { logger } from '../log.ts';
import { reportedUsage, ReplyError, REPLY_MESSAGES, type ChatBackend, type ReplyRequest, type TokenUsage } from './backend.ts';
import { incomplete, jsonBody, malformed, mediaType, postUpstream, sseEvents } from './upstream-fetch.ts';
import { managedSecret } from './upstream-secrets.ts';
import type { HttpUpstream } from './upstreams.ts';

/** The body an http upstream receives (docs/upstreams.md); `id` is new for every request. */
export function httpUpstreamBody({ turns, assistant, identity }: Pick<ReplyRequest, 'turns' | 'assistant' | 'identity'>, id = newId('req', 24)): string {
  return JSON.stringify({
    id,
    assistant: {
      id: assistant.id,
      name: assistant.name,
      model: assistant.model,
      instructions: assistant.instructions,
      maxOutputTokens: assistant.maxOutputTokens,
      temperature: assistant.temperature,
    },
    messages: turns.map((t) => ({ role: t.role, content: t.content })),
    identity: {
      organizationId: identity.organizationId,
      keyId: identity.keyId,
      keyType: identity.keyType,
      databaseId: identity.databaseId,
      sessionId: identity.sessionId,
      conversationId: identity.conversationId,
      origin: identity.origin,
    },
  });
}

function content(data: unknown): string {
  const value = (data as { content?: unknown } | null)?.content;
  if (typeof value !== 'string') throw malformed();
  return value;
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    throw malformed();
  }
}

export function httpBackend(upstream: HttpUpstream): ChatBackend {
  const secret = (): Promise<string> =>
    upstream.signingSecret !== undefined ? Promise.resolve(upstream.signingSecret) : managedSecret(upstream.signingSecretName!);
  return {
    kind: 'http',
    async *reply(request) {
      let signing: string;
      try {
        signing = await secret();
      } catch (error) {
        throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { cause: error, failure: 'unavailable' });
      }
      const body = httpUpstreamBody(request);
      const res = await postUpstream(
        'http',
        upstream.url,
        { 'Content-Type': 'application/json', Accept: 'text/event-stream', [SIGNATURE_HEADER]: signatureHeader(signing, body, new Date()) },
        body,
        request.signal,
      );
      const type = mediaType(res);
      if (type === 'application/json') {
        const answer = await jsonBody(res);
        const text = content(answer);
        if (text !== '') yield text;
        return reportedUsage((answer as { usage?: unknown }).usage);
      }
      if (type !== 'text/event-stream') {
        await res.body?.cancel().catch(() => undefined);
        throw malformed();
      }
      for await (const event of sseEvents(res, request.signal)) {
        if (event.event === 'delta') {
          const text = content(parse(event.data));
          if (text !== '') yield text;
        } else if (event.event === 'done') {
          const usage: TokenUsage | undefined = reportedUsage((parse(event.data) as { usage?: unknown } | null)?.usage);
          return usage;
        } else if (event.event === 'error') {
          logger.warn('http upstream sent an error event', { messageLength: event.data.length });
          throw new ReplyError('SERVICE_UNAVAILABLE', REPLY_MESSAGES.unavailable, { failure: 'upstream_error' });
        }
        // Other event names (comments, keep-alives) are ignored, as EventSource would.
      }
      throw incomplete();
    },
  };
}
