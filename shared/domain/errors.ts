// The contract's error catalogue (docs/api.md "Errors"). Every error the API returns, whether a
// handler, the local runtime or an API Gateway Gateway Response produces it, is built from here.

export const ERRORS = {
  VALIDATION_ERROR: { status: 400, error: 'validation_error', message: 'Request validation failed' },
  INVALID_API_KEY: { status: 401, error: 'unauthorized', message: 'Invalid or missing API key' },
  API_KEY_EXPIRED: { status: 401, error: 'unauthorized', message: 'API key has expired' },
  API_KEY_DISABLED: { status: 401, error: 'unauthorized', message: 'API key is disabled' },
  INVALID_TOKEN: { status: 401, error: 'unauthorized', message: 'Invalid or missing token' },
  SESSION_ENDED: { status: 401, error: 'unauthorized', message: 'Session has ended' },
  INSUFFICIENT_CREDITS: { status: 402, error: 'insufficient_credits', message: 'Organization has no credits left' },
  CORS_ORIGIN_NOT_ALLOWED: { status: 403, error: 'forbidden', message: 'Origin is not allowed for this API key' },
  INSUFFICIENT_PERMISSIONS: { status: 403, error: 'forbidden', message: 'API key does not have access to this resource' },
  NOT_FOUND: { status: 404, error: 'not_found', message: 'Resource not found' },
  CONFLICT: { status: 409, error: 'conflict', message: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, error: 'payload_too_large', message: 'Request body exceeds 64 KiB' },
  RATE_LIMIT_EXCEEDED: { status: 429, error: 'rate_limit_exceeded', message: 'Rate limit exceeded' },
  INTERNAL_ERROR: { status: 500, error: 'internal_error', message: 'Internal server error' },
  SERVICE_UNAVAILABLE: { status: 503, error: 'service_unavailable', message: 'A dependency is unavailable, try again shortly' },
} as const satisfies Record<string, { status: number; error: string; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Message used when a portal user's role (not a key's scope) is too weak. */
export const ROLE_TOO_WEAK = 'Your role in this organization does not allow this action';

export const MAX_BODY_BYTES = 64 * 1024;

export interface FieldIssue {
  field: string;
  message: string;
}

export interface ErrorBody {
  error: string;
  message: string;
  code: ErrorCode;
  details?: FieldIssue[];
  retry_after?: number;
  requestId?: string;
}

/** An error that maps to one row of the catalogue. Thrown by rules and handlers, rendered once. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly extra: Partial<Pick<ErrorBody, 'details' | 'retry_after' | 'requestId'>>;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string = ERRORS[code].message,
    extra: ApiError['extra'] = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.extra = extra;
    this.headers = headers;
  }

  toBody(): ErrorBody {
    return { error: ERRORS[this.code].error, message: this.message, code: this.code, ...this.extra };
  }
}

export function validationError(details: FieldIssue[], message?: string): ApiError {
  const summary = message ?? details.map((d) => `${d.field}: ${d.message}`).join('; ');
  return new ApiError('VALIDATION_ERROR', summary || ERRORS.VALIDATION_ERROR.message, { details });
}

/** `item`, or a 404 NOT_FOUND with `message` when there is none. */
export function orNotFound<T>(item: T | undefined, message: string): T {
  if (item === undefined) throw new ApiError('NOT_FOUND', message);
  return item;
}

export function errorBody(code: ErrorCode, message: string = ERRORS[code].message): ErrorBody {
  return { error: ERRORS[code].error, message, code };
}

/** A 429 for a per-resource allowance (invitations a day, webhook tests a minute): retry after `seconds`. */
export function retryLaterError(seconds: number): ApiError {
  const retryAfter = Math.max(1, Math.ceil(seconds));
  return new ApiError(
    'RATE_LIMIT_EXCEEDED',
    `Rate limit exceeded. Try again in ${retryAfter} seconds.`,
    { retry_after: retryAfter },
    { 'Retry-After': String(retryAfter) },
  );
}
