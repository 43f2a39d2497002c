// The local API: a plain Node HTTP server that serves the route table through the very functions
// Lambda runs (their sources in this process, or with --bundled their synthesized bundles, see
// bundles/runtime.ts). For each request it does what API Gateway does (route match, CORS preflight, the
// REQUEST authorizer, Gateway Responses) and then calls the function with a REST proxy event.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { JWK } from 'jose';
import { ApiError } from '../../shared/domain/errors.ts';
import { renderGatewayResponse, type GatewayResponseType, type RenderedResponse } from '../../shared/gateway-responses.ts';
import { preflightHeaders } from '../../shared/http/cors.ts';
import { errorResult } from '../../shared/http/response.ts';
import {
  AUTHORIZER_ENTRY,
  FUNCTION_ENTRIES,
  isBrowserFacing,
  matchRoute,
  routesOnPath,
  speaksOpenAi,
  type FunctionName,
  type RouteDefinition,
} from '../../shared/routes.ts';
import { replyFunctionTimeoutSeconds, upstreamConfig } from '../../shared/chat/upstreams.ts';
import { issueDevToken } from './dev-token.ts';
import { createLocalWeb, type WebResponse } from './web.ts';
import { buildProxyEvent, runAuthorizer, type AuthorizerFn, type IncomingRequest } from './gateway.ts';

/** API Gateway refuses bodies over 10 MB itself; the functions refuse over 64 KiB. */
const GATEWAY_MAX_BODY = 10 * 1024 * 1024;
const ROOT = resolve(import.meta.dirname, '../..');

type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
/** Streaming functions export this for the local runtime: write the response to `res`. */
export type LocalStreamHandler = (event: APIGatewayProxyEvent, res: ServerResponse, context: Context) => Promise<void>;

interface FunctionModule {
  handler: ProxyHandler;
  localStreamHandler?: LocalStreamHandler;
}

const modules = new Map<string, Promise<unknown>>();
function load<T>(entry: string): Promise<T> {
  if (!modules.has(entry)) modules.set(entry, import(pathToFileURL(resolve(ROOT, entry)).href));
  return modules.get(entry) as Promise<T>;
}

/** The deployed functions' timeouts as the local context reports them: the reply function's from the upstreams. */
function timeoutMs(name: string): number {
  return name === 'chatStream' ? replyFunctionTimeoutSeconds(upstreamConfig()) * 1000 : 30_000;
}

function lambdaContext(requestId: string, name: string): Context {
  const deadline = Date.now() + timeoutMs(name);
  return {
    awsRequestId: requestId,
    functionName: `keygate-local-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:keygate-local-${name}`,
    memoryLimitInMB: '512',
    logGroupName: `/aws/lambda/keygate-local-${name}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendGateway(res: ServerResponse, rendered: RenderedResponse): void {
  send(res, rendered.status, rendered.headers, rendered.body);
}

function gateway(res: ServerResponse, type: GatewayResponseType, requestId: string, origin?: string): void {
  sendGateway(res, renderGatewayResponse(type, { requestId, ...(origin ? { origin } : {}) }));
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > GATEWAY_MAX_BODY) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Every value of every header, as API Gateway's multiValueHeaders (Node would join some with ", "). */
function multiValueHeaders(req: IncomingMessage): Record<string, string[]> {
  return { ...req.headersDistinct } as Record<string, string[]>;
}

/** How the server runs the functions: the TypeScript sources in this process, or the synthesized bundles. */
export interface FunctionRuntime {
  authorize: AuthorizerFn;
  invoke(name: Exclude<FunctionName, 'dev'>, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult>;
  /** A streamed route: the response written to `res`. */
  stream(name: Exclude<FunctionName, 'dev'>, event: APIGatewayProxyEvent, res: ServerResponse): Promise<void>;
  close?(): Promise<void> | void;
}

/** The sources, imported into this process (what `npm start` and the tests run by default). */
export const sourceRuntime: FunctionRuntime = {
  authorize: async (event) => (await load<{ handler: AuthorizerFn }>(AUTHORIZER_ENTRY)).handler(event),
  async invoke(name, event) {
    const mod = await load<FunctionModule>(FUNCTION_ENTRIES[name]);
    return mod.handler(event, lambdaContext(event.requestContext.requestId, name));
  },
  async stream(name, event, res) {
    const mod = await load<FunctionModule>(FUNCTION_ENTRIES[name]);
    if (mod.localStreamHandler) return mod.localStreamHandler(event, res, lambdaContext(event.requestContext.requestId, name));
    const result = await mod.handler(event, lambdaContext(event.requestContext.requestId, name));
    send(res, result.statusCode, (result.headers ?? {}) as Record<string, string>, result.body);
  },
};

export interface LocalApiOptions {
  port: number;
  host?: string;
  /** Host names answered besides localhost, 127.0.0.1 and [::1] (default: KEYGATE_ALLOWED_HOSTS, comma-separated). */
  allowedHosts?: readonly string[];
  portalPrivateJwk: JWK;
  /** Default: the sources (sourceRuntime). */
  runtime?: FunctionRuntime;
  /** Default: the public half of portalPrivateJwk. */
  portalPublicJwk?: JWK;
}

export interface LocalApi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** The host name of a Host header (`localhost:3000` -> `localhost`, `[::1]:3000` -> `[::1]`), lowercased. */
function hostName(host: string): string {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  return name.toLowerCase();
}

/**
 * Whether the local server answers a request with this Host header: only loopback names (any port)
 * and the configured hosts, so a page on another name cannot reach it through DNS rebinding.
 */
export function isAllowedHost(host: string | undefined, extra: readonly string[] = []): boolean {
  if (!host) return false;
  const name = hostName(host.trim());
  return LOOPBACK_HOSTS.includes(name) || extra.some((allowed) => hostName(allowed.trim()) === name);
}

/** A private JWK without its private members (EC `d`; RSA `d`, `p`, `q`, `dp`, `dq`, `qi`). */
function publicHalf(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk;
  return rest;
}

export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  const runtime = options.runtime ?? sourceRuntime;
  const allowedHosts = options.allowedHosts ?? (process.env.KEYGATE_ALLOWED_HOSTS ?? '').split(',').filter((h) => h.trim() !== '');

  const web = createLocalWeb({
    privateJwk: options.portalPrivateJwk,
    publicJwk: options.portalPublicJwk ?? publicHalf(options.portalPrivateJwk),
    // The sign-in page signs users in through the local user directory, as POST /_dev/token registers them.
    // Loaded on first sign-in: it creates the DynamoDB client, which must see the runtime's endpoint.
    users: {
      signIn: async (email) => (await import('../../shared/users/local-directory.ts')).localUserDirectory().signIn(email),
    },
  });

  function sendWeb(res: ServerResponse, answer: WebResponse, method: string): void {
    res.writeHead(answer.status, { ...answer.headers, 'Content-Length': Buffer.byteLength(answer.body) });
    res.end(method === 'HEAD' ? undefined : answer.body);
  }

  async function invoke(route: RouteDefinition, event: APIGatewayProxyEvent, res: ServerResponse): Promise<void> {
    if (route.function === 'dev') {
      const result = await Promise.resolve()
        .then(() => issueDevToken(event.body ? JSON.parse(event.body) : undefined, options.portalPrivateJwk))
        .then(
        (body) => ({ statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
        (error: unknown) =>
          errorResult(
            error instanceof ApiError
              ? error
              : error instanceof SyntaxError
                ? new ApiError('VALIDATION_ERROR', 'Request body is not valid JSON')
                : new ApiError('INTERNAL_ERROR'),
          ),
      );
      send(res, result.statusCode, result.headers, result.body);
      return;
    }
    const name = route.function as Exclude<FunctionName, 'dev'>;
    if (route.stream) return runtime.stream(name, event, res);
    const result = await runtime.invoke(name, event);
    send(res, result.statusCode, (result.headers ?? {}) as Record<string, string>, result.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    if (!isAllowedHost(req.headers.host, allowedHosts)) {
      return send(res, 403, { 'Content-Type': 'text/plain; charset=utf-8' }, 'This local Keygate answers only Host localhost, 127.0.0.1 or [::1]\n');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const allHeaders = multiValueHeaders(req);
    // API Gateway's single-value `headers` hold the last value of a repeated header.
    const headers = Object.fromEntries(Object.entries(allHeaders).map(([k, v]) => [k, v[v.length - 1] ?? '']));
    const origin = headers.origin;
    let match: ReturnType<typeof matchRoute>;
    try {
      match = matchRoute(method, url.pathname);
    } catch {
      return gateway(res, 'MISSING_AUTHENTICATION_TOKEN', requestId, origin); // undecodable path
    }
    if (method === 'OPTIONS') {
      // As in the stack: an OPTIONS method only on paths with browser-facing routes, listing those.
      const browserFacing = routesOnPath(url.pathname).filter((r) => !r.localOnly && isBrowserFacing(r));
      if (browserFacing.length > 0) {
        const echoHeaders = browserFacing.some(speaksOpenAi) ? headers['access-control-request-headers'] : undefined;
        res.writeHead(204, preflightHeaders(origin, browserFacing.map((r) => r.method), echoHeaders)).end();
        return;
      }
      return gateway(res, 'MISSING_AUTHENTICATION_TOKEN', requestId, origin);
    }
    if (match.kind !== 'found') {
      // Not an API route: the portal, its config.json, or the stand-in sign-in (web.ts).
      const answer = await web({
        method,
        url,
        origin: `http://${headers.host ?? 'localhost'}`,
        headers,
        readBody: async () => {
          const raw = await readBody(req);
          return raw === 'too-large' ? '' : raw.toString('utf8');
        },
      });
      if (answer) return sendWeb(res, answer, method);
      return gateway(res, 'MISSING_AUTHENTICATION_TOKEN', requestId, origin);
    }
    const body = await readBody(req);
    if (body === 'too-large') {
      gateway(res, 'REQUEST_TOO_LARGE', requestId, origin);
      req.destroy();
      return;
    }
    const query: Record<string, string> = {};
    const multiValueQuery: Record<string, string[]> = {};
    for (const [name, value] of url.searchParams) {
      query[name] = value; // last one wins, as in API Gateway
      (multiValueQuery[name] ??= []).push(value);
    }
    const incoming: IncomingRequest = {
      method,
      path: url.pathname,
      headers,
      multiValueHeaders: allHeaders,
      query,
      multiValueQuery,
      body: body.byteLength ? body.toString('utf8') : null,
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    };
    const event = buildProxyEvent(incoming, match.route, match.params, requestId);
    if (match.route.auth === 'apiKey') {
      const verdict = await runAuthorizer(runtime.authorize, event, match.route);
      if (verdict.kind === 'respond') return sendGateway(res, verdict.response);
      event.requestContext.authorizer = verdict.context;
    }
    try {
      await invoke(match.route, event, res);
    } catch {
      // A function that throws is a Lambda error: API Gateway answers with INTEGRATION_FAILURE.
      if (!res.headersSent) gateway(res, 'INTEGRATION_FAILURE', requestId, origin);
      else res.destroy();
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) gateway(res, 'DEFAULT_5XX', randomUUID());
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolveListen());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://localhost:${port}`,
    server,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }).then(() => runtime.close?.()),
  };
}
