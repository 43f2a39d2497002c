// Metrics as the functions print them: CloudWatch embedded metric format (EMF) lines on stdout, in
// the Keygate namespace, with only low-cardinality dimensions (service, stage, outcome). Expected
// documents are written out from the EMF specification, not built by the code under test.
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  Object.assign(process.env, { POWERTOOLS_METRICS_DISABLED: 'false', STAGE: 'test' });
});

const { credits, messages } = await vi.hoisted(() => import('../support/reply-store-mocks.ts'));
vi.mock('../../shared/db/credits.ts', () => credits);
vi.mock('../../shared/db/messages.ts', () => messages);

import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { handler as authorizer } from '../../functions/authorizer.ts';
import { ReplyError, type ChatBackend } from '../../shared/chat/backend.ts';
import { guardedReply, setChatBackend } from '../../shared/chat/backends.ts';
import type { Upstream } from '../../shared/chat/upstreams.ts';
import { collectReply, pumpReply, startReply } from '../../shared/chat/reply.ts';
import { bufferSink } from '../../shared/chat/sse.ts';
import { generateKey, hashKey, keyIdFromHash } from '../../shared/domain/api-key.ts';
import { ApiError } from '../../shared/domain/errors.ts';
import { toAuthorizerContext } from '../../shared/domain/key-identity.ts';
import { createApiHandler } from '../../shared/http/pipeline.ts';
import { json } from '../../shared/http/response.ts';
import { emfDocument } from '../../shared/metrics/emf.ts';
import { recordWebhookDelivery } from '../../shared/metrics/emit.ts';

const written: string[] = [];
const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
  written.push(String(chunk));
  return true;
});
afterAll(() => stdout.mockRestore());
beforeEach(() => {
  written.length = 0;
  vi.clearAllMocks();
});

/** Every EMF document written since the test began, Timestamp checked and removed. */
function emfLines(): Record<string, unknown>[] {
  return written
    .join('')
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => {
      const doc = JSON.parse(line) as { _aws: { Timestamp: unknown } };
      expect(typeof doc._aws.Timestamp).toBe('number');
      const { Timestamp: _, ...aws } = doc._aws;
      return { ...doc, _aws: aws };
    });
}

const requests = (outcome: string) => ({
  _aws: {
    CloudWatchMetrics: [
      { Namespace: 'Keygate', Dimensions: [['service', 'stage', 'Outcome']], Metrics: [{ Name: 'Requests', Unit: 'Count' }] },
    ],
  },
  service: 'keygate',
  stage: 'test',
  Outcome: outcome,
  Requests: 1,
});

describe('the authorizer', () => {
  const dynamo = mockClient(DynamoDBClient);
  const future = new Date(Date.now() + 86_400_000).toISOString();
  const event = (headers: Record<string, string>) =>
    ({ type: 'REQUEST', methodArn: 'arn', resource: '/v1/auth/whoami', httpMethod: 'GET', headers, requestContext: { requestId: 'r1' } }) as unknown as APIGatewayRequestAuthorizerEvent;
  function storeKey(type: 'secret' | 'publishable', fields: Record<string, unknown> = {}): string {
    const key = generateKey(type);
    const keyHash = hashKey(key);
    dynamo.on(GetItemCommand).resolves({
      Item: marshall({
        id: keyIdFromHash(keyHash),
        keyHash,
        organizationId: 'org_1',
        type,
        status: 'active',
        expiresAt: future,
        allowedDomains: ['mysite.com'],
        scopes: ['chat'],
        orgLimits: { perMinute: 60, perDay: 1000 },
        ...fields,
      }),
    });
    return key;
  }

  it('writes the same EMF document as Powertools Metrics for the same metric', () => {
    const powertools = new Metrics({ namespace: 'Keygate', serviceName: 'keygate', defaultDimensions: { stage: 'test' } });
    powertools.addDimension('Outcome', 'invalid_key');
    powertools.addMetric('Requests', MetricUnit.Count, 1);
    powertools.publishStoredMetrics();
    const [fromPowertools] = emfLines();
    expect(fromPowertools).toEqual(requests('invalid_key'));
    const { _aws, ...rest } = emfDocument('Requests', 1, 'test', 'invalid_key', 1_700_000_000_000);
    expect({ ...rest, _aws: { CloudWatchMetrics: (_aws as { CloudWatchMetrics: unknown }).CloudWatchMetrics } }).toEqual(fromPowertools);
    expect((_aws as { Timestamp: number }).Timestamp).toBe(1_700_000_000_000);
  });

  it('counts missing, malformed and unknown keys as invalid_key, without a key or key id in the metric', async () => {
    dynamo.on(GetItemCommand).resolves({});
    const unknown = generateKey('secret');
    await expect(authorizer(event({}))).rejects.toThrow('Unauthorized');
    await expect(authorizer(event({ 'x-api-key': 'sk_short' }))).rejects.toThrow('Unauthorized');
    await expect(authorizer(event({ 'x-api-key': unknown }))).rejects.toThrow('Unauthorized');
    expect(emfLines()).toEqual([requests('invalid_key'), requests('invalid_key'), requests('invalid_key')]);
    expect(written.join('')).not.toContain(unknown);
    expect(written.join('')).not.toContain(keyIdFromHash(hashKey(unknown)));
  });

  it('counts a refused origin, an expired key, a disabled key and a missing scope by outcome', async () => {
    await authorizer(event({ 'x-api-key': storeKey('publishable'), origin: 'https://evil.example' }));
    await authorizer(event({ 'x-api-key': storeKey('secret', { expiresAt: '2020-01-01T00:00:00Z' }) }));
    await authorizer(event({ 'x-api-key': storeKey('secret', { status: 'disabled' }) }));
    await authorizer({ ...event({ 'x-api-key': storeKey('secret') }), resource: '/api/export' });
    expect(emfLines()).toEqual([requests('origin_refused'), requests('expired'), requests('disabled'), requests('forbidden')]);
  });

  it('writes nothing for a key it lets through (its function counts it)', async () => {
    const result = (await authorizer(event({ 'x-api-key': storeKey('secret') }))) as { policyDocument: { Statement: { Effect: string }[] } };
    expect(result.policyDocument.Statement[0]!.Effect).toBe('Allow');
    expect(emfLines()).toEqual([]);
  });
});

describe('the request pipeline', () => {
  const identity = {
    keyId: 'key_000000000000000000000001',
    organizationId: 'org_1',
    type: 'secret' as const,
    scopes: ['chat' as const],
    databaseId: null,
    origin: null,
    expiresAt: '2099-01-01T00:00:00Z',
    orgLimits: { perMinute: 60, perDay: 1000 },
    keyLimits: null,
    rejection: null,
  };
  const whoami = (rejection: string | null = null) =>
    ({
      httpMethod: 'GET',
      resource: '/v1/auth/whoami',
      path: '/v1/auth/whoami',
      headers: {},
      requestContext: { requestId: 'r2', authorizer: toAuthorizerContext({ ...identity, rejection: rejection as null }) },
    }) as unknown as APIGatewayProxyEvent;
  const admit = vi.fn(async () => ({ 'X-RateLimit-Limit': '60' }));
  const handlers = {
    'GET /v1/auth/whoami': vi.fn(async () => json(200, {})),
    'POST /v1/chat/sessions': async () => json(201, {}),
    'POST /v1/chat/voice-sessions': async () => json(201, {}),
    'GET /v1/models': async () => json(200, {}),
  };
  const handler = createApiHandler('publicApi', handlers, { admit });

  it('counts an admitted request once, whatever its handler answers', async () => {
    expect((await handler(whoami())).statusCode).toBe(200);
    handlers['GET /v1/auth/whoami'].mockRejectedValueOnce(new ApiError('NOT_FOUND'));
    expect((await handler(whoami())).statusCode).toBe(404);
    expect(emfLines()).toEqual([requests('admitted'), requests('admitted')]);
  });

  it('counts rate-limited and out-of-credit requests by outcome, never as admitted', async () => {
    admit.mockRejectedValueOnce(new ApiError('RATE_LIMIT_EXCEEDED'));
    expect((await handler(whoami())).statusCode).toBe(429);
    handlers['GET /v1/auth/whoami'].mockRejectedValueOnce(new ApiError('INSUFFICIENT_CREDITS'));
    expect((await handler(whoami())).statusCode).toBe(402);
    expect(emfLines()).toEqual([requests('rate_limited'), requests('no_credits')]);
  });

  it('does not count again what the authorizer already counted (an expired key)', async () => {
    expect((await handler(whoami('API_KEY_EXPIRED'))).statusCode).toBe(401);
    expect(emfLines()).toEqual([]);
  });
});

/** The per-upstream lines (tested below), besides a reply's own. */
const isUpstreamLine = (doc: Record<string, unknown>) => 'UpstreamCalls' in doc || 'UpstreamErrorsByKind' in doc;

describe('replies', () => {
  const backend = (deltas: string[], failAt?: number): ChatBackend => ({
    kind: 'scripted',
    async *reply() {
      for (let i = 0; i < deltas.length; i++) {
        if (i === failAt) throw new ReplyError('SERVICE_UNAVAILABLE', 'down');
        yield deltas[i]!;
      }
    },
  });
  const input = { organizationId: 'org_1', keyId: 'key_1', threadId: 'ses_1', isNewThread: false, content: 'Hi', ttl: 2_000_000_000, requestId: 'r3' };

  it('count a completed reply, its credit and its two timings in one document', async () => {
    setChatBackend(backend(['Hel', 'lo']));
    await collectReply(await startReply(input), 'r3');
    const [doc, ...more] = emfLines().filter((d) => !isUpstreamLine(d)) as Record<string, any>[];
    expect(more).toEqual([]);
    expect(doc!._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'Keygate',
        Dimensions: [['service', 'stage']],
        Metrics: [
          { Name: 'Replies', Unit: 'Count' },
          { Name: 'CreditsSpent', Unit: 'Count' },
          { Name: 'ReplyTimeToFirstDelta', Unit: 'Milliseconds' },
          { Name: 'ReplyTime', Unit: 'Milliseconds' },
        ],
      },
    ]);
    expect(doc).toMatchObject({ service: 'keygate', stage: 'test', Replies: 1, CreditsSpent: 1 });
    expect(doc!.ReplyTimeToFirstDelta).toBeGreaterThanOrEqual(0);
    expect(doc!.ReplyTime).toBeGreaterThanOrEqual(doc!.ReplyTimeToFirstDelta);
  });

  it('count a stream that fails after its first delta as a stream failure, and no reply', async () => {
    setChatBackend(backend(['Hel', 'lo', '!'], 1));
    const sink = bufferSink();
    await pumpReply(await startReply(input), sink);
    expect(sink.body()).toContain('event: error');
    expect(emfLines().filter((d) => !isUpstreamLine(d))).toEqual([
      {
        _aws: { CloudWatchMetrics: [{ Namespace: 'Keygate', Dimensions: [['service', 'stage']], Metrics: [{ Name: 'StreamFailures', Unit: 'Count' }] }] },
        service: 'keygate',
        stage: 'test',
        StreamFailures: 1,
      },
    ]);
  });
});

it('webhook deliveries are counted by result', () => {
  recordWebhookDelivery('dead_lettered');
  expect(emfLines()).toEqual([
    {
      _aws: { CloudWatchMetrics: [{ Namespace: 'Keygate', Dimensions: [['service', 'stage', 'Result']], Metrics: [{ Name: 'WebhookDeliveries', Unit: 'Count' }] }] },
      service: 'keygate',
      stage: 'test',
      Result: 'dead_lettered',
      WebhookDeliveries: 1,
    },
  ]);
});

it('the authorizer bundle holds no Powertools Metrics (its EMF line is hand-written: README "Operations")', async () => {
  const { build } = await import('esbuild');
  const { FUNCTION_BUILD } = await import('../../infra/constructs/keygate-function.ts');
  const result = await build({
    ...FUNCTION_BUILD,
    mainFields: [...FUNCTION_BUILD.mainFields],
    entryPoints: [new URL('../../functions/authorizer.ts', import.meta.url).pathname],
    outdir: 'out',
    bundle: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  expect(inputs.some((path) => path.includes('shared/metrics/emf.ts'))).toBe(true);
  expect(inputs.filter((path) => path.includes('@aws-lambda-powertools/metrics'))).toEqual([]);
});

describe('upstream calls', () => {
  const upstream: Upstream = { name: 'gpt', kind: 'openai', baseUrl: 'https://api.example.com/v1', models: ['m'], timeoutSeconds: 30, maxDurationSeconds: 300 };
  const request = {
    turns: [{ role: 'user' as const, content: 'Hi' }],
    assistant: { id: 'asst_1', name: 'Support', model: 'm', instructions: '', maxOutputTokens: 100, temperature: null },
    identity: { organizationId: 'org_1', keyId: 'key_1', keyType: 'secret' as const, databaseId: null, sessionId: null, conversationId: null, origin: null },
    signal: new AbortController().signal,
  };
  const drain = async (reply: AsyncGenerator<string, unknown>) => {
    for (;;) if ((await reply.next()).done) return;
  };
  const upstreamDims = [['service', 'stage', 'Upstream']];

  it('count a completed call by upstream (time to first byte, duration, tokens), the assistant and organization as properties only', async () => {
    const backend: ChatBackend = {
      kind: 'scripted',
      async *reply() {
        yield 'Hel';
        yield 'lo';
        return { inputTokens: 12, outputTokens: 2 };
      },
    };
    await drain(guardedReply(upstream, backend, request));
    const [doc, ...more] = emfLines() as Record<string, any>[];
    expect(more).toEqual([]);
    expect(doc!._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'Keygate',
        Dimensions: upstreamDims,
        Metrics: [
          { Name: 'UpstreamCalls', Unit: 'Count' },
          { Name: 'UpstreamDuration', Unit: 'Milliseconds' },
          { Name: 'UpstreamTimeToFirstByte', Unit: 'Milliseconds' },
          { Name: 'UpstreamInputTokens', Unit: 'Count' },
          { Name: 'UpstreamOutputTokens', Unit: 'Count' },
        ],
      },
    ]);
    expect(doc).toMatchObject({ service: 'keygate', stage: 'test', Upstream: 'gpt', UpstreamCalls: 1, UpstreamInputTokens: 12, UpstreamOutputTokens: 2, assistantId: 'asst_1', organizationId: 'org_1', upstreamKind: 'openai' });
    expect(doc!.UpstreamDuration).toBeGreaterThanOrEqual(doc!.UpstreamTimeToFirstByte);
  });

  it('count a failed call as an error by upstream, and by upstream and kind', async () => {
    const backend: ChatBackend = {
      kind: 'scripted',
      async *reply() {
        yield* [];
        throw new ReplyError('SERVICE_UNAVAILABLE', 'busy', { failure: 'rate_limited' });
      },
    };
    await expect(drain(guardedReply(upstream, backend, request))).rejects.toThrow(ReplyError);
    const [call, byKind, ...more] = emfLines() as Record<string, any>[];
    expect(more).toEqual([]);
    expect(call).toMatchObject({ Upstream: 'gpt', UpstreamCalls: 1, UpstreamErrors: 1, failure: 'rate_limited' });
    expect(call!.UpstreamTimeToFirstByte).toBeUndefined();
    expect(byKind!._aws.CloudWatchMetrics).toEqual([
      { Namespace: 'Keygate', Dimensions: [['service', 'stage', 'Upstream', 'Failure']], Metrics: [{ Name: 'UpstreamErrorsByKind', Unit: 'Count' }] },
    ]);
    expect(byKind).toMatchObject({ Upstream: 'gpt', Failure: 'rate_limited', UpstreamErrorsByKind: 1 });
  });

  it('count a first-byte timeout as a timeout error; a caller who goes away as a call, not an error', async () => {
    const silent: ChatBackend = {
      kind: 'silent',
      async *reply({ signal }) {
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      },
    };
    await expect(drain(guardedReply({ ...upstream, timeoutSeconds: 0.05 } as Upstream, silent, request))).rejects.toThrow(ReplyError);
    expect(emfLines().map((d) => d.Failure ?? d.failure)).toEqual(['timeout', 'timeout']);
    written.length = 0;
    const caller = new AbortController();
    const pending = drain(guardedReply(upstream, silent, { ...request, signal: caller.signal }));
    caller.abort();
    await pending;
    const [doc, ...more] = emfLines() as Record<string, any>[];
    expect(more).toEqual([]);
    expect(doc).toMatchObject({ UpstreamCalls: 1, failure: 'cancelled' });
    expect(doc!.UpstreamErrors).toBeUndefined();
  });
});
