import { describe, expect, it } from 'vitest';
import { DEFAULT_BEDROCK_MODEL } from '../../shared/chat/bedrock-model.ts';
import {
  defaultUpstreamName,
  listUpstreams,
  parseUpstreams,
  replyFunctionTimeoutSeconds,
  replyStopBy,
  upstreamConfig,
  upstreamEnvironment,
  UpstreamConfigError,
} from '../../shared/chat/upstreams.ts';
import { ROUTES, routeKey } from '../../shared/routes.ts';

const aws = {
  claude: { kind: 'bedrock', models: ['us.anthropic.claude-sonnet-4-20250514-v1:0', 'amazon.nova-lite-v1:0'] },
  gpt: { kind: 'openai', baseUrl: 'https://api.openai.com/v1/', apiKeySecretName: 'keygate/openai', models: ['gpt-4.1-mini'], timeoutSeconds: 10 },
  sql: { kind: 'http', url: 'https://sql.example.com/reply', signingSecretName: 'arn:aws:secretsmanager:eu-west-1:1:secret:sql', maxDurationSeconds: 840 },
  echo: { kind: 'echo' },
};

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UpstreamConfigError);
    return (error as Error).message;
  }
  throw new Error('expected an UpstreamConfigError');
}

describe('parseUpstreams', () => {
  it('reads every kind in order, with defaults for the timeouts and the first as default upstream', () => {
    const config = parseUpstreams(aws, undefined, 'aws');
    expect(config.defaultUpstream).toBe('claude');
    expect(config.upstreams.map((u) => [u.name, u.kind, u.timeoutSeconds, u.maxDurationSeconds])).toEqual([
      ['claude', 'bedrock', 30, 300],
      ['gpt', 'openai', 10, 300],
      ['sql', 'http', 30, 840],
      ['echo', 'echo', 30, 300],
    ]);
    expect(config.upstreams[1]).toMatchObject({ baseUrl: 'https://api.openai.com/v1', apiKeySecretName: 'keygate/openai' });
  });

  it('accepts the same JSON as a string and a named default', () => {
    expect(parseUpstreams(JSON.stringify(aws), 'sql', 'aws').defaultUpstream).toBe('sql');
    expect(problem(() => parseUpstreams(aws, 'nope', 'aws'))).toMatch(/^defaultUpstream: must name one of the upstreams \(claude, gpt, sql, echo\)/);
    expect(problem(() => parseUpstreams('{oops', undefined, 'aws'))).toBe('upstreams: is not valid JSON');
  });

  it('without upstreams: one bedrock upstream on the default model in AWS, echo locally', () => {
    expect(parseUpstreams(undefined, undefined, 'aws')).toEqual({
      upstreams: [{ name: 'bedrock', kind: 'bedrock', models: [DEFAULT_BEDROCK_MODEL], timeoutSeconds: 30, maxDurationSeconds: 300 }],
      defaultUpstream: 'bedrock',
    });
    expect(parseUpstreams(undefined, undefined, 'local').upstreams.map((u) => u.kind)).toEqual(['echo']);
    expect(problem(() => parseUpstreams(undefined, 'gpt', 'local'))).toMatch(/^defaultUpstream: names no upstream/);
  });

  it('refuses inline secrets in AWS and secret names locally, naming the field', () => {
    expect(problem(() => parseUpstreams({ gpt: { ...aws.gpt, apiKey: 'sk-live' } }, undefined, 'aws'))).toBe(
      'upstreams.gpt.apiKey: is not a field of an openai upstream (secrets are Secrets Manager names in AWS: use apiKeySecretName)',
    );
    expect(problem(() => parseUpstreams({ sql: { kind: 'http', url: 'https://x.example', signingSecret: 's' } }, undefined, 'aws'))).toMatch(
      /^upstreams\.sql\.signingSecret: is not a field/,
    );
    expect(problem(() => parseUpstreams({ sql: { kind: 'http', url: 'https://x.example' } }, undefined, 'aws'))).toBe(
      'upstreams.sql.signingSecretName: must be a non-empty string',
    );
    expect(problem(() => parseUpstreams({ sql: { kind: 'http', url: 'http://localhost:9000', signingSecretName: 'n' } }, undefined, 'local'))).toMatch(
      /^upstreams\.sql\.signingSecretName: is not a field of an http upstream \(locally the secret itself: use signingSecret\)/,
    );
    const local = parseUpstreams({ sql: { kind: 'http', url: 'http://localhost:9000/r', signingSecret: 'whsec_x' }, ol: { kind: 'openai', baseUrl: 'http://127.0.0.1:11434/v1', models: ['llama3'] } }, undefined, 'local');
    expect(local.upstreams[0]).toMatchObject({ url: 'http://localhost:9000/r', signingSecret: 'whsec_x' });
    expect(local.upstreams[1]).not.toHaveProperty('apiKey');
  });

  it('accepts http://localhost and http://127.0.0.1 locally only; never credentials, a query or another scheme', () => {
    expect(problem(() => parseUpstreams({ o: { kind: 'openai', baseUrl: 'http://localhost:8000/v1', models: ['m'] } }, undefined, 'aws'))).toBe(
      'upstreams.o.baseUrl: must be https://',
    );
    expect(problem(() => parseUpstreams({ o: { kind: 'openai', baseUrl: 'http://10.0.0.2/v1', models: ['m'] } }, undefined, 'local'))).toMatch(/must be https:\/\/ \(or http:\/\/localhost/);
    expect(problem(() => parseUpstreams({ o: { kind: 'openai', baseUrl: 'https://u:p@h.example/v1', models: ['m'] } }, undefined, 'aws'))).toMatch(/credentials/);
    expect(problem(() => parseUpstreams({ o: { kind: 'openai', baseUrl: 'https://h.example/v1?k=1', models: ['m'] } }, undefined, 'aws'))).toMatch(/query/);
    expect(problem(() => parseUpstreams({ o: { kind: 'openai', baseUrl: 'ftp://h.example', models: ['m'] } }, undefined, 'aws'))).toMatch(/https/);
  });

  it('checks kinds, models, names, timeouts and unknown fields', () => {
    expect(problem(() => parseUpstreams({ a: { kind: 'azure' } }, undefined, 'aws'))).toBe('upstreams.a.kind: must be one of bedrock, openai, http, echo');
    expect(problem(() => parseUpstreams({ a: { kind: 'bedrock', models: [] } }, undefined, 'aws'))).toMatch(/models: must be a non-empty array/);
    expect(problem(() => parseUpstreams({ a: { kind: 'bedrock', models: ['m', 'm'] } }, undefined, 'aws'))).toMatch(/twice/);
    expect(problem(() => parseUpstreams({ a: { kind: 'bedrock', models: ['has space'] } }, undefined, 'aws'))).toMatch(/models\[0\]/);
    expect(problem(() => parseUpstreams({ a: { kind: 'echo', models: ['m'] } }, undefined, 'aws'))).toBe('upstreams.a.models: is not a field of an echo upstream');
    expect(problem(() => parseUpstreams({ a: { kind: 'openai', baseURL: 'https://h.example', models: ['m'] } }, undefined, 'aws'))).toMatch(/baseURL: is not a field/);
    expect(problem(() => parseUpstreams({ 'a b': { kind: 'echo' } }, undefined, 'aws'))).toMatch(/the name must be/);
    expect(problem(() => parseUpstreams({ a: { kind: 'echo', maxDurationSeconds: 841 } }, undefined, 'aws'))).toMatch(/from 1 to 840/);
    expect(problem(() => parseUpstreams({ a: { kind: 'echo', timeoutSeconds: 0 } }, undefined, 'aws'))).toMatch(/from 1 to 840/);
    expect(problem(() => parseUpstreams({ a: { kind: 'echo', timeoutSeconds: 60, maxDurationSeconds: 30 } }, undefined, 'aws'))).toMatch(/must not exceed maxDurationSeconds/);
    expect(problem(() => parseUpstreams({}, undefined, 'aws'))).toBe('upstreams: must name at least one upstream');
    expect(problem(() => parseUpstreams([], undefined, 'aws'))).toMatch(/must be an object/);
  });
});

describe('upstreams from the environment', () => {
  it('round-trips through the variables the stack sets, and lists name, kind and models only', () => {
    const env = upstreamEnvironment(parseUpstreams(aws, 'gpt', 'aws'));
    expect(listUpstreams(env)).toEqual([
      { name: 'claude', kind: 'bedrock', models: aws.claude.models },
      { name: 'gpt', kind: 'openai', models: ['gpt-4.1-mini'] },
      { name: 'sql', kind: 'http', models: [] },
      { name: 'echo', kind: 'echo', models: [] },
    ]);
    expect(defaultUpstreamName(env)).toBe('gpt');
    expect(JSON.stringify(listUpstreams(env))).not.toMatch(/https|secret/i);
  });

  it('in AWS without upstreams, the one Bedrock model the stack names (BEDROCK_MODEL_ID) is the bedrock upstream', () => {
    expect(listUpstreams({ BEDROCK_MODEL_ID: 'eu.anthropic.claude-haiku-5-5' })).toEqual([{ name: 'bedrock', kind: 'bedrock', models: ['eu.anthropic.claude-haiku-5-5'] }]);
    expect(listUpstreams({})).toEqual([{ name: 'bedrock', kind: 'bedrock', models: [DEFAULT_BEDROCK_MODEL] }]);
  });

  it('the local runtime reads local settings; without any, echo', () => {
    expect(listUpstreams({ KEYGATE_LOCAL_RUNTIME: '1' })).toEqual([{ name: 'echo', kind: 'echo', models: [] }]);
    const env = { KEYGATE_LOCAL_RUNTIME: '1', KEYGATE_UPSTREAMS: JSON.stringify({ ol: { kind: 'openai', baseUrl: 'http://localhost:11434/v1', apiKey: 'k', models: ['llama3'] } }) };
    expect(upstreamConfig(env).upstreams[0]).toMatchObject({ apiKey: 'k' });
    expect(() => upstreamConfig({ ...env, KEYGATE_LOCAL_RUNTIME: '0' })).toThrow(UpstreamConfigError);
  });
});

describe('replies longer than 29 s', () => {
  it('every route that waits for a reply, JSON ones included, is the reply function\'s, on the streaming integration', () => {
    const replyRoutes = ['POST /v1/chat/sessions/{sessionId}/messages', 'POST /v1/chat/message', 'POST /api/v1/chat/message'];
    for (const key of replyRoutes) {
      const route = ROUTES.find((r) => routeKey(r) === key)!;
      expect(route, key).toMatchObject({ function: 'chatStream', stream: true });
    }
    // A streaming function answers only through the streaming integration, and only it streams.
    for (const route of ROUTES) expect(route.stream === true, routeKey(route)).toBe(route.function === 'chatStream');
  });

  it('the reply function outlives the longest maxDurationSeconds by 30 s, at least 120 s', () => {
    const config = (...max: number[]) => parseUpstreams(Object.fromEntries(max.map((m, i) => [`u${i}`, { kind: 'echo', timeoutSeconds: 5, maxDurationSeconds: m }])), undefined, 'aws');
    expect(replyFunctionTimeoutSeconds(config(300))).toBe(330);
    expect(replyFunctionTimeoutSeconds(config(60, 600))).toBe(630);
    expect(replyFunctionTimeoutSeconds(config(10))).toBe(120);
    expect(replyFunctionTimeoutSeconds(config(840))).toBe(870);
  });

  it('the upstream must stop 10 s before the function\'s deadline', () => {
    expect(replyStopBy(60_000, 1_000)).toBe(51_000);
  });
});
