// The pure rules of hold and settle (shared/limits/credit-holds.ts), and the input bound they hold
// against a real tokenizer: the UTF-8 bytes plus 8 per message that trimTurns counts never fall
// below what the o200k and cl100k tokenizers make of the same chat, in any script or with emoji.
import { encodeChat as o200kChat, encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encodeChat as cl100kChat, encode as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { describe, expect, it } from 'vitest';
import { messageTokenBound, trimTurns } from '../../shared/domain/assistants.ts';
import { fullHold, holdDueAt, holdDueKey, HOLD_LEASE_MS, HOLD_RENEW_MS, holdWithin, MIN_OUTPUT_TOKENS, minimumHold, SETTLE_MARGIN_MS, settledCharge, SWEEP_EVERY_MS, sweptCharge } from '../../shared/limits/credit-holds.ts';

const tokens = { mode: 'tokens' as const, inputPer1k: 3, outputPer1k: 15 };

describe('holds', () => {
  it('hold the worst case: the input bound plus the output cap, at the billing', () => {
    expect(fullHold(tokens, { inputBound: 2000, outputCap: 1000 })).toEqual({ credits: 21, outputCap: 1000 });
    expect(fullHold({ mode: 'reply' }, { inputBound: 2000, outputCap: 1000 })).toEqual({ credits: 1, outputCap: 1000 });
  });

  it('lower the output cap to what the balance holds, never below 16 tokens', () => {
    // 20 credits: 2000 input tokens take 6, leaving 14 credits for 933 output tokens.
    expect(holdWithin(tokens, { inputBound: 2000, outputCap: 1000 }, 20)).toEqual({ credits: 20, outputCap: 933 });
    expect(holdWithin(tokens, { inputBound: 2000, outputCap: 1000 }, 21)).toEqual({ credits: 21, outputCap: 1000 });
    // 7 credits: 6 for the input, 66 output tokens fit.
    expect(holdWithin(tokens, { inputBound: 2000, outputCap: 1000 }, 7)).toEqual({ credits: 7, outputCap: 66 });
    expect(minimumHold(tokens, { inputBound: 2000, outputCap: 1000 })).toBe(Math.ceil((2000 * 3 + MIN_OUTPUT_TOKENS * 15) / 1000));
    expect(holdWithin(tokens, { inputBound: 2000, outputCap: 1000 }, 6)).toBeUndefined();
    // A cap already below 16 is kept as the minimum.
    expect(holdWithin(tokens, { inputBound: 100, outputCap: 8 }, 1)).toEqual({ credits: 1, outputCap: 8 });
  });

  it('never hold more than is available, and never nothing', () => {
    for (let available = 0; available < 40; available++) {
      const held = holdWithin(tokens, { inputBound: 1234, outputCap: 4000 }, available);
      if (held) expect(held.credits).toBeLessThanOrEqual(available);
      if (held) expect(held.credits).toBeGreaterThanOrEqual(1);
    }
    expect(holdWithin({ mode: 'reply' }, { inputBound: 0, outputCap: 0 }, 0)).toBeUndefined();
    expect(holdWithin({ mode: 'tokens', inputPer1k: 0, outputPer1k: 1 }, { inputBound: 10, outputCap: 10 }, 0)).toBeUndefined();
  });

  it('settle to what was used, never more than the hold', () => {
    expect(settledCharge(tokens, 21, { inputTokens: 500, outputTokens: 100 })).toBe(Math.ceil((500 * 3 + 100 * 15) / 1000));
    expect(settledCharge(tokens, 2, { inputTokens: 5000, outputTokens: 5000 })).toBe(2);
    expect(settledCharge({ mode: 'reply' }, 1, { inputTokens: 0, outputTokens: 1 })).toBe(1);
  });

  it('the sweep charges a dead function in full only once a delta reached the caller', () => {
    expect(sweptCharge({ held: 9 })).toBe(0);
    expect(sweptCharge({ held: 9, delivered: true })).toBe(9);
  });

  it('a hold is due at its deadline or its lease, whichever is sooner, plus the settle margin', () => {
    expect(holdDueAt(60_000, 0)).toBe(60_000 + SETTLE_MARGIN_MS);
    expect(holdDueAt(330_000, 0)).toBe(HOLD_LEASE_MS + SETTLE_MARGIN_MS);
    // A dead function's hold is settled within 5 minutes of its death, whatever its timeout.
    expect(HOLD_RENEW_MS + HOLD_LEASE_MS + SETTLE_MARGIN_MS + SWEEP_EVERY_MS).toBeLessThanOrEqual(300_000);
  });

  it('due keys sort by time', () => {
    expect(holdDueKey(999, 'z') < holdDueKey(1000, 'a')).toBe(true);
    expect(holdDueKey(1000, 'a') < holdDueKey(1001, '')).toBe(true);
  });
});

/** Text in many scripts, emoji sequences (ZWJ families, flags, skin tones), and what tokenizers merge well. */
const SAMPLES = [
  'Hello, world! How are you today?',
  'Grüße aus Köln — ça va? Ñandú, smørrebrød, İstanbul, Łódź.',
  '東京は今日も晴れです。日本語の文章をトークンに分けると、一文字が複数のトークンになることがあります。',
  '我们的产品在十一月增长了百分之十二。请问有什么可以帮您？',
  '안녕하세요, 오늘 날씨가 좋네요.',
  'Привет! Как дела? Всё хорошо, спасибо.',
  'مرحبا بالعالم، كيف حالك اليوم؟',
  'שלום עולם, מה שלומך?',
  'नमस्ते दुनिया, आप कैसे हैं? हिन्दी पाठ।',
  'สวัสดีครับ วันนี้อากาศดีมาก',
  'Γειά σου Κόσμε! Τι κάνεις;',
  '👩‍👩‍👧‍👦👨🏽‍💻🏳️‍🌈🇯🇵🇫🇷🙂🫠🧑🏿‍🚀✨'.repeat(12),
  'e\u0301 a\u0300 o\u0308 — combining marks, zero\u200bwidth\u200bspaces, \u{1F600}\u{1F601}',
  'a'.repeat(2000),
  ' '.repeat(500) + '\n'.repeat(300) + '\t'.repeat(100),
  '0123456789'.repeat(100),
  'function f(x) { return x.map((y) => y * 2).filter(Boolean); } // code',
  '',
];

describe('the input bound against real tokenizers', () => {
  it('a message: its UTF-8 bytes plus 8 are at least its o200k and cl100k tokens plus the chat template', () => {
    for (const text of SAMPLES) {
      const bound = messageTokenBound(text);
      for (const encode of [o200k, cl100k]) expect(encode(text).length + 4).toBeLessThanOrEqual(bound);
      for (const chat of [o200kChat, cl100kChat]) expect(chat([{ role: 'user', content: text }], 'gpt-4o').length).toBeLessThanOrEqual(bound);
    }
  });

  it('a trimmed conversation: inputTokenBound is at least the whole chat the upstream is sent', () => {
    const turns = SAMPLES.filter((s) => s !== '').map((content, i) => ({ role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content }));
    turns.push({ role: 'user', content: SAMPLES[11]! });
    const instructions = 'Answer in the language of the question. Be brief. 日本語でも。🙂';
    for (const max of [1_500, 3_000, 8_000, 200_000]) {
      const { turns: kept, inputTokenBound } = trimTurns(instructions, turns, max);
      expect(inputTokenBound).toBeLessThanOrEqual(max);
      const chat = [{ role: 'system' as const, content: instructions }, ...kept];
      expect(o200kChat(chat, 'gpt-4o').length).toBeLessThanOrEqual(inputTokenBound);
      expect(cl100kChat(chat, 'gpt-4').length).toBeLessThanOrEqual(inputTokenBound);
    }
  });
});
