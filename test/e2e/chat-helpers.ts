// Helpers for the chat API tests: an organization with keys made through the management API, and
// an SSE client that reads a message stream with a real SSE parser, timing each event as it arrives.
import { createParser } from 'eventsource-parser';
import { ApiClient, portalUser, uniqueUser } from '../support/api.ts';
import { checkAgainstApiDescription, checkStreamEvent } from '../support/api-description-check.ts';

export const APP_ORIGIN = 'https://app.example.com';

export interface TestOrg {
  id: string;
  owner: ApiClient;
  operator: ApiClient;
  /** A client carrying a fresh secret key of this org (all scopes unless given). */
  secretKey(scopes?: string[]): Promise<{ id: string; key: string; api: ApiClient }>;
  /** A client carrying a fresh publishable key allowed on app.example.com, sending that Origin. */
  publishableKey(): Promise<{ id: string; key: string; api: ApiClient }>;
  credits(): Promise<number>;
  setCredits(value: number): Promise<void>;
}

export async function createTestOrg(base: string, name: string): Promise<TestOrg> {
  const owner = await portalUser(base, uniqueUser('owner'));
  const operator = await portalUser(base, uniqueUser('operator'), ['operators']);
  const org = await owner.post('/v1/organizations', { name });
  if (org.status !== 201) throw new Error(`org: ${org.text}`);
  const id = org.body.id as string;
  // Generous limits so the tests measure behaviour, not the free plan's 10 requests a minute.
  await operator.patch(`/v1/organizations/${id}`, { plan: 'enterprise', limits: { perMinute: 10_000, perDay: 1_000_000 } });
  const makeKey = async (body: Record<string, unknown>, headers: Record<string, string>) => {
    const res = await owner.post(`/v1/organizations/${id}/api-keys`, body);
    if (res.status !== 201) throw new Error(`key: ${res.text}`);
    return { id: res.body.id as string, key: res.body.key as string, api: new ApiClient(base, { 'X-API-Key': res.body.key, ...headers }) };
  };
  const credits = async () => {
    const res = await owner.get(`/v1/organizations/${id}`);
    return res.body.credits as number;
  };
  return {
    id,
    owner,
    operator,
    secretKey: (scopes) => makeKey({ name: 'server', type: 'secret', ...(scopes ? { scopes } : {}) }, {}),
    publishableKey: () => makeKey({ name: 'widget', type: 'publishable', allowedDomains: ['app.example.com'] }, { Origin: APP_ORIGIN }),
    credits,
    async setCredits(value) {
      const current = await credits();
      if (current === value) return;
      const res = await operator.post(`/v1/organizations/${id}/credits`, { amount: value - current });
      if (res.status !== 200) throw new Error(`credits: ${res.text}`);
    },
  };
}

export interface TimedEvent {
  event: string;
  data: any;
  /** performance.now() when the chunk carrying the event arrived. */
  at: number;
}

export interface StreamResult {
  status: number;
  headers: Headers;
  /** Parsed events for a 200; the JSON error body otherwise. */
  events: TimedEvent[];
  body: any;
  /** Number of network chunks the body arrived in. */
  chunks: number;
  doneAt: number;
}

/** POST a message and read the answer, SSE or JSON, as it arrives. */
export async function postMessage(
  base: string,
  sessionId: string,
  token: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<StreamResult> {
  const res = await fetch(`${base}/v1/chat/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const events: TimedEvent[] = [];
  let now = 0;
  const parser = createParser({
    onEvent: (e) => events.push({ event: e.event ?? 'message', data: JSON.parse(e.data), at: now }),
  });
  const decoder = new TextDecoder();
  let text = '';
  let chunks = 0;
  for await (const chunk of res.body!) {
    now = performance.now();
    chunks++;
    const part = decoder.decode(chunk as Uint8Array, { stream: true });
    text += part;
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) parser.feed(part);
  }
  await checkAgainstApiDescription('POST', res.url, res.status, res.headers.get('content-type'), text);
  for (const e of events) await checkStreamEvent(e.event, JSON.stringify(e.data));
  let json: unknown;
  try {
    json = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, events, body: json, chunks, doneAt: performance.now() };
}

export function deltas(result: StreamResult): string[] {
  return result.events.filter((e) => e.event === 'message.delta').map((e) => e.data.content as string);
}
