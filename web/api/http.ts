// The one way web code (portal and widget) talks to the Keygate API: a fetch wrapper that turns
// every failure into an ApiClientError carrying the API's contract error (docs/api.md "Errors"),
// or NETWORK_ERROR when no answer came back. Callers render `message`; nothing fails silently.

export interface ApiErrorBody {
  error: string;
  message: string;
  code: string;
  details?: { field: string; message: string }[];
  retry_after?: number;
  requestId?: string;
}

export class ApiClientError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: ApiErrorBody | undefined;
  /** Seconds to wait, from `Retry-After` (429, 503) when the API sent it. */
  readonly retryAfter: number | undefined;

  constructor(status: number, code: string, message: string, body?: ApiErrorBody, retryAfter?: number) {
    super(message);
    this.name = 'ApiClientError';
    this.status = status;
    this.code = code;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as ApiErrorBody).code === 'string'
    && typeof (value as ApiErrorBody).message === 'string';
}

function retryAfterOf(response: Response, body: ApiErrorBody | undefined): number | undefined {
  const header = Number(response.headers.get('Retry-After'));
  if (Number.isFinite(header) && header > 0) return header;
  return body?.retry_after;
}

/**
 * `path` under `baseUrl`, keeping the base's own path: an API Gateway URL ends with its stage
 * (`https://…/prod/`), which `new URL('/v1/…', base)` would drop.
 */
export function apiUrl(baseUrl: string, path: string): URL {
  const base = new URL(baseUrl);
  const target = new URL(path, 'http://path.invalid/'); // splits the path from its query
  base.pathname = base.pathname.replace(/\/+$/, '') + target.pathname;
  base.search = target.search;
  return base;
}

/** Sends one request; resolves to the raw Response when it is 2xx, throws ApiClientError otherwise. */
export async function send(baseUrl: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(apiUrl(baseUrl, path), {
      method: options.method ?? 'GET',
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if ((error as Error)?.name === 'AbortError') throw error;
    throw new ApiClientError(0, 'NETWORK_ERROR', 'The API could not be reached. Check your connection and try again.');
  }
  if (response.ok) return response;
  let parsed: unknown;
  try {
    parsed = await response.json();
  } catch {
    parsed = undefined;
  }
  const errorBody = isErrorBody(parsed) ? parsed : undefined;
  throw new ApiClientError(
    response.status,
    errorBody?.code ?? `HTTP_${response.status}`,
    errorBody?.message ?? `The API answered ${response.status} ${response.statusText}`.trim(),
    errorBody,
    retryAfterOf(response, errorBody),
  );
}

/** JSON request: the parsed body of a 2xx answer (undefined for 204). */
export async function requestJson<T>(baseUrl: string, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(baseUrl, path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}
