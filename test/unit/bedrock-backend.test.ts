// The Bedrock backend against a mocked ConverseStream fed event sequences shaped as AWS documents
// them (messageStart, contentBlockDelta..., contentBlockStop, messageStop, then metadata with the
// usage): deltas, the assistant's settings in the request, the reported usage, and every failure
// mapped to the code the stream's `error` event (or the JSON error before it) carries.
import { BedrockRuntimeClient, ConverseStreamCommand, type ConverseStreamOutput } from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';

import { ReplyError, type ChatTurn, type TokenUsage } from '../../shared/chat/backend.ts';
import { bedrockBackend, replyErrorFrom, toBedrockMessages } from '../../shared/chat/bedrock-backend.ts';
import { DEFAULT_BEDROCK_MODEL } from '../../shared/chat/bedrock-model.ts';
import { replyRequest } from '../support/reply-request.ts';

const client = new BedrockRuntimeClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
const bedrock = mockClient(client);
const MODEL = DEFAULT_BEDROCK_MODEL;
const backend = bedrockBackend(client);
const assistant: { model: string; maxOutputTokens: number; instructions: string; temperature: number | null } = {
  model: MODEL,
  maxOutputTokens: 256,
  instructions: 'Be brief.',
  temperature: null,
};
const question: ChatTurn[] = [{ role: 'user', content: 'Hello?' }];

async function* events(list: ConverseStreamOutput[], thenThrow?: Error): AsyncGenerator<ConverseStreamOutput> {
  for (const e of list) yield e;
  if (thenThrow) throw thenThrow;
}

const delta = (text: string): ConverseStreamOutput => ({ contentBlockDelta: { contentBlockIndex: 0, delta: { text } } });
const START: ConverseStreamOutput = { messageStart: { role: 'assistant' } };
const STOP: ConverseStreamOutput = { messageStop: { stopReason: 'end_turn' } };

async function run(turns: ChatTurn[] = question, settings: Partial<typeof assistant> = {}): Promise<{ deltas: string[]; usage: TokenUsage | undefined | void }> {
  const deltas: string[] = [];
  const it = backend.reply(replyRequest(turns, { assistant: { ...assistant, ...settings } }));
  for (;;) {
    const next = await it.next();
    if (next.done) return { deltas, usage: next.value };
    deltas.push(next.value);
  }
}

async function collect(turns: ChatTurn[] = question): Promise<string[]> {
  return (await run(turns)).deltas;
}

function awsError(name: string, status = 400): Error {
  return Object.assign(new Error(`${name} from Bedrock with internal details`), {
    name,
    $fault: status < 500 ? 'client' : 'server',
    $metadata: { httpStatusCode: status },
  });
}

beforeEach(() => {
  bedrock.reset();
});

describe('stream mapping', () => {
  it('turns contentBlockDelta text into deltas and returns the usage of the metadata event after messageStop', async () => {
    bedrock.on(ConverseStreamCommand).resolves({
      stream: events([
        START,
        { contentBlockStart: { contentBlockIndex: 0, start: {} as never } },
        delta('Hel'),
        delta('lo, '),
        delta('world.'),
        { contentBlockStop: { contentBlockIndex: 0 } },
        STOP,
        { metadata: { usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 }, metrics: { latencyMs: 10 } } },
      ]),
    });
    expect(await run()).toEqual({ deltas: ['Hel', 'lo, ', 'world.'], usage: { inputTokens: 3, outputTokens: 4 } });
  });

  it('reports no usage when the stream has no metadata (the reply is then estimated)', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: events([START, delta('ok'), STOP]) });
    expect(await run()).toEqual({ deltas: ['ok'], usage: undefined });
  });

  it('sends the temperature only when the assistant sets one, and no system prompt without instructions', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: events([delta('ok'), STOP]) });
    await run(question, { temperature: 0.2, instructions: '', model: 'amazon.nova-lite-v1:0', maxOutputTokens: 64 });
    expect(bedrock.commandCalls(ConverseStreamCommand)[0]!.args[0].input).toEqual({
      modelId: 'amazon.nova-lite-v1:0',
      messages: [{ role: 'user', content: [{ text: 'Hello?' }] }],
      inferenceConfig: { maxTokens: 64, temperature: 0.2 },
    });
  });

  it('passes the abort signal to the SDK, so a caller that leaves stops the call', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: events([delta('ok'), STOP]) });
    await run();
    expect((bedrock.commandCalls(ConverseStreamCommand)[0]!.args as unknown[])[1]).toMatchObject({ abortSignal: expect.any(AbortSignal) });
  });

  it('sends the model id, the history as Bedrock messages, the system prompt and the token cap', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: events([delta('ok'), STOP]) });
    await collect([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'answer' },
      { role: 'user', content: 'second' },
    ]);
    const input = bedrock.commandCalls(ConverseStreamCommand)[0]!.args[0].input;
    expect(input).toEqual({
      modelId: MODEL,
      messages: [
        { role: 'user', content: [{ text: 'first' }] },
        { role: 'assistant', content: [{ text: 'answer' }] },
        { role: 'user', content: [{ text: 'second' }] },
      ],
      system: [{ text: 'Be brief.' }],
      inferenceConfig: { maxTokens: 256 },
    });
  });

  it('ignores non-text deltas', async () => {
    bedrock.on(ConverseStreamCommand).resolves({
      stream: events([delta('a'), { contentBlockDelta: { contentBlockIndex: 1, delta: { reasoningContent: { text: 'thinking' } } } }, delta('b'), STOP]),
    });
    expect(await collect()).toEqual(['a', 'b']);
  });

  it('treats a stream that ends without messageStop as an incomplete reply', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: events([delta('partial')]) });
    await expect(collect()).rejects.toMatchObject({ name: 'ReplyError', code: 'SERVICE_UNAVAILABLE' });
  });
});

describe('failures', () => {
  it.each([
    ['ThrottlingException', 'SERVICE_UNAVAILABLE', 'The model is busy; try again shortly'],
    ['ServiceQuotaExceededException', 'SERVICE_UNAVAILABLE', 'The model is busy; try again shortly'],
    ['ServiceUnavailableException', 'SERVICE_UNAVAILABLE', 'The model is unavailable; try again shortly'],
    ['ModelTimeoutException', 'SERVICE_UNAVAILABLE', 'The model is unavailable; try again shortly'],
    ['InternalServerException', 'SERVICE_UNAVAILABLE', 'The model is unavailable; try again shortly'],
    ['ValidationException', 'VALIDATION_ERROR', 'The model could not process this conversation'],
    ['AccessDeniedException', 'VALIDATION_ERROR', 'The model could not process this conversation'],
    ['ResourceNotFoundException', 'VALIDATION_ERROR', 'The model could not process this conversation'],
  ])('%s thrown by the call becomes %s, without Bedrock\'s own message', async (name, code, message) => {
    const status = { ThrottlingException: 429, ServiceQuotaExceededException: 400, ServiceUnavailableException: 503, ModelTimeoutException: 408, InternalServerException: 500, ValidationException: 400, AccessDeniedException: 403, ResourceNotFoundException: 404 }[name]!;
    bedrock.on(ConverseStreamCommand).rejects(awsError(name, status));
    const error = await collect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplyError);
    expect(error).toMatchObject({ code, message });
  });

  it.each([
    ['throttlingException', 'SERVICE_UNAVAILABLE'],
    ['validationException', 'VALIDATION_ERROR'],
    ['modelStreamErrorException', 'SERVICE_UNAVAILABLE'],
    ['internalServerException', 'SERVICE_UNAVAILABLE'],
    ['serviceUnavailableException', 'SERVICE_UNAVAILABLE'],
  ] as const)('a %s event mid-stream fails the reply with %s after the deltas before it', async (member, code) => {
    bedrock.on(ConverseStreamCommand).resolves({
      stream: events([delta('one '), { [member]: { message: 'boom' } } as unknown as ConverseStreamOutput, delta('never')]),
    });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const d of backend.reply(replyRequest(question, { assistant }))) seen.push(d);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['one ']);
    expect(error).toMatchObject({ name: 'ReplyError', code });
  });

  it('maps an exception the SDK throws while iterating the stream', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: events([delta('x')], awsError('ThrottlingException')) });
    await expect(collect()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });

  it('maps network failures to SERVICE_UNAVAILABLE', () => {
    expect(replyErrorFrom(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).code).toBe('SERVICE_UNAVAILABLE');
  });

  it('refuses a conversation that does not end with the user before calling Bedrock', async () => {
    await expect(collect([{ role: 'assistant', content: 'hi' }])).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(bedrock.commandCalls(ConverseStreamCommand)).toHaveLength(0);
  });
});

describe('history mapping', () => {
  it('merges consecutive turns of one role and drops leading assistant turns', () => {
    expect(
      toBedrockMessages([
        { role: 'assistant', content: 'greeting' },
        { role: 'user', content: 'a' },
        { role: 'user', content: 'b' },
        { role: 'assistant', content: 'c' },
        { role: 'user', content: '  ' },
        { role: 'user', content: 'd' },
      ]),
    ).toEqual([
      { role: 'user', content: [{ text: 'a\n\nb' }] },
      { role: 'assistant', content: [{ text: 'c' }] },
      { role: 'user', content: [{ text: 'd' }] },
    ]);
  });
});
