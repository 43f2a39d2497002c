// Builds the Keygate app the way infra/app.ts does (context from cdk.json, cdk-nag registered) and
// offers lookups into the synthesized template by what things are, not by logical id.
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll } from 'vitest';
import { createKeygateApp, type KeygateStack } from '../../infra/stack.ts';
import { physicalTableName, TABLES, type TableKey } from '../../shared/tables.ts';

export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context;

/** Bundling every function takes tens of seconds on a busy machine; tests that only read the template skip it. */
export const SETUP_TIMEOUT_MS = 240_000;

export interface Synthesized {
  app: App;
  stack: KeygateStack;
  template: Template;
  resources: Record<string, CfnResource>;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, any>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  DependsOn?: string[];
  Metadata?: Record<string, any>;
}

export function synthKeygate(options: { context?: Record<string, unknown>; bundle?: boolean } = {}): Synthesized {
  const app = new App({
    context: {
      ...CDK_CONTEXT,
      ...options.context,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  const stack = createKeygateApp(app);
  // Synthesizes the whole app, cdk-nag included: an unacknowledged finding throws here.
  const template = Template.fromStack(stack);
  return { app, stack, template, resources: template.toJSON().Resources };
}

/**
 * The stack synthesized once before the tests of the file or `describe` block that calls this; the
 * returned object is filled in then (its tests only read it).
 */
export function synthBeforeAll(options: Parameters<typeof synthKeygate>[0] = {}): Synthesized {
  const s = {} as Synthesized;
  beforeAll(() => {
    Object.assign(s, synthKeygate(options));
  }, SETUP_TIMEOUT_MS);
  return s;
}

export function ofType(resources: Record<string, CfnResource>, type: string): [string, CfnResource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** The one resource of a type, as [logicalId, resource]. */
export function single(resources: Record<string, CfnResource>, type: string): [string, CfnResource] {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`Expected one ${type}, found ${found.length}`);
  return found[0]!;
}

export function tableLogicalId(s: Synthesized, key: TableKey, stage = 'dev'): string {
  const name = physicalTableName(stage, TABLES[key]);
  const found = ofType(s.resources, 'AWS::DynamoDB::Table').find(([, r]) => r.Properties?.TableName === name);
  if (!found) throw new Error(`No table ${name}`);
  return found[0];
}

export function functionByName(s: Synthesized, name: string, stage = 'dev'): [string, CfnResource] {
  const physical = `keygate-${stage}-${name}`;
  const found = ofType(s.resources, 'AWS::Lambda::Function').find(([, r]) => r.Properties?.FunctionName === physical);
  if (!found) throw new Error(`No function ${physical}`);
  return found;
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Sid?: string;
}

/** Every statement of every policy attached to the function's execution role. */
export function roleStatements(s: Synthesized, functionName: string): Statement[] {
  const [, fn] = functionByName(s, functionName);
  const roleId: string = fn.Properties!.Role['Fn::GetAtt'][0];
  return ofType(s.resources, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties!.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties!.PolicyDocument.Statement as Statement[]);
}

export function actions(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

export function resourcesOf(statement: Statement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

/** Logical ids referenced anywhere inside a CloudFormation value (Ref and Fn::GetAtt), pseudo parameters aside. */
export function referencedIds(value: unknown): Set<string> {
  const ids = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if (key === 'Ref' && typeof child === 'string') {
          if (!child.startsWith('AWS::')) ids.add(child);
        } else if (key === 'Fn::GetAtt' && Array.isArray(child)) ids.add(child[0] as string);
        else visit(child);
      }
    }
  };
  visit(value);
  return ids;
}

/** Full API path (`/v1/chat/sessions/{sessionId}`) of each AWS::ApiGateway::Resource. */
export function resourcePaths(s: Synthesized): Map<string, string> {
  const resources = new Map(ofType(s.resources, 'AWS::ApiGateway::Resource'));
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const known = paths.get(id);
    if (known !== undefined) return known;
    const props = resources.get(id)!.Properties!;
    const parent: string | undefined = props.ParentId.Ref;
    const path = `${parent ? pathOf(parent) : ''}/${props.PathPart}`;
    paths.set(id, path);
    return path;
  };
  for (const id of resources.keys()) pathOf(id);
  return paths;
}

/** The AWS::ApiGateway::Method for a method and path, if any. */
export function findMethod(s: Synthesized, httpMethod: string, path: string): CfnResource | undefined {
  const paths = resourcePaths(s);
  return ofType(s.resources, 'AWS::ApiGateway::Method')
    .map(([, r]) => r)
    .find((r) => r.Properties!.HttpMethod === httpMethod && paths.get(r.Properties!.ResourceId.Ref) === path);
}
