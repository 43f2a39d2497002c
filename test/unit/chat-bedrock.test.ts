// The Bedrock backend against a mocked ConverseStream: deltas, completion, and every failure
// mapped to the code the stream's `error` event (or the JSON error before it) carries.
import { BedrockRuntimeClient, ConverseStreamCommand, type ConverseStreamOutput } from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.LOG_LEVEL = 'SILENT';
});
import { ReplyError, type ChatTurn } from '../../shared/chat/backend.ts';
import { bedrockBackend, replyErrorFrom, toBedrockMessages } from '../../shared/chat/bedrock-backend.ts';
import { DEFAULT_BEDROCK_MODEL } from '../../shared/chat/bedrock-model.ts';

const client = new BedrockRuntimeClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
const bedrock = mockClient(client);
const MODEL = DEFAULT_BEDROCK_MODEL;
const backend = bedrockBackend({ modelId: MODEL, maxTokens: 256, system: 'Be brief.', client });
const question: ChatTurn[] = [{ role: 'user', content: 'Hello?' }];

async function* events(list: ConverseStreamOutput[], thenThrow?: Error): AsyncGenerator<ConverseStreamOutput> {
  for (const e of list) yield e;
  if (thenThrow) throw thenThrow;
}

const delta = (text: string): ConverseStreamOutput => ({ contentBlockDelta: { contentBlockIndex: 0, delta: { text } } });
const START: ConverseStreamOutput = { messageStart: { role: 'assistant' } };
const STOP: ConverseStreamOutput = { messageStop: { stopReason: 'end_turn' } };

async function collect(turns: ChatTurn[] = question): Promise<string[]> {
  const out: string[] = [];
  for await (const d of backend.reply(turns)) out.push(d);
  return out;
}

function awsError(name: string): Error {
  return Object.assign(new Error(`${name} from Bedrock with internal details`), { name, $fault: 'client' });
}

beforeEach(() => {
  bedrock.reset();
});

describe('stream mapping', () => {
  it('turns contentBlockDelta text into deltas and ends at messageStop', async () => {
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
    expect(await collect()).toEqual(['Hel', 'lo, ', 'world.']);
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
    ['AccessDeniedException', 'INTERNAL_ERROR', 'The reply could not be generated'],
    ['ResourceNotFoundException', 'INTERNAL_ERROR', 'The reply could not be generated'],
  ])('%s thrown by the call becomes %s, without Bedrock\'s own message', async (name, code, message) => {
    bedrock.on(ConverseStreamCommand).rejects(awsError(name));
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
      for await (const d of backend.reply(question)) seen.push(d);
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

  it('drops the oldest turns beyond the context budget but always keeps the newest', () => {
    const turns: ChatTurn[] = [
      { role: 'user', content: 'x'.repeat(50) },
      { role: 'assistant', content: 'y'.repeat(50) },
      { role: 'user', content: 'z'.repeat(50) },
    ];
    expect(toBedrockMessages(turns, 120)).toEqual([{ role: 'user', content: [{ text: 'z'.repeat(50) }] }]);
    expect(toBedrockMessages([{ role: 'user', content: 'q'.repeat(500) }], 120)).toHaveLength(1);
  });
});
