// The official `openai` package retries a 429 after the Retry-After Keygate sends (docs/openai.md
// "Limits, credits, retries"). Its own file: the wait is the rest of the current UTC minute (up to
// 60 s), which runs beside the other files instead of after them.
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { startTestApi } from '../support/api.ts';
import { createTestOrg } from './chat-helpers.ts';

let keygate: LocalKeygate;

beforeAll(async () => {
  keygate = await startTestApi();
});

afterAll(async () => {
  await keygate?.stop();
});

it('retries a 429 once Retry-After has passed, and then gets the reply', { timeout: 100_000 }, async () => {
  const org = await createTestOrg(keygate.url, 'OpenAI Retry Co');
  const res = await org.owner.post(`/v1/organizations/${org.id}/api-keys`, { name: 'one a minute', type: 'secret', rateLimit: { perMinute: 1 } });
  const attempts: { at: number; status: number; retryAfter: string | null }[] = [];
  const client = new OpenAI({
    apiKey: res.body.key as string,
    baseURL: `${keygate.url}/v1`,
    maxRetries: 1,
    timeout: 90_000,
    // The real fetch, observed: when each attempt was answered, and how.
    fetch: async (input, init) => {
      const answer = await fetch(input, init);
      attempts.push({ at: performance.now(), status: answer.status, retryAfter: answer.headers.get('retry-after') });
      return answer;
    },
  });
  await client.models.list();
  const completion = await client.chat.completions.create({ model: 'Default', messages: [{ role: 'user', content: 'after the wait' }] });
  expect(completion.choices[0]!.message.content).toContain('You said: after the wait');
  expect(attempts.map((a) => a.status)).toEqual([200, 429, 200]);
  const waited = attempts[2]!.at - attempts[1]!.at;
  expect(Number(attempts[1]!.retryAfter)).toBeGreaterThanOrEqual(1);
  expect(waited).toBeGreaterThanOrEqual(Number(attempts[1]!.retryAfter) * 1000 - 50);
});
