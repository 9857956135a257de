/**
 * `validate`, `run` and `explain` read flujo.toml's `blueprint_allowed_imports` alike (ADR 152):
 * a module outside the project that an entry allows loads in all three; without the entry all
 * three refuse it (exit 3) with the same V-A6 finding, whose fix names the key and the line.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'flujo-allow-e2e-')));
const dir = join(base, 'project');
mkdirSync(dir);
mkdirSync(join(base, 'shared'));
writeFileSync(join(base, 'shared', 'm.mjs'), 'export function run(x) { return `shared:${x}`; }\n');
writeFileSync(
  join(dir, 'p.yaml'),
  'version: "0.1"\nname: p\nsteps:\n  - name: s\n    uses: ../shared/m.mjs#run\n',
);
const toml = (extra: string) =>
  writeFileSync(join(dir, 'flujo.toml'), `${extra}\nstate_uri = "memory://"\n`);
const cli = (...args: string[]) => runCli(['--project', dir, ...args], { cwd: dir });

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('blueprint_allowed_imports: validate, run and explain agree', () => {
  it('without an entry: all refuse the module, exit 3, naming the key and the line', () => {
    toml('');
    const v = cli('validate', 'p.yaml', '--format', 'json');
    expect(v.code).toBe(3);
    const [err] = JSON.parse(v.stdout).errors;
    expect(err).toMatchObject({ rule_id: 'V-A6', file: 'p.yaml', line: 5, column: 11 });
    expect(err.suggestion).toBe(
      'move the module into the project, or allow it: add the line blueprint_allowed_imports = ["../shared/m.mjs"] to flujo.toml, above its first [table]',
    );
    const r = cli('run', 'p.yaml', '--input', 'x');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`p.yaml:5:11: error V-A6: s: module '../shared/m.mjs' is outside`);
    expect(r.stderr).toContain('blueprint_allowed_imports = ["../shared/m.mjs"]');
    expect(cli('explain', 'p.yaml').code).toBe(3);
  });

  it('with a glob relative to the project root: validate is clean and run calls the module', () => {
    toml('blueprint_allowed_imports = ["../shared/*.mjs"]');
    const v = cli('validate', 'p.yaml');
    expect(v.stdout).toMatch(/is valid \(0 errors, 0 warnings\)/);
    expect(v.code).toBe(0);
    const r = cli('run', 'p.yaml', '--input', 'x', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', output: 'shared:x' });
    expect(cli('explain', 'p.yaml').code).toBe(0);
  });
});
