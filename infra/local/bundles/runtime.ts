// The local API's functions as the synthesized bundles (`npm start -- --bundled`): every function
// of the template runs in its own Lambda-like environments (lambda-host.ts), with the environment
// its template sets (lambda-environment.ts). Route functions are found by the names the route table
// uses (`keygate-<stage>-<name>` in the template), the authorizer as `authorizer`.
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import type { FunctionRuntime } from '../server.ts';
import type { SynthesizedApp } from './assembly.ts';
import { LambdaFunction } from './lambda-host.ts';
import { lambdaEnvironment, type LocalStandIns } from './lambda-environment.ts';

export interface BundledRuntime extends FunctionRuntime {
  functions: Map<string, LambdaFunction>;
  /** Start one environment of every function: any init error (missing module, handler) fails here. */
  warm(): Promise<void>;
  close(): void;
}

export interface BundledRuntimeOptions {
  /** Execution environments per function at most (default 4). */
  maxEnvironments?: number;
  /** Where the functions' stdout/stderr go (default: this process's stdout, like their log group). */
  output?: (chunk: Buffer) => void;
}

export function bundledRuntime(app: SynthesizedApp, local: LocalStandIns, options: BundledRuntimeOptions = {}): BundledRuntime {
  const functions = new Map(
    app.functions.map((fn) => [fn.name, new LambdaFunction(fn, lambdaEnvironment(app, fn, local), options.maxEnvironments ?? 4, options.output)]),
  );
  const functionNamed = (name: string): LambdaFunction => {
    const fn = functions.get(name);
    if (!fn) throw new Error(`no function "${name}" in the synthesized template (${[...functions.keys()].join(', ')})`);
    return fn;
  };
  return {
    functions,
    async warm() {
      await Promise.all([...functions.values()].map((fn) => fn.warm()));
    },
    // A thrown "Unauthorized" arrives as a Lambda error with that message, as API Gateway sees it.
    authorize: async (event) => (await functionNamed('authorizer').invoke(event)) as APIGatewayAuthorizerResult,
    invoke: async (name, event) => (await functionNamed(name).invoke(event)) as APIGatewayProxyResult,
    async stream(name, event, res) {
      await functionNamed(name).invokeStream(event, {
        head: ({ statusCode, headers }) => {
          res.writeHead(statusCode, headers);
          res.flushHeaders();
        },
        body: (chunk) => res.write(chunk),
      });
      res.end();
    },
    close() {
      for (const fn of functions.values()) fn.close();
    },
  };
}
