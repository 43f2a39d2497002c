// Dependencies point down (docs/ENGINEERING.md "Conventions"): the import graph of every source file,
// read with the TypeScript compiler's own pre-processor (static imports, re-exports, `import type`
// and dynamic `import('…')` with a literal path), checked against the layering rules.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SOURCE_DIRS = ['shared', 'functions', 'infra', 'cli', 'scripts', 'bench', 'web', 'test'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Each file's relative imports, as repository-relative paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
    graph.set(
      file,
      importedFiles.map((i) => i.fileName).filter((s) => s.startsWith('.')).map((s) => relative(ROOT, resolve(ROOT, dirname(file), s))),
    );
  }
  return graph;
}

/** Strongly connected components of more than one file (or a file importing itself): the cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph();

/** `from -> to` for every import of a file under one of `from` into one of `to`, except `allowed`. */
function importsInto(from: string[], to: string[], allowed: (file: string) => boolean = () => false): string[] {
  const under = (file: string, dirs: string[]) => dirs.some((d) => file === d || file.startsWith(`${d}/`));
  return [...graph].flatMap(([file, deps]) =>
    under(file, from) && !allowed(file) ? deps.filter((dep) => under(dep, to)).map((dep) => `${file} -> ${dep}`) : [],
  );
}

describe('dependency rules', () => {
  it('reads a real graph (the route table is imported by the pipeline, dynamic imports included)', () => {
    expect(graph.get('shared/http/pipeline.ts')).toContain('shared/routes.ts');
    expect(graph.get('functions/management.ts')).toContain('functions/management/api-keys.ts');
    expect(graph.size).toBeGreaterThan(200);
  });

  it('has no import cycle among source files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('shared/ and functions/ import nothing from infra/, cli/, scripts/, bench/, web/ or test/', () => {
    expect(importsInto(['shared', 'functions'], ['infra', 'cli', 'scripts', 'bench', 'web', 'test'])).toEqual([]);
  });

  it('cli/ and infra/ outside infra/local import nothing from infra/local', () => {
    expect(importsInto(['cli', 'infra'], ['infra/local'], (file) => file.startsWith('infra/local/'))).toEqual([]);
  });

  it('web/ imports no shared/db, functions or infra', () => {
    expect(importsInto(['web'], ['shared/db', 'functions', 'infra'])).toEqual([]);
  });

  it('pure rules import no DynamoDB access, request pipeline or function (domain <- db <- http <- functions)', () => {
    expect(importsInto(['shared/domain'], ['shared/db', 'shared/http', 'functions'])).toEqual([]);
    expect(importsInto(['shared/db'], ['shared/http', 'functions'])).toEqual([]);
    expect(importsInto(['shared/http'], ['functions'])).toEqual([]);
  });
});
