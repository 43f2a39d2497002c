// GET /v1/organizations/{orgId}/upstreams over HTTP: the deployed upstreams as the local runtime
// reads them from KEYGATE_UPSTREAMS, names, kinds and models only (never a URL or a secret).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalKeygate } from '../../infra/local/environment.ts';
import { portalUser, startTestApi, uniqueUser, type ApiClient } from '../support/api.ts';

let keygate: LocalKeygate;
let owner: ApiClient;
let orgId: string;
const saved = { upstreams: process.env.KEYGATE_UPSTREAMS, default: process.env.KEYGATE_DEFAULT_UPSTREAM };

beforeAll(async () => {
  process.env.KEYGATE_UPSTREAMS = JSON.stringify({
    local: { kind: 'echo' },
    ollama: { kind: 'openai', baseUrl: 'http://127.0.0.1:11434/v1', apiKey: 'sk-local-upstream-secret', models: ['llama3.2', 'qwen3'] },
    sql: { kind: 'http', url: 'http://localhost:8787/reply', signingSecret: 'whsec_local-upstream-secret', timeoutSeconds: 5 },
  });
  process.env.KEYGATE_DEFAULT_UPSTREAM = 'sql';
  keygate = await startTestApi();
  owner = await portalUser(keygate.url, uniqueUser('upstreams'));
  orgId = (await owner.post('/v1/organizations', { name: 'Upstreams Inc' })).body.id;
});

afterAll(async () => {
  await keygate?.stop();
  for (const [name, value] of [['KEYGATE_UPSTREAMS', saved.upstreams], ['KEYGATE_DEFAULT_UPSTREAM', saved.default]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

it('lists the deployed upstreams in order with their models, without URLs or secrets', async () => {
  const res = await owner.get(`/v1/organizations/${orgId}/upstreams`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    items: [
      { name: 'local', kind: 'echo', models: [] },
      { name: 'ollama', kind: 'openai', models: ['llama3.2', 'qwen3'] },
      { name: 'sql', kind: 'http', models: [] },
    ],
  });
  expect(res.text).not.toMatch(/secret|localhost|127\.0\.0\.1/);
});
