// Exit codes and the one error type the CLI reports (its message goes to stderr as is).
import { ApiError } from '../shared/domain/errors.ts';

export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** What went wrong talking to DynamoDB or AWS, in words an operator can act on. Never echoes input. */
export function describeFailure(error: unknown, target: string): CliError {
  if (error instanceof CliError) return error;
  // shared/db's own refusals: a cursor that is not one, a key revoked meanwhile.
  if (error instanceof ApiError) {
    return new CliError(error.message, error.code === 'NOT_FOUND' ? EXIT.notFound : error.status < 500 ? EXIT.usage : EXIT.failure);
  }
  const e = error as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === 'ResourceNotFoundException') {
    return new CliError(`a table is missing on ${target}: is it deployed, or the local runtime started?`, EXIT.failure);
  }
  if (code === 'ECONNREFUSED' || e.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    return new CliError(`cannot reach DynamoDB on ${target}`, EXIT.failure);
  }
  if (e.name === 'CredentialsProviderError') {
    return new CliError('no AWS credentials in the environment (AWS_PROFILE, AWS_ACCESS_KEY_ID, …)', EXIT.failure);
  }
  return new CliError(`${e.name ?? 'Error'} on ${target}: ${e.message ?? String(error)}`, EXIT.failure);
}
