/**
 * `flujo init` checks every path it would write before it writes one: a file where it makes a
 * folder, a folder where it writes a file, or (without --force) a file it would overwrite is
 * CONFIG_INVALID naming it (exit 2), and nothing is written. Before, it wrote flujo.toml,
 * pipeline.yaml and skills.yaml, then failed with `internal error: EEXIST … mkdir '…/skills'`
 * (exit 1), leaving a half-written project a second init refused.
 */
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { runCli, type CliResult } from './cli.js';

let p: string;
beforeEach(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-init-'));
});
afterEach(() => {
  chmodSync(p, 0o700);
  rmSync(p, { recursive: true, force: true });
});

const refused = (r: CliResult) => {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toContain('error: [CONFIG_INVALID] ');
  expect(r.stderr).toContain('nothing was written');
  expect(r.stderr).not.toContain('internal error');
  expect(r.stderr).not.toContain('a bug in Flujo');
  expect(r.stderr).not.toContain('created ');
  expect(r.stdout).toBe('');
};
const ls = (dir: string) => readdirSync(dir).sort();

describe('flujo init refuses a path it cannot write, before writing anything', () => {
  it('a file named skills where it makes the skills/ folder', () => {
    writeFileSync(join(p, 'skills'), 'my notes\n');
    for (const args of [['init'], ['init', '--force']]) {
      const r = runCli(args, { cwd: p });
      refused(r);
      expect(r.stderr).toContain(
        `${join(p, 'skills')} is a file where init makes the folder skills/`,
      );
      expect(r.stderr).toContain('remove or rename it');
      expect(ls(p)).toEqual(['skills']);
      expect(readFileSync(join(p, 'skills'), 'utf8')).toBe('my notes\n');
    }
    // Moved out of the way, init writes the whole project.
    rmSync(join(p, 'skills'));
    expect(runCli(['init'], { cwd: p }).code).toBe(0);
    expect(ls(p)).toEqual([
      '.env.example',
      '.gitignore',
      'flujo.toml',
      'pipeline.yaml',
      'skills',
      'skills.yaml',
    ]);
  });

  it('a folder named flujo.toml, also with --force, which does not replace a folder', () => {
    mkdirSync(join(p, 'flujo.toml'));
    writeFileSync(join(p, 'flujo.toml', 'keep.txt'), 'mine\n');
    for (const args of [['init'], ['init', '--force']]) {
      const r = runCli(args, { cwd: p });
      refused(r);
      expect(r.stderr).toContain(`${join(p, 'flujo.toml')} is a folder where init writes the file`);
      expect(r.stderr).toContain('--force does not replace a folder');
      expect(ls(p)).toEqual(['flujo.toml']);
      expect(ls(join(p, 'flujo.toml'))).toEqual(['keep.txt']);
    }
  });

  it('names every problem at once: an existing file without --force and a folder in the way', () => {
    writeFileSync(join(p, 'pipeline.yaml'), 'mine\n');
    mkdirSync(join(p, '.gitignore'));
    const r = runCli(['init'], { cwd: p });
    refused(r);
    expect(r.stderr).toContain(`${join(p, '.gitignore')} is a folder`);
    expect(r.stderr).toMatch(/already has pipeline\.yaml; use --force to overwrite it;/);
    expect(ls(p)).toEqual(['.gitignore', 'pipeline.yaml']);
    expect(readFileSync(join(p, 'pipeline.yaml'), 'utf8')).toBe('mine\n');
  });

  it('a --project folder that cannot be made because a file is in its path', () => {
    writeFileSync(join(p, 'f'), '');
    const r = runCli(['init', '--project', join(p, 'f', 'sub')], { cwd: p });
    refused(r);
    expect(r.stderr).toContain(`${join(p, 'f')} is a file, so the project folder`);
    expect(ls(p)).toEqual(['f']);
  });

  it('makes a --project folder that does not exist', () => {
    const r = runCli(['init', '--project', join(p, 'a', 'b')], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    expect(ls(join(p, 'a', 'b'))).toContain('pipeline.yaml');
  });
});

// Permission bits do not bind root: as root, the CLI runs as nobody in a project folder nobody
// owns, with a skills/ folder root owns; otherwise skills/ is made read-only.
const root = process.getuid?.() === 0;
const NOBODY = 65534;

describe('flujo init where a write fails (a skills/ folder this user may not write)', () => {
  const setUp = () => {
    mkdirSync(join(p, 'skills'));
    if (root) {
      chmodSync(join(p, 'skills'), 0o755);
      chownSync(p, NOBODY, NOBODY);
    } else chmodSync(join(p, 'skills'), 0o555);
  };
  const asUser = (args: string[]) =>
    runCli(args, {
      cwd: p,
      ...(root ? { uid: NOBODY, gid: NOBODY, env: { HOME: '/tmp' } } : {}),
    });
  afterEach(() => chmodSync(join(p, 'skills'), 0o755));

  it('is refused naming the file, and leaves nothing it wrote', () => {
    setUp();
    const r = asUser(['init']);
    refused(r);
    expect(r.stderr).toContain(
      `cannot write ${join(p, 'skills', 'shout.mjs')} (EACCES: permission denied)`,
    );
    expect(ls(p)).toEqual(['skills']);
    expect(ls(join(p, 'skills'))).toEqual([]);
  });

  it('with --force puts back the files it had replaced', () => {
    setUp();
    writeFileSync(join(p, 'flujo.toml'), '# mine\n');
    if (root) chownSync(join(p, 'flujo.toml'), NOBODY, NOBODY);
    const r = asUser(['init', '--force']);
    refused(r);
    expect(ls(p)).toEqual(['flujo.toml', 'skills']);
    expect(readFileSync(join(p, 'flujo.toml'), 'utf8')).toBe('# mine\n');
  });
});
