/**
 * Every relative link in README.md, docs/*.md and the ADRs points at a file that exists and, with
 * `#anchor`, at a heading of that file as GitHub renders it. A page renamed or a heading reworded
 * without its links fails here, naming the page, the line and the link.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

function pages(): string[] {
  const md = (dir: string) =>
    readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join(dir, f));
  return ['README.md', ...md('docs'), ...md('docs/adr')];
}

/** GitHub's heading anchor (github-slugger): lower-cased, punctuation dropped, spaces to '-'. */
export function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a page's headings get, duplicates numbered as GitHub numbers them. */
export function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutFences(md).split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Fenced blocks blanked, line numbers kept: a heading or a link there is neither. */
function withoutFences(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) =>
    block.replace(/[^\n]/g, ' '),
  );
}

/** Inline code blanked too: `[a](b)` there is text. */
function withoutCode(md: string): string {
  return withoutFences(md).replace(/`[^`\n]*`/g, (code) => ' '.repeat(code.length));
}

interface Link {
  readonly page: string;
  readonly line: number;
  readonly target: string;
}

export function links(page: string, md: string): Link[] {
  const found: Link[] = [];
  withoutCode(md)
    .split('\n')
    .forEach((text, i) => {
      for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
        found.push({ page, line: i + 1, target: m[1]! });
    });
  return found;
}

function broken(link: Link): string | null {
  const { page, target } = link;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null; // https:, mailto: …
  const [pathPart = '', anchor] = target.split('#', 2);
  const file = pathPart === '' ? join(root, page) : join(root, dirname(page), pathPart);
  if (!existsSync(file)) return `${relative(root, file)} does not exist`;
  if (anchor === undefined || anchor === '') return null;
  if (statSync(file).isDirectory() || !file.endsWith('.md'))
    return `#${anchor} on ${relative(root, file)}, which has no headings`;
  const known = anchors(readFileSync(file, 'utf8'));
  return known.has(decodeURIComponent(anchor))
    ? null
    : `${relative(root, file)} has no heading #${anchor}`;
}

describe('links in README.md and docs/', () => {
  it('computes anchors as GitHub does', () => {
    expect(slug('`flujo create --goal TEXT [options]`')).toBe('flujo-create---goal-text-options');
    expect(slug('Exit codes')).toBe('exit-codes');
    expect([
      ...anchors('# A\n## Keys\n```\n## Not a heading\n```\n### Keys\n## `--x`: y\n'),
    ]).toEqual(['a', 'keys', 'keys-1', '--x-y']);
    expect(links('x.md', 'see [a](b.md#c) and `[no](d.md)`')).toEqual([
      { page: 'x.md', line: 1, target: 'b.md#c' },
    ]);
  });

  it('point at files and headings that exist', () => {
    const all = pages().flatMap((p) => links(p, readFileSync(join(root, p), 'utf8')));
    expect(all.length).toBeGreaterThan(20);
    const bad = all.flatMap((l) => {
      const why = broken(l);
      return why ? [`${l.page}:${l.line}: (${l.target}) ${why}`] : [];
    });
    expect(bad).toEqual([]);
  });
});
