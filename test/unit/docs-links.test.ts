// Every relative link in the README and docs points at a file that exists, and every `#anchor` at
// a heading of that file, so moving or renaming a page or a heading cannot leave a dead link.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headingAnchors, links, markdownFiles, REPO } from '../support/markdown.ts';

describe('docs links', () => {
  it('finds the README and the docs pages', () => {
    const files = markdownFiles();
    expect(files).toContain('README.md');
    expect(files.filter((f) => f.startsWith('docs/')).length).toBeGreaterThan(2);
  });

  it.each(markdownFiles())('%s: every relative link and anchor resolves', (file) => {
    const broken: string[] = [];
    for (const link of links(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue; // https:, mailto: …: not checked offline
      const [path, anchor] = link.target.split('#') as [string, string | undefined];
      const target = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
      if (target.startsWith('..') || !existsSync(join(REPO, target))) {
        broken.push(`${file}:${link.line} → ${link.target} (no file ${target})`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && statSync(join(REPO, target)).isFile() && !headingAnchors(target).has(anchor)) {
        broken.push(`${file}:${link.line} → ${link.target} (no heading #${anchor} in ${target})`);
      }
    }
    expect(broken).toEqual([]);
  });
});
