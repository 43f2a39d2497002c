// Structured JSON logs (Powertools Logger). Log ids, codes and error names; never keys, tokens,
// request bodies or headers: that is how secrets stay out of CloudWatch.
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'keygate',
  logLevel: (process.env.LOG_LEVEL as 'INFO' | 'DEBUG' | 'WARN' | 'ERROR' | 'SILENT' | undefined) ?? 'INFO',
});

/** The parts of an error that are safe to log (no request data). */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message.slice(0, 300) };
  return { name: typeof error, message: 'non-Error thrown' };
}
