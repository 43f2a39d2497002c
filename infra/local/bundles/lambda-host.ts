// Runs a synthesized function as Lambda does: each execution environment is a fresh Node process
// (lambda-runtime.ts) that loads the bundle once and serves one invocation at a time; more
// concurrent invocations start more environments, up to a cap (then they wait, like throttling
// without the error). A streaming function's bytes are decoded as API Gateway decodes a
// response-streaming integration: JSON prelude, 8 null bytes, then the body.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { InvokeMessage, RuntimeMessage } from './lambda-runtime.ts';
import { nodeModulesAbove, type SynthesizedFunction } from './assembly.ts';

const RUNTIME = join(import.meta.dirname, 'lambda-runtime.ts');
const PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER = Buffer.alloc(8);

/** A function error as Lambda reports it; `Runtime.*` types are init failures. */
export class LambdaError extends Error {
  readonly errorType: string;
  constructor(errorType: string, message: string) {
    super(message);
    this.name = errorType;
    this.errorType = errorType;
  }
}

export interface StreamHead {
  statusCode: number;
  headers: Record<string, string>;
}

export interface StreamTarget {
  head(head: StreamHead): void;
  body(chunk: Buffer): void;
}

type Pending =
  | { kind: 'buffered'; resolve: (result: unknown) => void; reject: (error: Error) => void }
  | { kind: 'stream'; resolve: () => void; reject: (error: Error) => void; onChunk: (chunk: Buffer, contentType?: string) => void };

/** One execution environment. */
export class LambdaInstance {
  /** Wall and CPU time of loading the bundle (the init phase's import), measured inside the environment. */
  readonly importMs: number;
  readonly importCpuMs: number;
  readonly streaming: boolean;
  /** Wall and CPU time of the last invocation, measured inside the environment. */
  lastDurationMs = 0;
  lastCpuMs = 0;
  /** Wall and CPU time of the first invocation (the cold one), once it has answered. */
  first: { durationMs: number; cpuMs: number } | undefined;
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;

  private constructor(child: ChildProcess, ready: { importMs: number; importCpuMs: number; streaming: boolean }) {
    this.child = child;
    this.importMs = ready.importMs;
    this.importCpuMs = ready.importCpuMs;
    const streaming = ready.streaming;
    this.streaming = streaming;
    child.on('message', (message: RuntimeMessage) => this.onMessage(message));
    child.once('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new LambdaError('Runtime.ExitError', `the environment exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Start a fresh process and load the bundle (the init phase); rejects with the runtime's init error. */
  static start(fn: SynthesizedFunction, env: Record<string, string>, output: (chunk: Buffer) => void = (c) => process.stdout.write(c)): Promise<LambdaInstance> {
    const above = nodeModulesAbove(fn.taskRoot);
    if (above) {
      return Promise.reject(new Error(`${fn.functionName}: ${above} is above its task root, so imports the bundle lacks would still resolve; synthesize outside the repository`));
    }
    const child = fork(RUNTIME, [], {
      cwd: fn.taskRoot,
      env, // nothing of this process's environment: only what Lambda would set
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    child.stdout?.on('data', output);
    child.stderr?.on('data', output);
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new LambdaError('Runtime.ExitError', `${fn.functionName} exited during init (${code})`));
      child.once('exit', onExit);
      child.once('message', (message: RuntimeMessage) => {
        child.off('exit', onExit);
        if (message.type === 'ready') resolve(new LambdaInstance(child, message));
        else if (message.type === 'init-error') {
          child.kill();
          reject(new LambdaError(message.errorType, `${fn.functionName}: ${message.errorMessage}`));
        } else reject(new Error(`${fn.functionName}: unexpected first message ${message.type}`));
      });
    });
  }

  private onMessage(message: RuntimeMessage): void {
    if (!('id' in message)) return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'error') {
      this.pending.delete(message.id);
      pending.reject(new LambdaError(message.errorType, message.errorMessage));
    } else if (message.type === 'result' && pending.kind === 'buffered') {
      this.pending.delete(message.id);
      this.lastDurationMs = message.durationMs;
      this.lastCpuMs = message.cpuMs;
      this.first ??= { durationMs: message.durationMs, cpuMs: message.cpuMs };
      pending.resolve(message.result);
    } else if (message.type === 'chunk' && pending.kind === 'stream') {
      pending.onChunk(Buffer.from(message.data, 'base64'));
    } else if (message.type === 'end' && pending.kind === 'stream') {
      this.pending.delete(message.id);
      this.lastDurationMs = message.durationMs;
      this.lastCpuMs = message.cpuMs;
      this.first ??= { durationMs: message.durationMs, cpuMs: message.cpuMs };
      pending.resolve();
    }
  }

  private post(pending: Pending, event: unknown): void {
    if (this.exited) throw new LambdaError('Runtime.ExitError', 'the environment has exited');
    const id = this.nextId++;
    this.pending.set(id, pending);
    const message: InvokeMessage = { type: 'invoke', id, event, requestId: randomUUID() };
    this.child.send(message);
  }

  invoke(event: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => this.post({ kind: 'buffered', resolve, reject }, event));
  }

  /** Invoke a streaming handler and decode the http-integration-response framing into `target`. */
  invokeStream(event: unknown, target: StreamTarget): Promise<void> {
    let buffered = Buffer.alloc(0);
    let headSent = false;
    const onChunk = (chunk: Buffer) => {
      if (headSent) return target.body(chunk);
      buffered = Buffer.concat([buffered, chunk]);
      const at = buffered.indexOf(DELIMITER);
      if (at < 0) return;
      const prelude = JSON.parse(buffered.subarray(0, at).toString('utf8')) as { statusCode?: number; headers?: Record<string, string> };
      headSent = true;
      target.head({ statusCode: prelude.statusCode ?? 200, headers: prelude.headers ?? {} });
      const rest = buffered.subarray(at + DELIMITER.length);
      if (rest.byteLength) target.body(rest);
    };
    return new Promise<void>((resolve, reject) =>
      this.post({ kind: 'stream', resolve, reject, onChunk }, event),
    ).then(() => {
      // No prelude: the bytes are the body of a 200 (what a plain streamed response is).
      if (!headSent) {
        target.head({ statusCode: 200, headers: {} });
        if (buffered.byteLength) target.body(buffered);
      }
    });
  }

  close(): void {
    if (!this.exited) this.child.kill();
  }
}

/** A function: its execution environments, started on demand. */
export class LambdaFunction {
  readonly fn: SynthesizedFunction;
  private readonly env: Record<string, string>;
  private readonly maxEnvironments: number;
  private readonly idle: LambdaInstance[] = [];
  private readonly all = new Set<LambdaInstance>();
  private starting = 0;
  private readonly waiters: ((instance: LambdaInstance) => void)[] = [];
  private closed = false;

  private readonly output: ((chunk: Buffer) => void) | undefined;

  /** `output` receives what the function writes to stdout/stderr (its CloudWatch log); default: this process's stdout. */
  constructor(fn: SynthesizedFunction, env: Record<string, string>, maxEnvironments = 4, output?: (chunk: Buffer) => void) {
    this.fn = fn;
    this.env = env;
    this.maxEnvironments = maxEnvironments;
    this.output = output;
  }

  /** The environments started so far, oldest first. */
  get environments(): LambdaInstance[] {
    return [...this.all];
  }

  /** Start one environment now (fails with the init error if the bundle cannot load). */
  async warm(): Promise<void> {
    this.release(await this.spawn());
  }

  private async spawn(): Promise<LambdaInstance> {
    this.starting++;
    try {
      const instance = await LambdaInstance.start(this.fn, this.env, this.output);
      if (this.closed) instance.close();
      this.all.add(instance);
      return instance;
    } finally {
      this.starting--;
    }
  }

  private async acquire(): Promise<LambdaInstance> {
    for (;;) {
      const instance = this.idle.pop();
      if (!instance) break;
      if (instance.alive) return instance;
      this.all.delete(instance);
    }
    if (this.all.size + this.starting < this.maxEnvironments) return this.spawn();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(instance: LambdaInstance): void {
    if (!instance.alive) {
      this.all.delete(instance);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(instance);
    else this.idle.push(instance);
  }

  private async withInstance<T>(run: (instance: LambdaInstance) => Promise<T>): Promise<T> {
    const instance = await this.acquire();
    const timeoutMs = this.fn.timeoutSeconds * 1000 + 1_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        run(instance),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            instance.close(); // Lambda stops an environment that timed out
            reject(new LambdaError('Sandbox.Timedout', `Task timed out after ${this.fn.timeoutSeconds} seconds`));
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.release(instance);
    }
  }

  invoke(event: unknown): Promise<unknown> {
    return this.withInstance((instance) => instance.invoke(event));
  }

  invokeStream(event: unknown, target: StreamTarget): Promise<void> {
    return this.withInstance((instance) => instance.invokeStream(event, target));
  }

  close(): void {
    this.closed = true;
    for (const instance of this.all) instance.close();
    this.all.clear();
    this.idle.length = 0;
  }
}

export { PRELUDE_CONTENT_TYPE };
