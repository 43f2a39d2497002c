// Building API Gateway proxy results. Handlers return these; the pipeline adds CORS and limit headers.
import type { Writable } from 'node:stream';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { ApiError } from '../domain/errors.ts';

export type HttpResult = APIGatewayProxyResult & { headers: Record<string, string> };

/**
 * A response whose body is written as it is produced (the reply routes, on API Gateway's streaming
 * integration): status and headers go out first, then `write` writes the body to `out` and ends it.
 */
export interface StreamedResult {
  statusCode: number;
  headers: Record<string, string>;
  write(out: Writable): Promise<void>;
}

export function isStreamed(result: HttpResult | StreamedResult): result is StreamedResult {
  return typeof (result as Partial<StreamedResult>).write === 'function';
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

export function noContent(headers: Record<string, string> = {}): HttpResult {
  return { statusCode: 204, headers, body: '' };
}

export function text(statusCode: number, contentType: string, body: string): HttpResult {
  return { statusCode, headers: { 'Content-Type': contentType }, body };
}

export function errorResult(error: ApiError): HttpResult {
  return json(error.status, error.toBody(), error.headers);
}
