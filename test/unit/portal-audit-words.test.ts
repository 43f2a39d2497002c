// The portal's audit log in words (web/portal/src/pages/audit-words.ts): ids of assistants and
// databases by name, billing in words, unchanged fields left out.
import { describe, expect, it } from 'vitest';
import { describeChanges } from '../../web/portal/src/pages/audit-words.ts';

const dateTime = (iso: string) => `at ${iso}`;
const number = (n: number) => n.toLocaleString('en-US');
const names = new Map([['ast_1', 'Support'], ['ast_2', 'Default']]);
const nameOf = (id: string) => names.get(id);

describe('describeChanges', () => {
  it('names an assistant by its name, not its id, and keeps an unknown id', () => {
    expect(describeChanges([{ field: 'assistantId', from: 'ast_2', to: 'ast_1' }], dateTime, number, nameOf)).toBe('Assistant changed from Default to Support.');
    expect(describeChanges([{ field: 'defaultAssistantId', from: 'ast_1', to: 'ast_9' }], dateTime, number, nameOf)).toBe('Default assistant changed from Support to ast_9.');
  });

  it('says billing in words', () => {
    expect(
      describeChanges([{ field: 'billing', from: { mode: 'reply' }, to: { mode: 'tokens', inputPer1k: 2, outputPer1k: 1500 } }], dateTime, number),
    ).toBe('Billing changed from one credit per reply to 2 credits per 1,000 input tokens and 1,500 per 1,000 output tokens.');
  });

  it("labels an assistant's settings and leaves out what did not change", () => {
    expect(
      describeChanges(
        [
          { field: 'maxOutputTokens', from: 1024, to: 512 },
          { field: 'model', from: 'qwen3', to: 'qwen3' },
          { field: 'temperature', from: null, to: 0.3 },
        ],
        dateTime,
        number,
      ),
    ).toBe('Max output tokens changed from 1,024 to 512. Temperature set to 0.3.');
  });
});
