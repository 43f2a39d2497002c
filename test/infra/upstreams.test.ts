// Context `upstreams` in the stack: validated at synth with the functions' own parser (AWS rules), handed
// to the functions that reply or list upstreams, and turned into exactly the Bedrock and secret grants
// and the stream timeout those upstreams need.
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../shared/routes.ts';
import { actions, functionByName, ofType, resourcesOf, roleStatements, SETUP_TIMEOUT_MS, synthBeforeAll, synthKeygate, type Synthesized } from '../support/stack.ts';

const UPSTREAMS = {
  claude: { kind: 'bedrock', models: ['eu.anthropic.claude-haiku-5-5', 'amazon.nova-lite-v1:0'] },
  gpt: {
    kind: 'openai',
    baseUrl: 'https://api.example.com/v1',
    models: ['gpt-x'],
    apiKeySecretName: 'keygate/openai-key',
    maxDurationSeconds: 600,
  },
  agent: {
    kind: 'http',
    url: 'https://agent.example.com/reply',
    signingSecretName: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:agent-signing-AbCdEf',
    timeoutSeconds: 20,
    maxDurationSeconds: 120,
  },
};

/** The reply function's routes, all on the streaming integration (at least session and one-shot messages). */
const REPLY_ROUTES = ROUTES.filter((r) => r.function === 'chatStream' && !r.localOnly).length;

const env = (s: Synthesized, name: string): Record<string, string> => functionByName(s, name)[1].Properties!.Environment.Variables;

describe('context upstreams', () => {
  // A JSON string, as `-c upstreams='{…}'` gives it.
  const s = synthBeforeAll({ context: { upstreams: JSON.stringify(UPSTREAMS), defaultUpstream: 'gpt' } });

  it('the functions that reply or list upstreams get KEYGATE_UPSTREAMS (secret names only) and KEYGATE_DEFAULT_UPSTREAM', () => {
    for (const name of ['publicApi', 'chatStream', 'management']) {
      const vars = env(s, name);
      expect(vars.KEYGATE_DEFAULT_UPSTREAM).toBe('gpt');
      const parsed = JSON.parse(vars.KEYGATE_UPSTREAMS!);
      expect(Object.keys(parsed)).toEqual(['claude', 'gpt', 'agent']);
      expect(parsed.gpt).toMatchObject({ kind: 'openai', apiKeySecretName: 'keygate/openai-key', maxDurationSeconds: 600 });
      expect(parsed.agent).toMatchObject({ kind: 'http', url: 'https://agent.example.com/reply', timeoutSeconds: 20 });
      expect(vars.BEDROCK_MODEL_ID).toBeUndefined();
    }
    for (const name of ['authorizer', 'chatSession', 'export', 'webhookDelivery']) {
      expect(env(s, name).KEYGATE_UPSTREAMS).toBeUndefined();
    }
  });

  it('the reply function may invoke exactly the bedrock upstreams\' models and read exactly the named secrets', () => {
    for (const name of ['chatStream']) {
      const statements = roleStatements(s, name);
      const bedrock = statements.filter((st) => actions(st).some((a) => a.startsWith('bedrock:')));
      const resources = JSON.stringify(bedrock.flatMap(resourcesOf));
      expect(resources).toContain('inference-profile/eu.anthropic.claude-haiku-5-5');
      expect(resources).toContain('foundation-model/anthropic.claude-haiku-5-5');
      expect(resources).toContain('foundation-model/amazon.nova-lite-v1:0');
      expect(resources).not.toContain('gpt-x');
      expect(bedrock).toHaveLength(3);
      expect(new Set(bedrock.map((st) => st.Sid)).size).toBe(3);

      const secrets = statements.filter((st) => actions(st).some((a) => a.startsWith('secretsmanager:')));
      const sessionSecretStatements = secrets.filter((st) => st.Sid !== 'UpstreamSecrets');
      const upstream = secrets.filter((st) => st.Sid === 'UpstreamSecrets');
      expect(upstream).toHaveLength(1);
      expect(actions(upstream[0]!)).toEqual(['secretsmanager:GetSecretValue']);
      const granted = JSON.stringify(resourcesOf(upstream[0]!));
      expect(resourcesOf(upstream[0]!)).toHaveLength(2);
      expect(granted).toContain(':secret:keygate/openai-key-??????');
      expect(granted).toContain('arn:aws:secretsmanager:eu-west-1:123456789012:secret:agent-signing-AbCdEf');
      // The session signing secret stays the only other secret they read.
      expect(JSON.stringify(sessionSecretStatements)).not.toContain('openai');
    }
    for (const name of ['publicApi', 'management', 'chatSession', 'authorizer']) {
      const statements = roleStatements(s, name);
      expect(statements.some((st) => actions(st).some((a) => a.startsWith('bedrock:')))).toBe(false);
      expect(statements.some((st) => st.Sid === 'UpstreamSecrets')).toBe(false);
    }
  });

  it('the reply function outlives the longest reply (600 s) by the margin, and every reply route streams with 5 s more', () => {
    expect(functionByName(s, 'chatStream')[1].Properties!.Timeout).toBe(630);
    expect(functionByName(s, 'publicApi')[1].Properties!.Timeout).toBe(10);
    const streamMethods = ofType(s.resources, 'AWS::ApiGateway::Method').filter(([, m]) => m.Properties!.Integration?.ResponseTransferMode === 'STREAM');
    // Every reply route (session messages, both one-shot paths, completions): the JSON replies too.
    expect(streamMethods).toHaveLength(REPLY_ROUTES);
    for (const [, m] of streamMethods) expect(m.Properties!.Integration.TimeoutInMillis).toBe(635_000);
  });
});

describe('without context upstreams', () => {
  it('the one bedrock upstream (300 s at most) gets a reply function of 330 s and integrations of 335 s', () => {
    const s = synthKeygate();
    expect(functionByName(s, 'chatStream')[1].Properties!.Timeout).toBe(330);
    const streamMethods = ofType(s.resources, 'AWS::ApiGateway::Method').filter(([, m]) => m.Properties!.Integration?.ResponseTransferMode === 'STREAM');
    expect(streamMethods).toHaveLength(REPLY_ROUTES);
    for (const [, m] of streamMethods) expect(m.Properties!.Integration.TimeoutInMillis).toBe(335_000);
  }, SETUP_TIMEOUT_MS);
});

describe('context upstreamSecretKeys (customer-managed KMS keys of the upstream secrets)', () => {
  const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const kmsStatements = (s: Synthesized, name: string) => roleStatements(s, name).filter((st) => actions(st).some((a) => a.startsWith('kms:')));

  it('the reply function may kms:Decrypt with exactly those keys, only through Secrets Manager; no other function may', () => {
    const s = synthKeygate({ context: { upstreams: JSON.stringify(UPSTREAMS), upstreamSecretKeys: KEY } });
    const [statement, ...more] = kmsStatements(s, 'chatStream');
    expect(more).toEqual([]);
    expect(statement).toMatchObject({ Sid: 'UpstreamSecretKeys', Effect: 'Allow', Resource: KEY });
    expect(actions(statement!)).toEqual(['kms:Decrypt']);
    expect(JSON.stringify((statement as { Condition?: unknown }).Condition)).toContain('kms:ViaService');
    expect(JSON.stringify((statement as { Condition?: unknown }).Condition)).toContain('secretsmanager.');
    for (const name of ['publicApi', 'management', 'chatSession', 'authorizer', 'export', 'webhookDelivery']) expect(JSON.stringify(roleStatements(s, name))).not.toContain(KEY);
  }, SETUP_TIMEOUT_MS);

  it('without it, the reply function has no kms permission', () => {
    const s = synthKeygate({ context: { upstreams: JSON.stringify(UPSTREAMS) } });
    expect(kmsStatements(s, 'chatStream')).toEqual([]);
  }, SETUP_TIMEOUT_MS);

  it.each([
    ['an alias', { upstreams: JSON.stringify(UPSTREAMS), upstreamSecretKeys: 'arn:aws:kms:eu-west-1:123456789012:alias/keygate' }, /upstreamSecretKeys must be KMS key ARNs/],
    ['a bare key id', { upstreams: JSON.stringify(UPSTREAMS), upstreamSecretKeys: '["1234abcd-12ab-34cd-56ef-1234567890ab"]' }, /upstreamSecretKeys must be KMS key ARNs/],
    ['no upstream naming a secret', { upstreamSecretKeys: KEY }, /no upstream names a secret/],
  ])('%s fails the synth', (_label, context, message) => {
    expect(() => synthKeygate({ context })).toThrow(message);
  });
});

describe('bad context upstreams fail the synth', () => {
  it.each([
    ['an http:// URL', { a: { kind: 'http', url: 'http://agent.example.com', signingSecretName: 's' } }, /upstreams\.a\.url: must be https:\/\//],
    ['an inline API key', { a: { kind: 'openai', baseUrl: 'https://x.example.com', models: ['m'], apiKey: 'sk-1' } }, /upstreams\.a\.apiKey: .*use apiKeySecretName/],
  ])('%s', (_label, upstreams, message) => {
    expect(() => synthKeygate({ context: { upstreams: JSON.stringify(upstreams) } })).toThrow(message);
  });

  it('a defaultUpstream naming no upstream', () => {
    expect(() => synthKeygate({ context: { upstreams: { a: { kind: 'echo' } }, defaultUpstream: 'b' } })).toThrow(/Invalid CDK context upstreams\/defaultUpstream: defaultUpstream/);
  });

  it('the longest reply is capped below Lambda\'s limit', () => {
    expect(() => synthKeygate({ context: { upstreams: { a: { kind: 'echo', maxDurationSeconds: 841 } } } })).toThrow(/maxDurationSeconds/);
  });
});
