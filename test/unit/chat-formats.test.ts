// Wire formats of the chat API: SSE events read back by a real SSE parser, CSV per RFC 4180, and
// the local backend's deterministic word-by-word reply.
import { PassThrough } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import { csvField, toCsv } from '../../shared/chat/csv.ts';
import { createLocalBackend, FAIL_BEFORE_STREAM, FAIL_MIDSTREAM, localReply, words } from '../../shared/chat/local-backend.ts';
import { bufferSink, encodeEvent, writableSink } from '../../shared/chat/sse.ts';
import { replyRequest } from '../support/reply-request.ts';

function parse(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(text);
  return events;
}

describe('SSE encoding', () => {
  it('writes `event:` and one JSON `data:` line per event', () => {
    expect(encodeEvent('message.delta', { content: 'Hi' })).toBe('event: message.delta\ndata: {"content":"Hi"}\n\n');
  });

  it.each([
    ['newlines and carriage returns', 'line one\nline two\r\nthree\r'],
    ['unicode and emoji', 'Grüße, 世界 👋🏽 \u2028\u2029'],
    ['something that looks like SSE', 'event: error\ndata: {"x":1}\n\n'],
    ['quotes and backslashes', '"\\"'],
  ])('keeps %s intact through a real SSE parser', (_, content) => {
    const text = encodeEvent('message.delta', { content });
    expect(text.split('\n').filter((l) => l.startsWith('data:'))).toHaveLength(1);
    const [event] = parse(text);
    expect(event!.event).toBe('message.delta');
    expect(JSON.parse(event!.data)).toEqual({ content });
  });

  it('writes each event as its own chunk to a writable, and ignores sends after end', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const sink = writableSink(out);
    await sink.send('message.delta', { content: 'a' });
    await sink.send('message.completed', { messageId: 'msg_1', content: 'a', usage: { credits: 1 } });
    sink.end();
    await sink.send('error', { code: 'X', message: 'late' });
    await new Promise((r) => out.on('end', r));
    expect(chunks).toHaveLength(2);
    expect(parse(chunks.join('')).map((e) => e.event)).toEqual(['message.delta', 'message.completed']);
  });

  it('does not throw when the client has gone away', async () => {
    const out = new PassThrough();
    const sink = writableSink(out);
    out.destroy();
    await new Promise((r) => setImmediate(r));
    await expect(sink.send('message.delta', { content: 'x' })).resolves.toBeUndefined();
    expect(() => sink.end()).not.toThrow();
  });

  it('buffers events into one body', async () => {
    const sink = bufferSink();
    await sink.send('message.delta', { content: 'a' });
    await sink.send('error', { code: 'SERVICE_UNAVAILABLE', message: 'm' });
    expect(parse(sink.body()).map((e) => [e.event, JSON.parse(e.data)])).toEqual([
      ['message.delta', { content: 'a' }],
      ['error', { code: 'SERVICE_UNAVAILABLE', message: 'm' }],
    ]);
  });
});

describe('CSV', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\rhere', '"cr\rhere"'],
    ['', ''],
    [null, ''],
    [undefined, ''],
    [42, '42'],
    [false, 'false'],
    [{ a: 1, b: 'x,y' }, '"{""a"":1,""b"":""x,y""}"'],
    ['Grüße 👋', 'Grüße 👋'],
  ])('field %j is written as %j', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  // OWASP's CSV-injection rule: a text cell starting with = + - @ tab or CR gets a leading single
  // quote, so a spreadsheet shows it as text instead of running it as a formula.
  it.each([
    ['=HYPERLINK("https://evil.example","click")', '"\'=HYPERLINK(""https://evil.example"",""click"")"'],
    ['+1+1', "'+1+1"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1:A2)', "'@SUM(A1:A2)"],
    ['\t=1', "'\t=1"],
    ['\r=1', '"\'\r=1"'],
    ['a=1', 'a=1'],
    [' =1', ' =1'],
    [-3, '-3'],
  ])('text %j is neutralised as %j', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it('has a header row and CRLF line ends, with missing fields empty', () => {
    expect(toCsv(['id', 'content', 'n'], [{ id: 'm1', content: 'hi, there', n: 1 }, { id: 'm2' }])).toBe(
      'id,content,n\r\nm1,"hi, there",1\r\nm2,,\r\n',
    );
  });
});

describe('local backend', () => {
  const backend = createLocalBackend({ CHAT_LOCAL_DELAY_MS: '0' });

  async function collect(content: string) {
    const out: string[] = [];
    for await (const d of backend.reply(replyRequest([{ role: 'user', content }]))) out.push(d);
    return out;
  }

  it('streams a fixed template around the user words, word by word, deterministically', async () => {
    const deltas = await collect('Hello there');
    expect(deltas.length).toBeGreaterThan(5);
    // Written out, not computed by localReply: the template the README and the e2e tests rely on.
    expect(deltas.join('')).toBe('You said: Hello there (turn 1). This reply comes from the Keygate local backend.');
    expect(await collect('Hello there')).toEqual(deltas);
  });

  it('counts turns from the history', () => {
    const reply = localReply([
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'c' },
    ]);
    expect(reply).toBe('You said: c (turn 2). This reply comes from the Keygate local backend.');
  });

  it('cuts text so that the words join back exactly', () => {
    for (const text of ['a b  c', ' lead', 'tail ', 'one', 'tab\tand\nnewline', '']) {
      expect(words(text).join('')).toBe(text);
    }
  });

  it('simulates a failure before the first delta and one midway', async () => {
    await expect(collect(FAIL_BEFORE_STREAM)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const d of backend.reply(replyRequest([{ role: 'user', content: FAIL_MIDSTREAM }]))) seen.push(d);
      })(),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(seen).toHaveLength(2);
  });

  it('waits between words so streaming can be observed', async () => {
    const slow = createLocalBackend({ CHAT_LOCAL_DELAY_MS: '20' });
    const times: number[] = [];
    for await (const _ of slow.reply(replyRequest([{ role: 'user', content: 'x' }]))) times.push(performance.now());
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(20 * (times.length - 1) - 5);
  });
});
