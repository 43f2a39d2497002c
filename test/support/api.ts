// A local Keygate over the test DynamoDB Local, served on a free port, plus small HTTP helpers.
import { afterAll, inject } from 'vitest';
import { bootLocalKeygate, type LocalKeygate } from '../../infra/local/environment.ts';
import { checkAgainstApiDescription } from './api-description-check.ts';
import { TEST_STAGE } from './stage.ts';

/**
 * In the `bundles` test project (test/support/synth-setup.ts) the API serves the synthesized bundles.
 * Webhook events (stream pollers, sweep timer) are off: every test file shares the test stage's
 * tables, and each file's poller would deliver the others' events. Webhook tests pass their own
 * stage (fresh tables) and `webhookEvents: true`.
 */
export async function startTestApi(options: { stage?: string; webhookEvents?: boolean } = {}): Promise<LocalKeygate> {
  const bundled = inject('bundlesOutdir');
  return bootLocalKeygate({
    port: 0,
    inMemory: true,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    stage: options.stage ?? TEST_STAGE,
    webhookEvents: options.webhookEvents ?? false,
    ...(bundled ? { bundled } : {}),
  });
}

/**
 * The test file's own local API: started as the file loads (`const keygate = await fileTestApi();`
 * at the top level) and stopped after the file's tests.
 */
export async function fileTestApi(options: Parameters<typeof startTestApi>[0] = {}): Promise<LocalKeygate> {
  const keygate = await startTestApi(options);
  afterAll(async () => {
    await keygate.stop();
  });
  return keygate;
}

export interface TestApiWithUsers {
  keygate: LocalKeygate;
  owner: ApiClient;
  ownerId: string;
  /** A platform operator (group `operators`). */
  operator: ApiClient;
  operatorId: string;
}

/** `fileTestApi` with two fresh portal users: `<label>-owner` and the operator `<label>-operator`. */
export async function fileTestApiWithUsers(label: string): Promise<TestApiWithUsers> {
  const keygate = await fileTestApi();
  const ownerId = uniqueUser(`${label}-owner`);
  const operatorId = uniqueUser(`${label}-operator`);
  const [owner, operator] = await Promise.all([portalUser(keygate.url, ownerId), portalUser(keygate.url, operatorId, ['operators'])]);
  return { keygate, owner, ownerId, operator, operatorId };
}

export interface CallResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export class ApiClient {
  readonly base: string;
  readonly headers: Record<string, string>;

  constructor(base: string, headers: Record<string, string> = {}) {
    this.base = base;
    this.headers = headers;
  }

  with(headers: Record<string, string>): ApiClient {
    return new ApiClient(this.base, { ...this.headers, ...headers });
  }

  async call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<CallResult<T>> {
    const res = await fetch(this.base + path, {
      method,
      headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...this.headers, ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    await checkAgainstApiDescription(method, this.base + path, res.status, res.headers.get('content-type'), text);
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  get<T = any>(path: string, headers?: Record<string, string>) {
    return this.call<T>('GET', path, undefined, headers);
  }
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.call<T>('POST', path, body, headers);
  }
  patch<T = any>(path: string, body?: unknown) {
    return this.call<T>('PATCH', path, body);
  }
  put<T = any>(path: string, body?: unknown) {
    return this.call<T>('PUT', path, body);
  }
  delete<T = any>(path: string) {
    return this.call<T>('DELETE', path);
  }
}

/** A portal user's client: signs in through POST /_dev/token like a developer would. */
export async function portalUser(base: string, sub: string, groups: string[] = []): Promise<ApiClient> {
  const res = await new ApiClient(base).post<{ token: string }>('/_dev/token', { sub, groups });
  if (res.status !== 200) throw new Error(`dev token failed: ${res.text}`);
  return new ApiClient(base, { Authorization: `Bearer ${res.body.token}` });
}

/** Authorization headers that carry no token any route accepts, by what they are. */
export const NOT_A_TOKEN: [string, Record<string, string>][] = [
  ['no Authorization header', {}],
  ['a garbage token', { Authorization: 'Bearer not-a-jwt' }],
  ['a Basic header', { Authorization: 'Basic dXNlcjpwYXNz' }],
];

/** The body of the 401 for a missing or unusable token (session or portal). */
export const INVALID_TOKEN = { error: 'unauthorized', message: 'Invalid or missing token', code: 'INVALID_TOKEN' };

export function uniqueUser(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2, 10)}`;
}
