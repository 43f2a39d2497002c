// The deployed chat upstreams (docs/upstreams.md): what serves replies, set at deploy time. The CDK
// app reads context `upstreams` and `defaultUpstream`, validates them with parseUpstreams and hands
// the result to the functions as KEYGATE_UPSTREAMS / KEYGATE_DEFAULT_UPSTREAM; the local runtime
// reads the same variables from the environment of `npm start`. Pure: no AWS or network here.
//
// AWS and local differ in two ways only: locally the secrets are written inline (`apiKey`,
// `signingSecret`) and http://localhost URLs are accepted; in AWS the secrets are Secrets Manager
// names (an inline secret would end up in the template) and every URL is https://.
import { DEFAULT_BEDROCK_MODEL } from './bedrock-model.ts';

export const UPSTREAM_KINDS = ['bedrock', 'openai', 'http', 'echo'] as const;
export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

export const DEFAULT_TIMEOUT_SECONDS = 30;
export const DEFAULT_MAX_DURATION_SECONDS = 300;
/** Lambda's own limit is 900 s: the rest is left for the function to stop, settle and answer. */
export const MAX_DURATION_LIMIT_SECONDS = 840;
/**
 * The reply function (every route that waits for a reply, on API Gateway's streaming integration)
 * runs this much longer than the longest maxDurationSeconds: to stop the upstream, store and settle
 * the turn, and end the response.
 */
export const REPLY_SETTLE_SECONDS = 30;
/** The reply function's timeout never goes below this (the echo and short upstreams). */
export const REPLY_FUNCTION_MIN_TIMEOUT_SECONDS = 120;
/** Lambda's 900 s less the 5 s the streaming integration waits beyond the function. */
export const REPLY_FUNCTION_MAX_TIMEOUT_SECONDS = 895;
/** The upstream is stopped this long before the function's own deadline, to settle and record the reply. */
export const REPLY_STOP_MARGIN_MS = 10_000;
/** Name of the only upstream a local runtime without KEYGATE_UPSTREAMS has. */
export const ECHO_UPSTREAM = 'echo';
/** Name of the only upstream a stack without context `upstreams` has. */
export const BEDROCK_UPSTREAM = 'bedrock';

export const UPSTREAMS_ENV = 'KEYGATE_UPSTREAMS';
export const DEFAULT_UPSTREAM_ENV = 'KEYGATE_DEFAULT_UPSTREAM';
/** Set (to 1) where the variables hold local settings: the local runtime, and the bundles it serves. */
export const UPSTREAMS_LOCAL_ENV = 'KEYGATE_UPSTREAMS_LOCAL';

interface Common {
  name: string;
  /** Seconds to wait for the upstream's first byte. */
  timeoutSeconds: number;
  /** Seconds the whole reply may take before it is cut. */
  maxDurationSeconds: number;
}

export interface BedrockUpstream extends Common {
  kind: 'bedrock';
  models: string[];
}

export interface OpenAIUpstream extends Common {
  kind: 'openai';
  /** Ends before `/chat/completions`, without a trailing slash. */
  baseUrl: string;
  models: string[];
  /** AWS: the Secrets Manager name or ARN of the API key (none: the endpoint needs no key). */
  apiKeySecretName?: string;
  /** Local runtime: the API key itself. */
  apiKey?: string;
}

export interface HttpUpstream extends Common {
  kind: 'http';
  url: string;
  /** AWS: the Secrets Manager name or ARN of the signing secret. */
  signingSecretName?: string;
  /** Local runtime: the signing secret itself. */
  signingSecret?: string;
}

export interface EchoUpstream extends Common {
  kind: 'echo';
}

export type Upstream = BedrockUpstream | OpenAIUpstream | HttpUpstream | EchoUpstream;

export interface UpstreamConfig {
  upstreams: Upstream[];
  /** The upstream new organizations' Default assistant uses. */
  defaultUpstream: string;
}

/** What the portal sees of an upstream (GET …/upstreams): never a URL or a secret. */
export interface UpstreamSummary {
  name: string;
  kind: UpstreamKind;
  models: string[];
}

export type UpstreamMode = 'aws' | 'local';

export class UpstreamConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamConfigError';
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$/;
const MODEL = /^[\x21-\x7e]{1,200}$/;
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1']);

const FIELDS: Record<UpstreamKind, Record<UpstreamMode, readonly string[]>> = {
  bedrock: { aws: ['models'], local: ['models'] },
  openai: { aws: ['baseUrl', 'apiKeySecretName', 'models'], local: ['baseUrl', 'apiKey', 'models'] },
  http: { aws: ['url', 'signingSecretName'], local: ['url', 'signingSecret'] },
  echo: { aws: [], local: [] },
};

/** Local inline secret field -> its AWS counterpart. */
const SECRET_NAMES: Record<string, string> = { apiKey: 'apiKeySecretName', signingSecret: 'signingSecretName' };

function fail(where: string, message: string): never {
  throw new UpstreamConfigError(`${where}: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function seconds(where: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    fail(where, `must be a whole number of seconds from 1 to ${max}`);
  }
  return value;
}

function text(where: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') fail(where, 'must be a non-empty string');
  return value.trim();
}

function models(where: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) fail(where, 'must be a non-empty array of model ids');
  const list = value.map((m, i) => {
    if (typeof m !== 'string' || !MODEL.test(m)) fail(`${where}[${i}]`, 'must be a model id (printable, no spaces)');
    return m;
  });
  if (new Set(list).size !== list.length) fail(where, 'lists a model twice');
  return list;
}

/** An upstream URL: https:// (or http://localhost and http://127.0.0.1 locally), no credentials, query or fragment. */
function endpoint(where: string, value: unknown, mode: UpstreamMode): string {
  const raw = text(where, value);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(where, 'must be an absolute URL');
  }
  if (url.username || url.password) fail(where, 'must not contain credentials (use the secret)');
  if (url.search || url.hash) fail(where, 'must not have a query or fragment');
  const local = mode === 'local' && url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !local) {
    fail(where, mode === 'local' ? 'must be https:// (or http://localhost, http://127.0.0.1 locally)' : 'must be https://');
  }
  return url.href.replace(/\/+$/, '');
}

function parseOne(name: string, raw: unknown, mode: UpstreamMode): Upstream {
  const where = `upstreams.${name}`;
  if (!NAME.test(name)) fail(where, 'the name must be 1..50 characters of A-Z a-z 0-9 . _ - starting with a letter or digit');
  if (!isObject(raw)) fail(where, 'must be an object');
  const kind = raw.kind;
  if (typeof kind !== 'string' || !(UPSTREAM_KINDS as readonly string[]).includes(kind)) {
    fail(`${where}.kind`, `must be one of ${UPSTREAM_KINDS.join(', ')}`);
  }
  const k = kind as UpstreamKind;
  const allowed = new Set(['kind', 'timeoutSeconds', 'maxDurationSeconds', ...FIELDS[k][mode]]);
  for (const field of Object.keys(raw)) {
    if (allowed.has(field)) continue;
    const hint =
      mode === 'aws' && field in SECRET_NAMES
        ? ` (secrets are Secrets Manager names in AWS: use ${SECRET_NAMES[field]})`
        : mode === 'local' && Object.values(SECRET_NAMES).includes(field)
          ? ` (locally the secret itself: use ${Object.keys(SECRET_NAMES).find((k) => SECRET_NAMES[k] === field)})`
          : '';
    fail(`${where}.${field}`, `is not a field of ${k === 'bedrock' ? 'a' : 'an'} ${k} upstream${hint}`);
  }
  const maxDurationSeconds = seconds(`${where}.maxDurationSeconds`, raw.maxDurationSeconds, DEFAULT_MAX_DURATION_SECONDS, MAX_DURATION_LIMIT_SECONDS);
  const timeoutSeconds = seconds(`${where}.timeoutSeconds`, raw.timeoutSeconds, DEFAULT_TIMEOUT_SECONDS, MAX_DURATION_LIMIT_SECONDS);
  if (timeoutSeconds > maxDurationSeconds) fail(`${where}.timeoutSeconds`, 'must not exceed maxDurationSeconds');
  const common = { name, timeoutSeconds, maxDurationSeconds };
  switch (k) {
    case 'bedrock':
      return { ...common, kind: k, models: models(`${where}.models`, raw.models) };
    case 'openai': {
      const upstream: OpenAIUpstream = {
        ...common,
        kind: k,
        baseUrl: endpoint(`${where}.baseUrl`, raw.baseUrl, mode),
        models: models(`${where}.models`, raw.models),
      };
      if (raw.apiKeySecretName !== undefined) upstream.apiKeySecretName = text(`${where}.apiKeySecretName`, raw.apiKeySecretName);
      if (raw.apiKey !== undefined) upstream.apiKey = text(`${where}.apiKey`, raw.apiKey);
      return upstream;
    }
    case 'http': {
      const upstream: HttpUpstream = { ...common, kind: k, url: endpoint(`${where}.url`, raw.url, mode) };
      if (mode === 'aws') upstream.signingSecretName = text(`${where}.signingSecretName`, raw.signingSecretName);
      else upstream.signingSecret = text(`${where}.signingSecret`, raw.signingSecret);
      return upstream;
    }
    case 'echo':
      return { ...common, kind: k };
  }
}

/** The configuration used when none is given: `echo` locally, one `bedrock` upstream in AWS. */
export function defaultUpstreamConfig(mode: UpstreamMode): UpstreamConfig {
  const common = { timeoutSeconds: DEFAULT_TIMEOUT_SECONDS, maxDurationSeconds: DEFAULT_MAX_DURATION_SECONDS };
  return mode === 'local'
    ? { upstreams: [{ ...common, name: ECHO_UPSTREAM, kind: 'echo' }], defaultUpstream: ECHO_UPSTREAM }
    : { upstreams: [{ ...common, name: BEDROCK_UPSTREAM, kind: 'bedrock', models: [DEFAULT_BEDROCK_MODEL] }], defaultUpstream: BEDROCK_UPSTREAM };
}

/**
 * Validate the `upstreams` object (name -> settings, in order) and `defaultUpstream` (default: the
 * first). Throws UpstreamConfigError naming the offending field; `undefined` upstreams gives the
 * mode's default configuration.
 */
export function parseUpstreams(upstreams: unknown, defaultUpstream: unknown, mode: UpstreamMode): UpstreamConfig {
  if (upstreams === undefined || upstreams === null || upstreams === '') {
    const fallback = defaultUpstreamConfig(mode);
    if (defaultUpstream !== undefined && defaultUpstream !== '' && defaultUpstream !== fallback.defaultUpstream) {
      fail('defaultUpstream', `names no upstream (without upstreams the only one is "${fallback.defaultUpstream}")`);
    }
    return fallback;
  }
  let raw = upstreams;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      fail('upstreams', 'is not valid JSON');
    }
  }
  if (!isObject(raw)) fail('upstreams', 'must be an object from a name to an upstream');
  const list = Object.entries(raw).map(([name, value]) => parseOne(name, value, mode));
  if (list.length === 0) fail('upstreams', 'must name at least one upstream');
  let chosen = list[0]!.name;
  if (defaultUpstream !== undefined && defaultUpstream !== '') {
    if (typeof defaultUpstream !== 'string' || !list.some((u) => u.name === defaultUpstream)) {
      fail('defaultUpstream', `must name one of the upstreams (${list.map((u) => u.name).join(', ')})`);
    }
    chosen = defaultUpstream;
  }
  return { upstreams: list, defaultUpstream: chosen };
}

/** The reply function's timeout in seconds: above every upstream's maxDurationSeconds by REPLY_SETTLE_SECONDS. */
export function replyFunctionTimeoutSeconds(config: UpstreamConfig): number {
  const longest = Math.max(...config.upstreams.map((u) => u.maxDurationSeconds));
  return Math.min(REPLY_FUNCTION_MAX_TIMEOUT_SECONDS, Math.max(REPLY_FUNCTION_MIN_TIMEOUT_SECONDS, longest + REPLY_SETTLE_SECONDS));
}

/**
 * Epoch ms by which a reply's upstream must have stopped, from the invocation's remaining time (the
 * Lambda context's getRemainingTimeInMillis): the deadline less REPLY_STOP_MARGIN_MS.
 */
export function replyStopBy(remainingMs: number, now: number = Date.now()): number {
  return now + remainingMs - REPLY_STOP_MARGIN_MS;
}

/** The upstreams as the environment variables the functions read (secrets by name only in AWS). */
export function upstreamEnvironment(config: UpstreamConfig): Record<string, string> {
  const object = Object.fromEntries(config.upstreams.map(({ name, ...rest }) => [name, rest]));
  return { [UPSTREAMS_ENV]: JSON.stringify(object), [DEFAULT_UPSTREAM_ENV]: config.defaultUpstream };
}

let cached: { source: string; config: UpstreamConfig } | undefined;

/**
 * This process's upstreams, from KEYGATE_UPSTREAMS and KEYGATE_DEFAULT_UPSTREAM. The local runtime
 * (KEYGATE_LOCAL_RUNTIME=1) and its bundles (KEYGATE_UPSTREAMS_LOCAL=1) read them in local mode;
 * anywhere else they are AWS settings. Parsed once per distinct value.
 */
export function upstreamConfig(env: NodeJS.ProcessEnv = process.env): UpstreamConfig {
  const mode: UpstreamMode = env.KEYGATE_LOCAL_RUNTIME === '1' || env[UPSTREAMS_LOCAL_ENV] === '1' ? 'local' : 'aws';
  const source = `${mode}\n${env.BEDROCK_MODEL_ID ?? ''}\n${env[DEFAULT_UPSTREAM_ENV] ?? ''}\n${env[UPSTREAMS_ENV] ?? ''}`;
  if (cached?.source !== source) {
    // A stack that sets no upstreams names its one Bedrock model (BEDROCK_MODEL_ID, the model its IAM grants).
    const bedrockModel = env.BEDROCK_MODEL_ID;
    const legacy = mode === 'aws' && !env[UPSTREAMS_ENV] && bedrockModel ? { [BEDROCK_UPSTREAM]: { kind: 'bedrock', models: [bedrockModel] } } : undefined;
    cached = { source, config: parseUpstreams(legacy ?? env[UPSTREAMS_ENV], env[DEFAULT_UPSTREAM_ENV], mode) };
  }
  return cached.config;
}

export function summarize(upstream: Upstream): UpstreamSummary {
  return { name: upstream.name, kind: upstream.kind, models: upstream.kind === 'bedrock' || upstream.kind === 'openai' ? [...upstream.models] : [] };
}

/** `{name, kind, models}` of every deployed upstream, in configuration order. */
export function listUpstreams(env: NodeJS.ProcessEnv = process.env): UpstreamSummary[] {
  return upstreamConfig(env).upstreams.map(summarize);
}

/** The name of the upstream new organizations start on. */
export function defaultUpstreamName(env: NodeJS.ProcessEnv = process.env): string {
  return upstreamConfig(env).defaultUpstream;
}

/** The deployed upstream called `name`, or undefined. */
export function findUpstream(name: string, env: NodeJS.ProcessEnv = process.env): Upstream | undefined {
  return upstreamConfig(env).upstreams.find((u) => u.name === name);
}
