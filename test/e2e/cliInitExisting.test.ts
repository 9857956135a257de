/**
 * `flujo init` in a folder that is already a repository, as a user meets it: an existing
 * `.gitignore` is the user's and gets the lines it lacks (never refused, never replaced, also
 * under --force); the printed next commands paste as commands; Ctrl-C or Ctrl-D at the question
 * is INTERRUPTED (exit 130) with nothing written. Before: `already has .gitignore; use --force to
 * overwrite them`, and --force lost the user's lines; `… --input "Ada"# runs …` ran `Ada#` as
 * the input; the question's Ctrl-C/Ctrl-D was `internal error … a bug in Flujo`, exit 1.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';
import { hasScript, onTerminal } from './terminal.js';

let p: string;
beforeEach(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-init-repo-'));
});
afterEach(() => rmSync(p, { recursive: true, force: true }));

const read = (f: string) => readFileSync(join(p, f), 'utf8');
const actions = (stdout: string) =>
  Object.fromEntries(
    (JSON.parse(stdout) as { files: { path: string; action: string }[] }).files.map((f) => [
      f.path,
      f.action,
    ]),
  );

describe('flujo init beside an existing .gitignore', () => {
  it('adds the lines it lacks at its end and keeps every line of the user', () => {
    writeFileSync(join(p, '.gitignore'), 'secrets.env\n.env\ndist/');
    const r = runCli(['init', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    expect(read('.gitignore')).toBe('secrets.env\n.env\ndist/\n.flujo/\nnode_modules/\n');
    expect(r.stderr).toContain('updated .gitignore');
    expect(actions(r.stdout)).toMatchObject({
      '.gitignore': 'updated',
      'pipeline.yaml': 'created',
    });
  });

  it('leaves one that has them all as it is, and says so', () => {
    const mine = '# mine\n  .flujo/  \nnode_modules/\r\n.env\n';
    writeFileSync(join(p, '.gitignore'), mine);
    const r = runCli(['init', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    expect(read('.gitignore')).toBe(mine);
    expect(r.stderr).toContain('kept .gitignore');
    expect(actions(r.stdout)['.gitignore']).toBe('kept');
  });

  it('under --force too: other files are overwritten, the .gitignore is merged', () => {
    writeFileSync(join(p, '.gitignore'), 'secrets.env\n');
    writeFileSync(join(p, 'pipeline.yaml'), 'mine\n');
    const r = runCli(['init', '--force', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    expect(read('.gitignore')).toBe('secrets.env\n.flujo/\n.env\nnode_modules/\n');
    expect(actions(r.stdout)).toMatchObject({
      '.gitignore': 'updated',
      'pipeline.yaml': 'overwrote',
    });
    expect(read('pipeline.yaml')).not.toBe('mine\n');
  });

  it('an existing file other than .gitignore is still refused, named in the singular', () => {
    writeFileSync(join(p, '.gitignore'), 'secrets.env\n');
    writeFileSync(join(p, 'flujo.toml'), '# mine\n');
    const r = runCli(['init'], { cwd: p });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${p} already has flujo.toml; use --force to overwrite it;`);
    expect(r.stderr).not.toContain('.gitignore');
    // Nothing written: not even the lines the .gitignore lacks.
    expect(read('.gitignore')).toBe('secrets.env\n');
    expect(readdirSync(p).sort()).toEqual(['.gitignore', 'flujo.toml']);
  });
});

describe("flujo init's next commands", () => {
  it('leave two spaces before each comment, so a pasted line is the command and its comment', () => {
    const project = join(p, 'proj');
    const r = runCli(['init', '--project', project], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.includes('# '));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l).toMatch(/\S {2,}# /);
    expect(r.stderr).toContain(`--input "Ada"  `);
  });
});

describe.skipIf(!hasScript)("flujo init's question on a terminal", () => {
  for (const [key, name] of [
    ['\x03', 'Ctrl-C'],
    ['\x04', 'Ctrl-D'],
  ] as const)
    it(`${name} is INTERRUPTED, exit 130, and nothing is written`, async () => {
      const r = await onTerminal(['init'], p, '[Y/n]', key);
      expect(r.code, r.output).toBe(130);
      expect(r.output).toContain('[INTERRUPTED] interrupted; nothing was written');
      expect(r.output).not.toContain('internal error');
      expect(readdirSync(p)).toEqual([]);
    });

  it('an answer still writes the project', async () => {
    const r = await onTerminal(['init'], p, '[Y/n]', 'y\r');
    expect(r.code, r.output).toBe(0);
    expect(readdirSync(p)).toContain('pipeline.yaml');
  });
});
