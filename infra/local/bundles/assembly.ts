// The Lambda functions of a real `cdk synth`, read from its cloud assembly the way CloudFormation
// and the CDK CLI see them: every AWS::Lambda::Function of every stack, its Code (the S3 key of a
// file asset) mapped through the asset manifest to the directory the CDK bundled, its Handler,
// memory, timeout and environment. Nothing here names a function: new functions are found the same way.
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface CfnResource {
  Type: string;
  Properties?: Record<string, any>;
}

export interface SynthesizedFunction {
  logicalId: string;
  /** Physical name, e.g. `keygate-dev-authorizer`. */
  functionName: string;
  /** The name without the `keygate-<stage>-` prefix: `authorizer`, `publicApi`, ... */
  name: string;
  handler: string;
  runtime: string;
  memorySize: number;
  timeoutSeconds: number;
  /** The bundled asset directory (LAMBDA_TASK_ROOT). */
  taskRoot: string;
  /** The template's Environment.Variables, intrinsics unresolved. */
  environment: Record<string, unknown>;
}

export interface SynthesizedApp {
  outdir: string;
  stackName: string;
  resources: Record<string, CfnResource>;
  functions: SynthesizedFunction[];
}

/** Synthesize the Keygate app (context from cdk.json, as `cdk synth`), bundling every function, into `outdir`. */
export async function synthesizeApp(outdir = mkdtempSync(join(tmpdir(), 'keygate-synth-'))): Promise<SynthesizedApp> {
  const { App } = await import('aws-cdk-lib');
  const { createKeygateApp } = await import('../../stack.ts');
  const context = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;
  const app = new App({ outdir, context });
  createKeygateApp(app);
  app.synth();
  return readAssembly(outdir);
}

function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Read a synthesized cloud assembly; throws if a function's asset is not in it. */
export function readAssembly(outdir: string): SynthesizedApp {
  const manifest = readJson(join(outdir, 'manifest.json'));
  const artifacts = Object.entries(manifest.artifacts as Record<string, any>);
  const stacks = artifacts.filter(([, a]) => a.type === 'aws:cloudformation:stack');
  if (stacks.length !== 1) throw new Error(`expected one stack in ${outdir}, found ${stacks.length}`);
  const [stackName, stack] = stacks[0]!;
  const template = readJson(join(outdir, stack.properties.templateFile));
  // S3 object key -> asset directory, from every asset manifest of the assembly.
  const assetDirs = new Map<string, string>();
  for (const [, artifact] of artifacts.filter(([, a]) => a.type === 'cdk:asset-manifest')) {
    const assets = readJson(join(outdir, artifact.properties.file));
    for (const file of Object.values(assets.files ?? {}) as any[]) {
      for (const destination of Object.values(file.destinations ?? {}) as any[]) {
        assetDirs.set(destination.objectKey, join(outdir, file.source.path));
      }
    }
  }
  const resources = template.Resources as Record<string, CfnResource>;
  // Keygate's functions, each named keygate-<stage>-<name> by KeygateFunction. The template's other
  // functions are CDK's own custom-resource handlers (BucketDeployment's, Python), AWS's code deployed as shipped.
  const functions = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function' && String(r.Properties?.FunctionName ?? '').startsWith('keygate-'))
    .map(([logicalId, r]): SynthesizedFunction => {
      const p = r.Properties ?? {};
      const functionName = String(p.FunctionName ?? logicalId);
      const environment = (p.Environment?.Variables ?? {}) as Record<string, unknown>;
      const s3Key = p.Code?.S3Key;
      if (typeof s3Key !== 'string') throw new Error(`${functionName}: Code is not an S3 asset (${JSON.stringify(p.Code)})`);
      const taskRoot = assetDirs.get(s3Key);
      if (!taskRoot) throw new Error(`${functionName}: its Code asset ${s3Key} is not in the asset manifest of ${outdir}`);
      if (!existsSync(taskRoot)) throw new Error(`${functionName}: its Code asset directory ${taskRoot} is missing from the synth output`);
      const stage = typeof environment.STAGE === 'string' ? environment.STAGE : '';
      const prefix = `keygate-${stage}-`;
      return {
        logicalId,
        functionName,
        name: functionName.startsWith(prefix) ? functionName.slice(prefix.length) : functionName,
        handler: String(p.Handler),
        runtime: String(p.Runtime),
        memorySize: Number(p.MemorySize ?? 128),
        timeoutSeconds: Number(p.Timeout ?? 3),
        taskRoot,
        environment,
      };
    });
  return { outdir, stackName, resources, functions };
}

/** The module file the runtime loads for a handler `index.handler` (.mjs, .js or .cjs, as the runtime tries them). */
export function handlerModule(fn: SynthesizedFunction): string | undefined {
  const moduleName = fn.handler.slice(0, fn.handler.lastIndexOf('.'));
  return ['.mjs', '.js', '.cjs'].map((ext) => join(fn.taskRoot, moduleName + ext)).find((f) => existsSync(f));
}

/** A `node_modules` in the task root or above it would let an import the bundle failed to include resolve anyway. */
export function nodeModulesAbove(dir: string): string | undefined {
  for (let current = resolve(dir); ; current = dirname(current)) {
    if (existsSync(join(current, 'node_modules'))) return join(current, 'node_modules');
    if (dirname(current) === current) return undefined;
  }
}

const BUILTINS = new Set(builtinModules);

interface ModuleImport {
  kind: string;
  path: string;
}

/** Every import, dynamic import and require() with a literal specifier in one module file, found by esbuild's parser. */
async function importsOf(file: string): Promise<ModuleImport[]> {
  const { build } = await import('esbuild');
  const found: ModuleImport[] = [];
  await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    logLevel: 'silent',
    plugins: [
      {
        name: 'record-imports',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (args.kind === 'entry-point') return undefined;
            found.push({ kind: args.kind, path: args.path });
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return found;
}

/** The module files of the task root: the handler's module and the chunks it loads (code splitting). */
export function moduleFiles(fn: SynthesizedFunction): string[] {
  return readdirSync(fn.taskRoot)
    .filter((name) => /\.(mjs|js|cjs)$/.test(name))
    .map((name) => join(fn.taskRoot, name));
}

/**
 * The files Node reads and parses when the function starts: the handler's module and, transitively,
 * the chunks it imports statically. Chunks reached only by `import()` are read on first use.
 */
export async function startupFiles(fn: SynthesizedFunction): Promise<string[]> {
  const first = handlerModule(fn);
  if (!first) return [];
  const seen = new Set<string>([first]);
  for (const file of seen) {
    for (const { kind, path } of await importsOf(file)) {
      if (kind === 'import-statement' && path.startsWith('.')) seen.add(resolve(dirname(file), path));
    }
  }
  return [...seen];
}

/** Bytes of the files read at start (startupFiles). */
export async function startupBytes(fn: SynthesizedFunction): Promise<number> {
  return (await startupFiles(fn)).reduce((sum, file) => sum + statSync(file).size, 0);
}

/**
 * Every import, dynamic import and require() with a literal specifier in any module file of the
 * task root that the Lambda environment could not resolve: a bare package (only the bundle's own
 * files are deployed, and the runtime's own SDK copy is not used), or a relative file missing
 * from the asset. Node builtins are fine.
 */
export async function unresolvedImports(fn: SynthesizedFunction): Promise<string[]> {
  if (!handlerModule(fn)) return [`${fn.handler}: no module file in ${fn.taskRoot}`];
  const found = new Set<string>();
  for (const file of moduleFiles(fn)) {
    const requireFromFile = createRequire(file);
    for (const { kind, path: spec } of await importsOf(file)) {
      const builtin = spec.startsWith('node:') || BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!);
      if (builtin) continue;
      try {
        requireFromFile.resolve(spec);
      } catch {
        found.add(`${kind} "${spec}"`);
      }
    }
  }
  return [...found];
}
