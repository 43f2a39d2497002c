// Request shapes of the chat and export routes (zod; failures become VALIDATION_ERROR with details).
// Each is built on first use: a chat function parses one or two of them.
import * as z from 'zod';
import { CONVERSATION_ID, CONVERSATION_ID_RULE } from '../domain/conversations.ts';
import { ApiError, validationError } from '../domain/errors.ts';
import { intQuery, objectBody, lazySchema, parseInput } from '../domain/validation.ts';
import type { SessionMetadata } from '../db/sessions.ts';

/** Session metadata: a small flat JSON object, like Stripe's (keys and sizes capped). */
export const METADATA_MAX_KEYS = 50;
export const METADATA_MAX_KEY_LENGTH = 40;
export const METADATA_MAX_STRING = 500;
export const METADATA_MAX_BYTES = 8 * 1024;
/** A message's text. The 64 KiB body limit applies on top. */
export const CONTENT_MAX_CHARS = 32_000;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Metadata numbers are stored as DynamoDB numbers and must come back exactly: integers up to 2^53-1
 * in magnitude (beyond, a double is no longer the integer that was sent), decimals (always below
 * 2^53) down to DynamoDB's smallest magnitude, 1e-130. So 1e200 and 10000000000000000 are refused.
 */
const METADATA_NUMBER_RULE = `numbers must be integers of at most ${Number.MAX_SAFE_INTEGER} in magnitude, or decimals of at least 1e-130`;
const metadataNumber = () =>
  z.number().refine((n) => Number.isSafeInteger(n) || (Number.isFinite(n) && !Number.isInteger(n) && Math.abs(n) >= 1e-130), METADATA_NUMBER_RULE);

/**
 * Keys every JavaScript object already has: a consumer of the metadata could trip over them (and
 * `__proto__` is dropped by zod's record rather than refused), so they are refused from the raw body.
 */
const RESERVED_METADATA_KEYS = ['__proto__', 'constructor', 'prototype'];

function refuseReservedKeys(body: unknown): void {
  const metadata = (body as { metadata?: unknown } | null | undefined)?.metadata;
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return;
  const reserved = Object.keys(metadata).filter((k) => RESERVED_METADATA_KEYS.includes(k));
  if (reserved.length > 0) throw validationError(reserved.map((k) => ({ field: `metadata.${k}`, message: 'is a reserved name' })));
}

const metadataValue = () =>
  z.union(
    [
      z.string().max(METADATA_MAX_STRING, `must be at most ${METADATA_MAX_STRING} characters`),
      metadataNumber(),
      z.boolean(),
      z.null(),
    ],
    { error: 'must be a string, number, boolean or null' },
  );

const metadataKey = () =>
  z
    .string()
    .min(1, 'keys must not be empty')
    .max(METADATA_MAX_KEY_LENGTH, `keys must be at most ${METADATA_MAX_KEY_LENGTH} characters`)
    .refine((k) => !CONTROL_CHARS.test(k), 'keys must not contain control characters');

const metadataSchema = () =>
  z
    .record(metadataKey(), metadataValue(), {
      error: (issue) =>
        issue.code === 'invalid_key'
          ? `keys must be 1 to ${METADATA_MAX_KEY_LENGTH} characters without control characters`
          : 'must be a JSON object',
    })
    .refine((m) => Object.keys(m).length <= METADATA_MAX_KEYS, `must have at most ${METADATA_MAX_KEYS} keys`)
    .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, `must be at most ${METADATA_MAX_BYTES} bytes as JSON`);

/** The `assistant` a request names: an assistant id (`asst_…`) or name of the organization. */
const assistantRefSchema = () =>
  z
    .string({ error: 'must be a string (an assistant id or name)' })
    .trim()
    .min(1, 'must not be empty')
    .max(64, 'must be at most 64 characters');

export const createSessionBody = lazySchema(() => objectBody({ metadata: metadataSchema().optional(), assistant: assistantRefSchema().optional() }));

/** `POST /v1/chat/sessions` and `/v1/chat/voice-sessions`: the body is optional. */
export function parseCreateSession(body: unknown): { metadata: SessionMetadata | null; assistant?: string | undefined } {
  refuseReservedKeys(body);
  const parsed = parseInput(createSessionBody(), body ?? {});
  return { metadata: parsed.metadata ?? null, ...(parsed.assistant !== undefined ? { assistant: parsed.assistant } : {}) };
}

/** Message text: a non-blank string of well-formed Unicode (no lone surrogates), at most CONTENT_MAX_CHARS. */
export function contentSchema() {
  return z
    .string({ error: 'must be a string' })
    .max(CONTENT_MAX_CHARS, `must be at most ${CONTENT_MAX_CHARS} characters`)
    .refine((s) => s.trim() !== '', 'must not be empty')
    .refine((s) => s.isWellFormed(), 'must be well-formed Unicode');
}

export const sessionMessageBody = lazySchema(() => objectBody({ content: contentSchema() }));

export function parseSessionMessage(body: unknown): { content: string } {
  if (body === undefined) throw validationError([{ field: 'content', message: 'is required' }]);
  return parseInput(sessionMessageBody(), body);
}

export const oneShotBody = lazySchema(() =>
  objectBody({
    message: contentSchema(),
    conversation_id: z.string({ error: 'must be a string' }).regex(CONVERSATION_ID, CONVERSATION_ID_RULE).optional(),
    assistant: assistantRefSchema().optional(),
  }),
);

export function parseOneShot(body: unknown): { message: string; conversation_id?: string | undefined; assistant?: string | undefined } {
  if (body === undefined) throw validationError([{ field: 'message', message: 'is required' }]);
  return parseInput(oneShotBody(), body);
}

export const historyQuery = lazySchema(() =>
  z.object({
    limit: intQuery(1, 100, 50),
    cursor: z.string().max(512, 'is not a cursor this API returned').optional(),
  }),
);

/** Idempotency-Key header: 1..255 visible ASCII characters. */
export function idempotencyKey(headers: Record<string, string>): string | undefined {
  const value = headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new ApiError('VALIDATION_ERROR', 'Idempotency-Key: must be 1 to 255 visible ASCII characters', {
      details: [{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }],
    });
  }
  return value;
}
