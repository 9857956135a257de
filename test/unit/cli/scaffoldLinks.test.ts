/**
 * The flujo.toml that `flujo init` writes points a newcomer at things that exist: the docs page
 * it names is in this repository, the command it names is one the CLI has, and it carries no
 * placeholder URL.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FLUJO_TOML, SCAFFOLD } from '../../../src/cli/scaffold/files.js';

const root = join(import.meta.dirname, '../../..');
const comments = FLUJO_TOML.split('\n').filter((l) => l.startsWith('#'));

describe('the flujo.toml flujo init writes', () => {
  it('is the scaffold file written as flujo.toml', () => {
    expect(SCAFFOLD.find((f) => f.path === 'flujo.toml')?.text).toBe(FLUJO_TOML);
  });

  it('names a docs page that exists and no placeholder URL', () => {
    const head = comments.slice(0, 2).join('\n');
    const pages = [...head.matchAll(/docs\/[\w-]+\.md/g)].map((m) => m[0]);
    expect(pages).toEqual(['docs/configuration.md']);
    for (const p of pages) expect(existsSync(join(root, p)), p).toBe(true);
    expect(FLUJO_TOML).not.toMatch(/https?:\/\/github\.com/);
  });

  it('names a command the CLI has', () => {
    const main = readFileSync(join(root, 'src/cli/main.ts'), 'utf8');
    const named = [...comments.join('\n').matchAll(/`flujo ([\w-]+)/g)].map((m) => m[1]);
    expect(named).toContain('show-config');
    for (const c of named) expect(main, `flujo ${c}`).toContain(`.command('${c}')`);
  });
});
