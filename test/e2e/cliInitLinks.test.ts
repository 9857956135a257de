/**
 * `flujo init` where a file it writes is a link (ADR 157), as `flujo create` treats its
 * pipeline.yaml: a link to nothing is refused; a link to a file inside the project is that file
 * (refused as existing without --force, written through with it, the link kept); a link leading
 * out of the project is refused, also under --force, and the file it leads to is left as it was.
 * Before: --force wrote through a link to a file outside the project.
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

let base: string;
let p: string;
/** A file outside the project (in a folder beside it). */
let outside: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'flujo-init-links-'));
  p = join(base, 'project');
  mkdirSync(p);
  mkdirSync(join(base, 'elsewhere'));
  outside = join(base, 'elsewhere', 'theirs.txt');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

/** Refused with CONFIG_INVALID (exit 2), one object under --json, nothing written. */
function refused(args: string[], says: string) {
  const before = readdirSync(p).sort();
  const r = runCli(['init', '--yes', '--json', ...args], { cwd: p });
  expect(r.code, r.stderr).toBe(2);
  expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
  expect(r.stderr).toContain(says);
  expect(r.stderr).toContain('nothing was written');
  expect(readdirSync(p).sort()).toEqual(before);
}

describe('flujo init where a file it writes is a link', () => {
  it('to a file outside the project: refused, also under --force; that file is left as it was', () => {
    writeFileSync(outside, 'theirs\n');
    symlinkSync('../elsewhere/theirs.txt', join(p, 'pipeline.yaml'));
    for (const force of [[], ['--force']])
      refused(
        force,
        `${join(p, 'pipeline.yaml')} is a link to ${outside}, outside the project; init writes no file outside it (not with --force either)`,
      );
    expect(readFileSync(outside, 'utf8')).toBe('theirs\n');
  });

  it('to nothing: refused, also under --force, and no file is made where it points', () => {
    symlinkSync('../elsewhere/owned.txt', join(p, 'flujo.toml'));
    for (const force of [[], ['--force']])
      refused(force, `is a link to ../elsewhere/owned.txt, which does not exist`);
    expect(readdirSync(join(base, 'elsewhere'))).toEqual([]);
  });

  it('to a file inside the project: refused as existing without --force; with it, that file is written and the link kept', () => {
    mkdirSync(join(p, 'pipelines'));
    writeFileSync(join(p, 'pipelines', 'main.yaml'), 'mine\n');
    symlinkSync('pipelines/main.yaml', join(p, 'pipeline.yaml'));
    refused([], 'already has pipeline.yaml; use --force to overwrite it');
    const r = runCli(['init', '--yes', '--force'], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p, 'pipelines', 'main.yaml'), 'utf8')).toContain('name: welcome');
    expect(lstatSync(join(p, 'pipeline.yaml')).isSymbolicLink()).toBe(true);
  });

  it('a .gitignore leading out of the project: refused when lines would be added, kept when it has them', () => {
    writeFileSync(outside, 'dist/\n');
    symlinkSync('../elsewhere/theirs.txt', join(p, '.gitignore'));
    refused([], `${join(p, '.gitignore')} is a link to ${outside}, outside the project`);
    expect(readFileSync(outside, 'utf8')).toBe('dist/\n');

    writeFileSync(outside, '.flujo/\n.env\nnode_modules/\n');
    const r = runCli(['init', '--yes', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('kept .gitignore');
    expect(readFileSync(outside, 'utf8')).toBe('.flujo/\n.env\nnode_modules/\n');
  });
});
