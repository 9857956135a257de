/**
 * Resolution failures (ADR 76): a `uses:` module, an agent `path:`, an export or an import that
 * cannot be found exits 3 from `flujo validate` and `flujo run`, whatever else is wrong, and the
 * findings come sorted by file, line and column.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-resolve-'));
mkdirSync(join(dir, 'mods'));
mkdirSync(join(dir, 'sub'));
writeFileSync(join(dir, 'mods/m.mjs'), 'export function other(x) { return x; }\n');
writeFileSync(join(dir, 'mods/t.ts'), 'export function clean(x: string): string { return x; }\n');
const files: Record<string, string> = {
  'ts.yaml': `version: "0.1"
steps:
  - kind: step
    name: a
    uses: ./mods/t.ts#clean
`,
  'missing.yaml': `version: "0.1"
steps:
  - kind: step
    name: a
    uses: ./mods/missing.mjs#fn
`,
  'agentpath.yaml': `version: "0.1"
steps:
  - kind: step
    name: a
    agent: { path: ./mods/gone.mjs, export: run }
`,
  'export.yaml': `version: "0.1"
steps:
  - kind: step
    name: a
    uses: ./mods/m.mjs#othr
`,
  'nested.yaml': `version: "0.1"
imports:
  child: ./sub/child.yaml
steps:
  - kind: step
    name: c
    uses: imports.child
`,
  'sub/child.yaml': `version: "0.1"
steps:
  - kind: step
    name: inner
    uses: ../mods/nowhere.mjs#fn
`,
  'both.yaml': `version: "0.1"
steps:
  - kind: step
    name: b
    uses: ./mods/missing.mjs#fn
  - kind: step
    name: a
    bogus: 1
    input: "{{ previous_step.output }}"
`,
};
for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
writeFileSync(join(dir, 'flujo.toml'), 'state_uri = "memory://"\n');
const cli = (...args: string[]) => runCli(['--project', dir, ...args], { cwd: dir });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolution failures exit 3', () => {
  it.each([
    ['missing.yaml', 5, 11, /module '\.\/mods\/missing\.mjs' does not exist/],
    ['agentpath.yaml', 5, 20, /module '\.\/mods\/gone\.mjs' does not exist/],
    ['export.yaml', 5, 11, /has no export 'othr' \(exports: other\)/],
  ])(
    '%s: validate and run exit 3, the JSON report names the uses: value',
    (f, line, column, msg) => {
      const v = cli('validate', f, '--format', 'json');
      expect(v.code).toBe(3);
      const report = JSON.parse(v.stdout);
      expect(report.is_valid).toBe(false);
      expect(report.errors).toHaveLength(1);
      expect(report.errors[0]).toMatchObject({ rule_id: 'V-A6', file: f, line, column });
      expect(report.errors[0].message).toMatch(msg);
      expect(cli('validate', f).code).toBe(3);
      expect(cli('validate', f, '--no-strict').code).toBe(3);
      const r = cli('run', f, '--input', 'x');
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`${f}:${line}:${column}`));
    },
  );

  // Node 22.18+ strips types itself; before that a .ts module is refused by its extension.
  const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);
  it.skipIf(stripsTypes)(
    'a .ts module without a TypeScript loader: exit 3 saying how to load it',
    () => {
      const v = cli('validate', 'ts.yaml', '--format', 'json');
      expect(v.code).toBe(3);
      const [err] = JSON.parse(v.stdout).errors;
      expect(err).toMatchObject({ rule_id: 'V-A6', file: 'ts.yaml', line: 5, column: 11 });
      expect(err.suggestion).toMatch(/TypeScript loader: run flujo under tsx .*compiled \.js/);
      const r = cli('run', 'ts.yaml', '--input', 'x');
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        /ts\.yaml:5:11: cannot import .*t\.ts.*TypeScript loader: run flujo under tsx/,
      );
    },
  );

  it('a missing module in an imported child exits 3 from the parent', () => {
    const v = cli('validate', 'nested.yaml', '--format', 'json');
    expect(v.code).toBe(3);
    const report = JSON.parse(v.stdout);
    expect(report.errors.map((e: { rule_id: string }) => e.rule_id)).toEqual(['V-I4', 'V-A6']);
    expect(report.errors[1]).toMatchObject({ file: 'sub/child.yaml', line: 5, column: 11 });
    expect(cli('run', 'nested.yaml', '--input', 'x').code).toBe(3);
  });

  it('a resolution error with a plain validation error exits 3; findings sorted by place', () => {
    const v = cli('validate', 'both.yaml', '--format', 'json');
    expect(v.code).toBe(3);
    const report = JSON.parse(v.stdout);
    const at = (fs: { line: number; column: number; rule_id: string }[]) =>
      fs.map((f) => `${f.line}:${f.column} ${f.rule_id}`);
    expect(at(report.errors)).toEqual(['5:11 V-A6', '8:5 V-K1']);
    expect(at(report.warnings)).toEqual(['6:5 V-A1', '9:12 V-T1']);
    const text = cli('validate', 'both.yaml')
      .stdout.split('\n')
      .filter((l) => /^both/.test(l));
    expect(text.map((l) => l.split(': ')[0])).toEqual([
      'both.yaml:5:11',
      'both.yaml:6:5',
      'both.yaml:8:5',
      'both.yaml:9:12',
    ]);
    expect(cli('run', 'both.yaml', '--input', 'x').code).toBe(3);
  });
});
