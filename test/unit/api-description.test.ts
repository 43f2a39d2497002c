// GET /openapi.json as tools read it: Spectral's plain `spectral:oas` ruleset finds nothing, every
// component schema compiles in Ajv's JSON Schema 2020-12 mode (default, strict options) and its example matches it, numeric
// query parameters are integers, bodies are typed, and every operation has a description and examples.
// A route added to the table without them fails here (and `description` is required by the compiler).
import spectralCore from '@stoplight/spectral-core';
import spectralParsers from '@stoplight/spectral-parsers';
import { oas } from '@stoplight/spectral-rulesets';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { buildApiDescription, type OpenApiDocument } from '../../shared/api-description/document.ts';

const { Spectral, Document } = spectralCore;
type Json = Record<string, any>;

const deployed = buildApiDescription({ includeLocalOnly: false });
const local = buildApiDescription({ includeLocalOnly: true });

function operations(doc: OpenApiDocument): { key: string; op: Json }[] {
  return Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
  );
}

/**
 * An Ajv in 2020-12 mode with its default (strict) options, holding the document as `openapi.json`, so a schema in it compiles
 * by its JSON pointer and its `#/components/schemas/…` references resolve. The document's own
 * top-level fields are declared as keywords: they hold no JSON Schema of their own.
 */
function ajvFor(doc: OpenApiDocument) {
  const ajv = new Ajv2020({ allErrors: true });
  addFormats.default(ajv);
  for (const field of Object.keys(doc)) ajv.addKeyword(field);
  ajv.addSchema(doc, 'openapi.json');
  return ajv;
}

const pointer = (...segments: string[]) => segments.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

describe.each([
  ['deployed', deployed],
  ['local (with POST /_dev/token)', local],
])('the %s API description', (_name, doc) => {
  it('has no error, warning or hint from Spectral with the spectral:oas ruleset', async () => {
    const spectral = new Spectral();
    spectral.setRuleset({ extends: [oas] } as never);
    const results = await spectral.run(new Document(JSON.stringify(doc), spectralParsers.Json));
    expect(results.map((r) => `${r.code} at ${r.path.join('.')}: ${r.message}`)).toEqual([]);
  });

  it('names a contact', () => {
    expect(doc.info.contact).toEqual({ name: expect.any(String) });
  });
});

describe('component schemas', () => {
  const schemas = local.components.schemas as Record<string, Json>;

  it('carry no $id (a $id with a fragment is invalid JSON Schema 2020-12)', () => {
    expect(JSON.stringify(schemas)).not.toContain('"$id"');
  });

  it.each(Object.keys(schemas))('%s compiles on its own in Ajv 2020-12 mode, and its example matches it', (name) => {
    const schema = schemas[name]!;
    const validate = ajvFor(local).compile({ $ref: `openapi.json#/components/schemas/${name}` });
    expect(schema.description).toEqual(expect.any(String));
    expect(schema.examples).toHaveLength(1);
    expect(validate(schema.examples[0]), JSON.stringify(validate.errors)).toBe(true);
    // Compiled as a standalone schema too: the keywords are JSON Schema's (refs stubbed, they are checked above).
    const standalone = JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\/components\/schemas\/\w+"/g, '"type":"object"'));
    expect(() => new Ajv2020({ validateFormats: false }).compile(standalone)).not.toThrow();
  });
});

describe('operations', () => {
  it.each(operations(local).map(({ key, op }) => [key, op] as const))('%s: a description, and examples for its body, responses and path', (key, op) => {
    expect(op.summary).toEqual(expect.any(String));
    expect(op.description).toEqual(expect.any(String));
    expect(op.description.length).toBeGreaterThan(op.summary.length / 2);
    const ajv = ajvFor(local);
    const [method, path] = key.split(' ') as [string, string];
    const at = (...rest: string[]) => ajv.compile({ $ref: `openapi.json#/${pointer('paths', path, method.toLowerCase(), ...rest)}` });
    const body = op.requestBody?.content?.['application/json'];
    if (body) {
      expect(body.example, 'request body example').toBeDefined();
      const validate = at('requestBody', 'content', 'application/json', 'schema');
      expect(validate(body.example), JSON.stringify(validate.errors)).toBe(true);
    }
    for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
      if (Number(status) >= 400 || !response.content) continue;
      for (const [mediaType, media] of Object.entries(response.content as Record<string, Json>)) {
        expect(media.example, `${status} ${mediaType} example`).toBeDefined();
        if (mediaType === 'application/json') {
          const validate = at('responses', status, 'content', mediaType, 'schema');
          expect(validate(media.example), JSON.stringify(validate.errors)).toBe(true);
        }
      }
    }
    for (const parameter of op.parameters as Json[]) {
      if (parameter.in === 'path') expect(parameter.example, parameter.name).toEqual(expect.any(String));
    }
  });

  it('types numeric query parameters as integers (limit, days)', () => {
    const numeric = operations(local).flatMap(({ key, op }) =>
      (op.parameters as Json[]).filter((p) => p.in === 'query' && ['limit', 'days'].includes(p.name)).map((p) => ({ key, name: p.name, schema: p.schema })),
    );
    expect(numeric.map((p) => `${p.key} ${p.name}`).sort()).toEqual(
      [
        'GET /api/export limit',
        'GET /v1/organizations limit',
        'GET /v1/chat/sessions/{sessionId}/messages limit',
        'GET /v1/organizations/{orgId}/api-keys limit',
        'GET /v1/organizations/{orgId}/api-keys/{keyId}/usage days',
        'GET /v1/organizations/{orgId}/audit-log limit',
        'GET /v1/organizations/{orgId}/usage days',
      ].sort(),
    );
    for (const p of numeric) expect(p.schema, `${p.key} ${p.name}`).toEqual(expect.objectContaining({ type: 'integer', minimum: 1 }));
    expect(numeric.find((p) => p.name === 'days')!.schema).toEqual({ type: 'integer', minimum: 1, maximum: 90, default: 30 });
  });

  it('types every property of every request body', () => {
    const untyped: string[] = [];
    for (const { key, op } of operations(local)) {
      const schema = op.requestBody?.content?.['application/json']?.schema as Json | undefined;
      for (const [name, property] of Object.entries((schema?.properties ?? {}) as Record<string, Json>)) {
        if (!['type', 'anyOf', 'oneOf', 'enum', 'const', '$ref'].some((k) => k in property)) untyped.push(`${key} ${name}`);
      }
    }
    expect(untyped).toEqual([]);
    const createKey = local.paths['/v1/organizations/{orgId}/api-keys'].post.requestBody.content['application/json'].schema;
    expect(createKey.properties.allowedDomains.anyOf).toEqual([
      { type: 'array', items: { type: 'string' }, maxItems: 50 },
      { type: 'string' },
    ]);
    const devToken = local.paths['/_dev/token'].post.requestBody.content['application/json'].schema;
    expect(Object.keys(devToken.properties).sort()).toEqual(['email', 'email_verified', 'groups', 'sub']);
    expect(devToken.properties.email_verified.type).toBe('boolean');
  });

  it('types the export rows of each resource', () => {
    const schemas = local.components.schemas as Record<string, Json>;
    expect(schemas.ExportPage!.properties.items.items.anyOf).toEqual([
      { $ref: '#/components/schemas/ExportedSession' },
      { $ref: '#/components/schemas/ExportedMessage' },
      { $ref: '#/components/schemas/ExportedUsageDay' },
    ]);
    expect(Object.keys(schemas.ExportedMessage!.properties)).toEqual(['id', 'sessionId', 'role', 'content', 'keyId', 'createdAt']);
  });

  it('names the JSON data of each Server-Sent Event of a streamed reply', () => {
    const stream = local.paths['/v1/chat/sessions/{sessionId}/messages'].post.responses['200'].content['text/event-stream'];
    expect(stream['x-events']).toEqual({
      'message.delta': { $ref: '#/components/schemas/MessageDelta' },
      'message.completed': { $ref: '#/components/schemas/MessageCompleted' },
      error: { $ref: '#/components/schemas/StreamError' },
    });
  });
});
