// The repository's Markdown as the docs tests read it: which files, their fenced blocks, links and
// heading anchors (as GitHub renders them, with github-slugger).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import GithubSlugger from 'github-slugger';

export const REPO = join(import.meta.dirname, '..', '..');

/** README.md, CHANGELOG.md and every page under docs/ and examples/, relative to the repository. */
export function markdownFiles(): string[] {
  const files = ['README.md', 'CHANGELOG.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(REPO, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules') walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  walk('examples');
  return files.filter((file) => {
    try {
      readFileSync(join(REPO, file));
      return true;
    } catch {
      return false;
    }
  });
}

export interface CodeBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string, e.g. `sh runnable`. */
  info: string;
  code: string;
}

interface Parsed {
  blocks: CodeBlock[];
  /** Lines outside fenced blocks, with their 1-based line numbers. */
  prose: { line: number; text: string }[];
}

function parse(file: string): Parsed {
  const lines = readFileSync(join(REPO, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  const prose: Parsed['prose'] = [];
  let open: { fence: string; line: number; info: string; body: string[] } | undefined;
  lines.forEach((text, i) => {
    const fence = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(text);
    if (open) {
      if (fence && fence[1]!.startsWith(open.fence) && fence[2]!.trim() === '') {
        blocks.push({ file, line: open.line, info: open.info, code: open.body.join('\n') });
        open = undefined;
      } else open.body.push(text);
    } else if (fence) open = { fence: fence[1]!, line: i + 1, info: fence[2]!.trim(), body: [] };
    else prose.push({ line: i + 1, text });
  });
  return { blocks, prose };
}

/** Fenced blocks whose info string has the word `runnable` (e.g. ```` ```sh runnable ````). */
export function runnableBlocks(file: string): CodeBlock[] {
  return parse(file).blocks.filter((block) => block.info.split(/\s+/).includes('runnable'));
}

/** Anchors GitHub gives the file's headings (`## Deploy` → `deploy`, repeats get `-1`, `-2`). */
export function headingAnchors(file: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const { text } of parse(file).prose) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (heading) anchors.add(slugger.slug(heading[1]!.replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')));
  }
  return anchors;
}

export interface Link {
  file: string;
  line: number;
  target: string;
}

/** Inline links and images outside code (fences and `inline code`), e.g. `[text](docs/api.md#errors)`. */
export function links(file: string): Link[] {
  const found: Link[] = [];
  for (const { line, text } of parse(file).prose) {
    const withoutCode = text.replace(/`[^`]*`/g, '');
    for (const match of withoutCode.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      found.push({ file, line, target: match[1]! });
    }
  }
  return found;
}

export function relativeToRepo(path: string): string {
  return relative(REPO, path);
}
