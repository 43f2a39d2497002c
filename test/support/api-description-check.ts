// Holds every response the end-to-end suite receives to the API description the running code
// generates (GET /openapi.json): the status must be declared for the route, and a JSON body must
// match that status's schema. A handler that answers something undescribed fails its test here.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import type { OpenApiDocument } from '../../shared/api-description/document.ts';
import { matchRoute } from '../../shared/routes.ts';

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
let document: Promise<OpenApiDocument> | undefined;

/**
 * Loaded on first use, not at import: the description imports the db modules, whose client
 * singleton must be created after a test file has chosen its DynamoDB endpoint. One load for
 * concurrent first calls (the schema is added to ajv once).
 */
function loadDocument(): Promise<OpenApiDocument> {
  document ??= import('../../shared/api-description/document.ts').then(({ buildApiDescription }) => {
    const built = buildApiDescription({ includeLocalOnly: true });
    ajv.addSchema(built, 'api');
    return built;
  });
  return document;
}

const validators = new Map<string, ValidateFunction>();
function validator(pointer: string): ValidateFunction {
  let found = validators.get(pointer);
  if (!found) {
    found = ajv.compile({ $ref: `api#${pointer}` });
    validators.set(pointer, found);
  }
  return found;
}

const escape = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** Throws, naming the mismatch, when a response is not what the description declares. */
export async function checkAgainstApiDescription(
  method: string,
  url: string,
  status: number,
  contentType: string | null,
  text: string,
): Promise<void> {
  if (method === 'OPTIONS' || method === 'HEAD') return; // preflights are CORS, not API operations
  const document = await loadDocument();
  const path = new URL(url).pathname;
  let match: ReturnType<typeof matchRoute>;
  try {
    match = matchRoute(method, path);
  } catch {
    match = { kind: 'not-found' };
  }
  const describe = `${method} ${path} -> ${status} ${text.slice(0, 300)}`;
  const isJson = contentType?.startsWith('application/json') ?? false;
  if (match.kind !== 'found') {
    // Unknown paths and methods: any error, in the error format.
    if (status < 400 || !isJson) throw new Error(`API description: ${describe} is not an error for an unknown route`);
    check('/components/schemas/Error', text, describe);
    return;
  }
  const operationPointer = `/paths/${escape(match.route.path)}/${method.toLowerCase()}`;
  const responses = document.paths[match.route.path]?.[method.toLowerCase()]?.responses as Record<string, any> | undefined;
  const declared = responses?.[String(status)];
  if (!declared) {
    throw new Error(`API description: ${describe}: status ${status} is not declared for ${method} ${match.route.path} (shared/api-description)`);
  }
  if (status === 204) return;
  const media = Object.keys(declared.content ?? {});
  const mediaType = contentType?.split(';')[0]?.trim() ?? '';
  if (!media.includes(mediaType)) {
    throw new Error(`API description: ${describe}: content type ${mediaType || 'none'} is not declared (declared: ${media.join(', ')})`);
  }
  if (mediaType === 'application/json') check(`${operationPointer}/responses/${status}/content/application~1json/schema`, text, describe);
}

function check(pointer: string, text: string, describe: string): void {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`API description: ${describe}: body is not JSON`);
  }
  const validate = validator(pointer);
  if (!validate(body)) {
    throw new Error(`API description: ${describe}: ${ajv.errorsText(validate.errors, { separator: '; ' })}`);
  }
}

/** Stream events (`message.delta`, `message.completed`, `error`) against their component schemas. */
const EVENT_SCHEMAS: Record<string, string> = {
  'message.delta': 'MessageDelta',
  'message.completed': 'MessageCompleted',
  error: 'StreamError',
};

export async function checkStreamEvent(event: string, data: string): Promise<void> {
  await loadDocument();
  const schema = EVENT_SCHEMAS[event];
  if (!schema) throw new Error(`API description: undeclared stream event ${event}`);
  check(`/components/schemas/${schema}`, data, `stream event ${event} ${data.slice(0, 200)}`);
}
