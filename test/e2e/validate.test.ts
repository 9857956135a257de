/** `flujo validate` as a user runs it: the built CLI, text / json / sarif, exit codes 0, 4, 3. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const BP = fileURLToPath(new URL('../blueprint', import.meta.url));
const run = (...args: string[]) => runCli(['--project', BP, ...args], { cwd: BP });

describe('flujo validate', () => {
  it('exits 0 on a valid blueprint (text)', () => {
    const r = run('validate', join(BP, 'fixtures/step/basic.yaml'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/is valid/);
  });

  it('exits 4 with a JSON report pointing at the unknown key', () => {
    const r = run('validate', 'rules/V-K1.yaml', '--format', 'json');
    expect(r.code).toBe(4);
    const report = JSON.parse(r.stdout);
    expect(report.is_valid).toBe(false);
    expect(report.errors[0]).toMatchObject({
      rule_id: 'V-K1',
      line: 5,
      column: 5,
      step_name: 's1',
    });
    expect(report.errors[0].suggestion).toMatch(/input/);
    expect(report.path).toMatch(/V-K1\.yaml$/);
  });

  it('takes --json for --format json, as every read command does, and refuses both at once', () => {
    const json = run('validate', 'rules/V-K1.yaml', '--json');
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toEqual(
      JSON.parse(run('validate', 'rules/V-K1.yaml', '--format', 'json').stdout),
    );
    const both = run('validate', 'rules/V-K1.yaml', '--json', '--format', 'sarif');
    expect(both.code).toBe(2);
    // Under --json the refusal is one object on stdout (CONTRACTS), as every refusal is.
    expect(JSON.parse(both.stdout)).toEqual({
      error: { code: 'USAGE', message: expect.stringMatching(/'--json' cannot be used/) },
    });
    expect(both.stderr).toMatch(/'--json' cannot be used with option '--format/);
  });

  it('--no-strict reports but exits 0', () => {
    expect(run('validate', 'rules/V-K1.yaml', '--no-strict').code).toBe(0);
  });

  it('exits 3 when an import is missing', () => {
    const r = run('validate', 'rules/V-I1.yaml');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/V-I1/);
  });

  it('emits SARIF 2.1.0', () => {
    const r = run('validate', 'rules/V-T1.yaml', '--format', 'sarif');
    expect(r.code).toBe(0);
    const sarif = JSON.parse(r.stdout);
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].results[0]).toMatchObject({
      ruleId: 'V-T1',
      level: 'warning',
      locations: [{ physicalLocation: { region: { startLine: 6, startColumn: 12 } } }],
    });
  });

  it('explain and visualize describe a valid blueprint', () => {
    const e = run('explain', 'fixtures/hitl/approve.yaml');
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/approve: pauses for a human answer/);
    const v = run('visualize', 'fixtures/parallel/fan.yaml');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^flowchart TD/);
  });

  it('explain --json: one object with the explanation, or the findings of an invalid blueprint', () => {
    const e = run('explain', 'fixtures/hitl/approve.yaml', '--json');
    expect(e.code).toBe(0);
    const j = JSON.parse(e.stdout);
    expect(j.path).toMatch(/fixtures\/hitl\/approve\.yaml$/);
    expect(typeof j.pipeline).toBe('string');
    expect(j.explanation).toContainEqual(expect.stringMatching(/approve: pauses for a human/));
    // The flags it names exist: flujo run takes --budget-usd / --budget-tokens.
    expect(j.explanation).toContainEqual(expect.stringMatching(/--budget-usd \/ --budget-tokens/));
    const bad = run('explain', 'rules/V-K2.yaml', '--json');
    expect(bad.code).toBe(4);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      is_valid: false,
      errors: [{ rule_id: 'V-K2' }],
    });
  });
});

describe('flujo validate knows the skills flujo run gives the blueprint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-validate-skills-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'skills'));
  writeFileSync(join(dir, 'flujo.toml'), '');
  writeFileSync(
    join(dir, 'skills/clean.mjs'),
    'export function clean(x) { return String(x).trim(); }\n',
  );
  writeFileSync(
    join(dir, 'skills.yaml'),
    'acme.clean:\n  path: ./skills/clean.mjs\n  export: clean\n  description: Trims text.\n',
  );
  const bp = (id: string) => `version: "0.1"\nsteps:\n  - name: t\n    agent: { id: ${id} }\n`;
  writeFileSync(join(dir, 'builtin_typo.yaml'), bp('flujo.builtins.stringfy'));
  writeFileSync(join(dir, 'project_typo.yaml'), bp('acme.cleen'));
  writeFileSync(join(dir, 'good.yaml'), bp('acme.clean'));
  const cli = (...args: string[]) => runCli(args, { cwd: dir });

  it.each([
    ['builtin_typo.yaml', 'flujo.builtins.stringfy', 'flujo.builtins.stringify'],
    ['project_typo.yaml', 'acme.cleen', 'acme.clean'],
  ])('%s: an unknown skill id is V-A6 (exit 4), as flujo run refuses it', (f, id, near) => {
    const v = cli('validate', f, '--format', 'json');
    expect(v.code, v.stderr).toBe(4);
    expect(JSON.parse(v.stdout).errors).toEqual([
      expect.objectContaining({
        rule_id: 'V-A6',
        line: 4,
        column: 18,
        message: expect.stringContaining(`unknown skill id '${id}'`),
        suggestion: `use '${near}'`,
      }),
    ]);
    expect(cli('run', f, '--input', 'x').code).toBe(4);
  });

  it('a project skill from skills.yaml is known: valid, and it runs', () => {
    expect(cli('validate', 'good.yaml').code).toBe(0);
    const r = cli('run', 'good.yaml', '--input', '  x  ', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', output: 'x' });
  });
});
