// GET /openapi.json (docs/api.md "API description"): an OpenAPI 3.1 document generated from the route
// table, the zod schemas the handlers validate with (requests) and the response schemas the
// end-to-end suite holds every real response to. Nothing in it is written twice by hand.
import * as z from 'zod';
import { ERRORS, type ErrorCode } from '../domain/errors.ts';
import { ROUTES, routeKey, speaksOpenAi, type AuthKind, type RouteDefinition } from '../routes.ts';
import { OPERATIONS, type Operation } from './operations.ts';
import { componentNotes, components, ErrorBody, exampleOf, OpenAiError } from './schemas.ts';

type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = Record<string, any>;

const SCHEMA_REF = '#/components/schemas/';

/** Errors every route of an auth kind can answer, whatever its handler does. */
const ERRORS_BY_AUTH: Record<AuthKind, readonly ErrorCode[]> = {
  portal: ['VALIDATION_ERROR', 'INVALID_TOKEN', 'INSUFFICIENT_PERMISSIONS', 'NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'],
  apiKey: [
    'VALIDATION_ERROR',
    'INVALID_API_KEY',
    'API_KEY_EXPIRED',
    'API_KEY_DISABLED',
    'CORS_ORIGIN_NOT_ALLOWED',
    'INSUFFICIENT_PERMISSIONS',
    'NOT_FOUND',
    'PAYLOAD_TOO_LARGE',
    'RATE_LIMIT_EXCEEDED',
    'INTERNAL_ERROR',
    'SERVICE_UNAVAILABLE',
  ],
  session: [
    'VALIDATION_ERROR',
    'INVALID_TOKEN',
    'SESSION_ENDED',
    'CORS_ORIGIN_NOT_ALLOWED',
    'NOT_FOUND',
    'PAYLOAD_TOO_LARGE',
    'RATE_LIMIT_EXCEEDED',
    'INTERNAL_ERROR',
    'SERVICE_UNAVAILABLE',
  ],
  public: ['NOT_FOUND', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'],
  none: ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'INTERNAL_ERROR'],
};

const SECURITY: Record<AuthKind, Record<string, string[]>[]> = {
  portal: [{ PortalToken: [] }],
  apiKey: [{ ApiKeyHeader: [] }, { ApiKeyBearer: [] }],
  session: [{ SessionToken: [] }],
  public: [],
  none: [],
};

const SECURITY_SCHEMES = {
  PortalToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'A user-pool token (Cognito in AWS, the stand-in sign-in locally): `sub` is the user id, `cognito:groups` containing `operators` marks a platform operator.',
  },
  ApiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A secret (`sk_…`) or publishable (`pk_…`) key.' },
  ApiKeyBearer: { type: 'http', scheme: 'bearer', description: 'The API key as `Authorization: Bearer <key>`.' },
  SessionToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The `token` returned when the session was created; bound to the Origin it was created from for publishable keys.',
  },
};

const RATE_HEADERS = {
  'X-RateLimit-Limit': { description: 'Limit of the window with the fewest requests remaining', schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { description: 'Requests left in that window', schema: { type: 'integer' } },
  'X-RateLimit-Reset': { description: 'Unix seconds when that window resets', schema: { type: 'integer' } },
};
/** OpenAI's names for the same window, beside X-RateLimit-* on the OpenAI-compatible routes. */
const OPENAI_RATE_HEADERS = {
  'x-ratelimit-limit-requests': { description: 'OpenAI\'s name for X-RateLimit-Limit', schema: { type: 'integer' } },
  'x-ratelimit-remaining-requests': { description: 'OpenAI\'s name for X-RateLimit-Remaining', schema: { type: 'integer' } },
  'x-ratelimit-reset-requests': { description: 'Time until that window resets, as a duration (`12s`)', schema: { type: 'string', pattern: '^[0-9]+s$' } },
  // Where a token limit applies (tokensPerMinute, tokensPerDay): the token window with the fewest left.
  'x-ratelimit-limit-tokens': { description: 'Where a token limit applies: the limit of the token window with the fewest tokens left', schema: { type: 'integer' } },
  'x-ratelimit-remaining-tokens': { description: 'Tokens left in that window (after this reply\'s hold)', schema: { type: 'integer' } },
  'x-ratelimit-reset-tokens': { description: 'Time until that window resets, as a duration (`12s`)', schema: { type: 'string', pattern: '^[0-9]+s$' } },
};

function rateHeaders(route: RouteDefinition): Record<string, unknown> {
  return speaksOpenAi(route) ? { ...RATE_HEADERS, ...OPENAI_RATE_HEADERS } : RATE_HEADERS;
}
const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } };
const REPLAYED = {
  'Idempotent-Replayed': {
    description: '`true` when this is the stored reply of an earlier request with the same Idempotency-Key (nothing was charged)',
    schema: { type: 'string', enum: ['true'] },
  },
};

/** JSON Schema of a request-side zod schema (what a client may send), ready to embed. */
function inputSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

function componentRef(schema: z.ZodType): JsonSchema {
  const id = components.get(schema)?.id;
  if (!id) throw new Error('Response schemas must be registered in shared/api-description/schemas.ts');
  return { $ref: SCHEMA_REF + id };
}

/** Example values of path parameters, by name; another `{xId}` gets an id-shaped example. */
const PATH_EXAMPLES: Record<string, string> = {
  orgId: 'org_7Hq2LwX9aPz4Kd1Rt5Vb',
  keyId: 'key_3Fs8NmQ2cYw6Jp0Lx4Ge',
  userId: 'user-2f8c1a',
  webhookId: 'wh_5Tg7Yh9Uj1Ik3Ol5Pz7X',
  sessionId: 'conv-9bW2kQ7xN4',
  databaseId: 'db_1Qa2Ws3Ed4Rf5Tg6Yh7U',
  assistantId: 'asst_4fGh7JkLmN2pQrStUvWx',
};

function counted(route: RouteDefinition): boolean {
  return route.auth === 'apiKey' || route.auth === 'session';
}

function parameters(route: RouteDefinition, op: Operation): JsonSchema[] {
  const out: JsonSchema[] = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string', minLength: 1, maxLength: 128 },
    example: PATH_EXAMPLES[m[1]!] ?? `${m[1]!.replace(/Id$/, '')}_4Rf6Tg8Yh0Uj2Ik4Ol6P`,
  }));
  if (op.query) {
    const schema = inputSchema(op.query) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      const { description, ...rest } = property;
      out.push({ name, in: 'query', required: schema.required?.includes(name) ?? false, schema: rest, ...(description ? { description } : {}) });
    }
  }
  if (route.auth === 'apiKey') {
    out.push({
      name: 'X-Database-Id',
      in: 'header',
      required: false,
      description: 'The database a request is about (also `?databaseId=`); a key scoped to another database gets 403',
      schema: { type: 'string' },
    });
  }
  if (op.idempotent) {
    out.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: 'Retry safely: scoped to the API key (and session), a repeat returns the original reply and charges nothing more',
      schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
    });
  }
  return out;
}

/**
 * OpenAI's error body on the OpenAI-compatible routes; where API Gateway or the WAF may answer on
 * their own (a body over 10 MB, throttling, their failures), their usual body instead.
 */
function openAiErrorSchema(status: number, list: readonly ErrorCode[]): JsonSchema {
  const openAi = { allOf: [componentRef(OpenAiError), { properties: { error: { properties: { code: { enum: list } } } } }] };
  if (![413, 429, 500, 503].includes(status)) return openAi;
  return { anyOf: [openAi, { allOf: [componentRef(ErrorBody), { properties: { code: { enum: list } } }] }] };
}

function errorResponses(route: RouteDefinition, op: Operation): Record<string, JsonSchema> {
  const codes = new Set<ErrorCode>([...ERRORS_BY_AUTH[route.auth], ...((op.errors ?? []) as ErrorCode[])]);
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    if (!codes.has(code)) continue;
    const status = ERRORS[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, JsonSchema> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const headers = {
      ...(counted(route) && status !== 500 && status !== 503 ? rateHeaders(route) : {}),
      // 409 on a reply request: its Idempotency-Key is still in progress (Retry-After: 1).
      ...(status === 429 || status === 503 || (status === 409 && op.idempotent) ? RETRY_AFTER : {}),
    };
    out[String(status)] = {
      description: list.map((code) => `\`${code}\`: ${ERRORS[code].message}`).join('; '),
      ...(Object.keys(headers).length ? { headers } : {}),
      content: {
        'application/json': {
          schema: speaksOpenAi(route) ? openAiErrorSchema(status, list) : { allOf: [componentRef(ErrorBody), { properties: { code: { enum: list } } }] },
        },
      },
    };
  }
  return out;
}

function operation(route: RouteDefinition, op: Operation): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  for (const success of op.responses) {
    const key = String(success.status);
    const content = success.schema
      ? { 'application/json': { schema: componentRef(success.schema), example: exampleOf(success.schema) } }
      : success.mediaType
        ? {
            [success.mediaType]: {
              schema: { type: 'string' },
              ...(success.example !== undefined ? { example: success.example } : {}),
              // The JSON `data` of each Server-Sent Event, by event name (OpenAPI 3.1 has no keyword for it).
              ...(success.events
                ? { 'x-events': Object.fromEntries(Object.entries(success.events).map(([name, schema]) => [name, componentRef(schema)])) }
                : {}),
            },
          }
        : undefined;
    const existing = responses[key] as { description: string; content?: Record<string, unknown> } | undefined;
    responses[key] = {
      description: existing ? `${existing.description}; ${success.description}` : success.description,
      ...(counted(route) || op.idempotent ? { headers: { ...(counted(route) ? rateHeaders(route) : {}), ...(op.idempotent ? REPLAYED : {}) } } : {}),
      ...(content || existing?.content ? { content: { ...existing?.content, ...content } } : {}),
    };
  }
  Object.assign(responses, errorResponses(route, op));
  const body = op.body ? inputSchema(op.body) : undefined;
  return {
    operationId: operationId(route),
    summary: op.summary,
    description: op.description,
    tags: [op.tag],
    security: SECURITY[route.auth],
    parameters: parameters(route, op),
    ...(body
      ? {
          requestBody: {
            required: !op.bodyOptional,
            content: { 'application/json': { schema: body, ...(op.bodyExample !== undefined ? { example: op.bodyExample } : {}) } },
          },
        }
      : {}),
    responses,
  };
}

/** `POST /v1/organizations/{orgId}/api-keys` -> `post_v1_organizations_orgId_api_keys`. */
function operationId(route: RouteDefinition): string {
  return `${route.method.toLowerCase()}${route.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '_')}`.replace(/_$/, '');
}

/** The component names `paths` references, directly or through other components. */
function referencedComponents(paths: unknown, schemas: Record<string, JsonSchema>): Set<string> {
  const found = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === '$ref' && typeof inner === 'string' && inner.startsWith(SCHEMA_REF)) {
          const id = inner.slice(SCHEMA_REF.length);
          if (!found.has(id)) {
            found.add(id);
            visit(schemas[id]);
          }
        } else visit(inner);
      }
    }
  };
  visit(paths);
  return found;
}

export interface DescriptionOptions {
  /** Include local-runtime-only routes (POST /_dev/token). */
  includeLocalOnly: boolean;
}

/** Looked up by a route's key; the compiler already checks that OPERATIONS has every route. */
const operations: Partial<Record<string, Operation>> = OPERATIONS;

/** The whole document; throws if a route has no entry in OPERATIONS. */
export function buildApiDescription(options: DescriptionOptions): OpenApiDocument {
  const missing = ROUTES.filter((r) => !operations[routeKey(r)]).map(routeKey);
  if (missing.length) {
    throw new Error(`Describe these routes in shared/api-description/operations.ts: ${missing.join(', ')}`);
  }
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ROUTES) {
    if (route.localOnly && !options.includeLocalOnly) continue;
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route, operations[routeKey(route)]!);
  }
  const { schemas } = z.toJSONSchema(components, { uri: (id) => SCHEMA_REF + id, target: 'draft-2020-12', io: 'output' }) as {
    schemas: Record<string, JsonSchema>;
  };
  // No `$id`: the components are addressed by their place in this document, and a `$id` ending in
  // a fragment is invalid JSON Schema 2020-12.
  for (const [id, schema] of Object.entries(schemas)) {
    delete schema.$schema;
    delete schema.$id;
    const notes = componentNotes.get(id);
    if (notes) Object.assign(schema, { description: notes.description, examples: [notes.example] });
  }
  // Only the components the listed operations use (DevToken is the local-only route's).
  const used = referencedComponents(paths, schemas);
  for (const id of Object.keys(schemas)) if (!used.has(id)) delete schemas[id];
  return {
    openapi: '3.1.1',
    info: {
      title: 'Keygate API',
      version: '1.0.0',
      description:
        'API keys in front of a chat API: organizations, secret and publishable keys, rate limits, credits, chat sessions with streamed replies, OpenAI-compatible chat completions, and data export. Every error is `{error, message, code}`, except on the OpenAI-compatible routes, which answer OpenAI\'s `{error:{message,type,param,code}}`.',
      contact: { name: 'The operators of this Keygate deployment' },
    },
    servers: [{ url: '/', description: 'This deployment' }],
    tags: [...new Set(Object.values(OPERATIONS).map((op) => op.tag))].map((name) => ({ name })),
    paths,
    components: { schemas, securitySchemes: SECURITY_SCHEMES },
  };
}
