// One Lambda execution environment for one synthesized bundle: this file is the entry of a fresh
// Node process (forked by lambda-host.ts, environment = what the function gets in AWS) that does
// what the Node.js runtime interface client does (aws-lambda-nodejs-runtime-interface-client,
// UserFunction.js, HttpResponseStream.js, ResponseStream.js):
// - before loading the code, define `globalThis.awslambda` with `streamifyResponse` (marks the
//   handler with Symbol.for('aws.lambda.runtime.handler.streaming') = 'response') and
//   `HttpResponseStream.from` (sets the content type application/vnd.awslambda.http-integration-response
//   and, before the first write, writes the JSON prelude and 8 null bytes);
// - resolve the template's `Handler` (`index.handler`: module `index` in LAMBDA_TASK_ROOT, tried as
//   .mjs as the runtime does for ESM; export `handler`), failing the init like the runtime
//   (Runtime.ImportModuleError, Runtime.HandlerNotFound);
// - run one invocation at a time: `handler(event, context)` for buffered functions, or
//   `handler(event, responseStream, context)` for streaming ones, with a context whose
//   getRemainingTimeInMillis counts down to the function's timeout.
// Messages to the parent go over the IPC channel: ready | init-error | result | error | chunk | end.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const STREAM_RESPONSE = 'response';
const METADATA_PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER_LEN = 8;

export interface InvokeMessage {
  type: 'invoke';
  id: number;
  event: unknown;
  requestId: string;
}

export type RuntimeMessage =
  | { type: 'ready'; importMs: number; importCpuMs: number; streaming: boolean }
  | { type: 'init-error'; errorType: string; errorMessage: string }
  | { type: 'result'; id: number; result: unknown; durationMs: number; cpuMs: number }
  | { type: 'error'; id: number; errorType: string; errorMessage: string }
  | { type: 'chunk'; id: number; data: string }
  | { type: 'end'; id: number; contentType: string | undefined; durationMs: number; cpuMs: number };

type Handler = ((...args: unknown[]) => unknown) & { [HANDLER_STREAMING]?: unknown };

function send(message: RuntimeMessage): void {
  process.send?.(message);
}

/** Lambda reports errors as { errorType, errorMessage } (Errors.js toRapidResponse). */
function describe(error: unknown): { errorType: string; errorMessage: string } {
  if (error instanceof Error) return { errorType: error.name, errorMessage: error.message };
  return { errorType: typeof error, errorMessage: String(error) };
}

class HttpResponseStream {
  static from(underlyingStream: LambdaResponseStream, prelude: unknown): LambdaResponseStream {
    underlyingStream.setContentType(METADATA_PRELUDE_CONTENT_TYPE);
    // JSON.stringify is required: a NULL byte is not allowed in the prelude.
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(DELIMITER_LEN));
    };
    return underlyingStream;
  }
}

/** The runtime's response stream: bytes go to the parent as they are written. */
class LambdaResponseStream extends Writable {
  contentType: string | undefined;
  _onBeforeFirstWrite: ((write: (chunk: string | Uint8Array) => void) => void) | undefined;
  private started = false;
  private readonly id: number;

  constructor(id: number) {
    super();
    this.id = id;
  }

  setContentType(contentType: string): void {
    if (this.started) throw new Error('Runtime.InvalidStreamingOperation: cannot set content type after the first write');
    this.contentType = contentType;
  }

  private forward(chunk: string | Uint8Array): void {
    send({ type: 'chunk', id: this.id, data: Buffer.from(chunk).toString('base64') });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.started) {
      this.started = true;
      this._onBeforeFirstWrite?.((c) => this.forward(c));
    }
    if (chunk.byteLength > 0) this.forward(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.started) {
      this.started = true;
      this._onBeforeFirstWrite?.((c) => this.forward(c));
    }
    callback();
  }
}

async function loadHandler(): Promise<Handler> {
  const taskRoot = process.env.LAMBDA_TASK_ROOT as string;
  const fullHandler = process.env._HANDLER as string;
  const match = /^([^.]*)\.(.*)$/.exec(fullHandler);
  if (!match) throw Object.assign(new Error(`Bad handler ${fullHandler}`), { name: 'Runtime.MalformedHandlerName' });
  const [, moduleName, handlerPath] = match as unknown as [string, string, string];
  // The runtime tries .js (CommonJS unless package.json says module), .mjs, then .cjs; CDK ESM bundles are index.mjs.
  const file = ['.mjs', '.js', '.cjs'].map((ext) => join(taskRoot, moduleName + ext)).find((f) => existsSync(f));
  if (!file) throw Object.assign(new Error(`Cannot find module '${moduleName}' in ${taskRoot}`), { name: 'Runtime.ImportModuleError' });
  let userApp: Record<string, unknown>;
  try {
    userApp = await import(pathToFileURL(file).href);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw Object.assign(new Error(describe(error).errorMessage), { name: 'Runtime.ImportModuleError' });
    }
    if (error instanceof SyntaxError) throw Object.assign(new Error(error.message), { name: 'Runtime.UserCodeSyntaxError' });
    throw error;
  }
  const handler = handlerPath.split('.').reduce<unknown>((nested, key) => (nested as Record<string, unknown> | undefined)?.[key], userApp);
  if (!handler) throw Object.assign(new Error(`${fullHandler} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  if (typeof handler !== 'function') throw Object.assign(new Error(`${fullHandler} is not a function`), { name: 'Runtime.HandlerNotFound' });
  return handler as Handler;
}

function context(requestId: string, deadline: number): Record<string, unknown> {
  const env = process.env;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: `arn:aws:lambda:${env.AWS_REGION}:000000000000:function:${env.AWS_LAMBDA_FUNCTION_NAME}`,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function invoke(handler: Handler, streaming: boolean, message: InvokeMessage): Promise<void> {
  const timeoutMs = Number(process.env.KEYGATE_FUNCTION_TIMEOUT_MS ?? 3_000);
  const ctx = context(message.requestId, Date.now() + timeoutMs);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const cpuMs = () => {
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / 1000;
  };
  try {
    if (!streaming) {
      const result = await handler(message.event, ctx);
      // The runtime returns the result JSON-serialized (the IPC channel serializes it the same way).
      send({ type: 'result', id: message.id, result: result === undefined ? null : result, durationMs: performance.now() - started, cpuMs: cpuMs() });
      return;
    }
    const stream = new LambdaResponseStream(message.id);
    const finished = new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', reject);
    });
    await handler(message.event, stream, ctx);
    if (!stream.writableEnded) stream.end();
    await finished;
    send({ type: 'end', id: message.id, contentType: stream.contentType, durationMs: performance.now() - started, cpuMs: cpuMs() });
  } catch (error) {
    send({ type: 'error', id: message.id, ...describe(error) });
  }
}

async function main(): Promise<void> {
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse: (handler: Handler) => {
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      return handler;
    },
    HttpResponseStream,
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  let handler: Handler;
  try {
    handler = await loadHandler();
  } catch (error) {
    send({ type: 'init-error', ...describe(error) });
    process.disconnect?.();
    return;
  }
  const importMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const importCpuMs = (used.user + used.system) / 1000;
  const marker = handler[HANDLER_STREAMING];
  if (marker !== undefined && marker !== null && marker !== false && marker !== STREAM_RESPONSE) {
    send({ type: 'init-error', errorType: 'Runtime.MalformedStreamingHandler', errorMessage: 'Only response streaming is supported.' });
    process.disconnect?.();
    return;
  }
  const streaming = marker === STREAM_RESPONSE;
  // The environment ends with the host that started it (an IPC channel closed by a crash, too).
  process.on('disconnect', () => process.exit(0));
  // One invocation at a time, as in a Lambda execution environment.
  let queue = Promise.resolve();
  process.on('message', (message: InvokeMessage) => {
    if (message?.type !== 'invoke') return;
    queue = queue.then(() => invoke(handler, streaming, message));
  });
  send({ type: 'ready', importMs, importCpuMs, streaming });
}

await main();
