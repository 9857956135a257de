/** `flujo validate` as a user runs it: the built CLI, text / json / sarif, exit codes 0, 4, 3. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

describe('flujo validate takes the model ids flujo run takes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-validate-models-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'flujo.toml'), '');
  const bp = (agent: string) => `version: "0.1"\nsteps:\n  - name: t\n    agent: "${agent}"\n`;
  writeFileSync(join(dir, 'mistral.yaml'), bp('mistral:large'));
  writeFileSync(join(dir, 'compatible.yaml'), bp('openai:llama3'));
  const cli = (...args: string[]) => runCli(args, { cwd: dir });

  it('an unknown provider is V-A6 in validate and run (was valid, then CONFIG_UNKNOWN_MODEL)', () => {
    const v = cli('validate', 'mistral.yaml', '--format', 'json');
    expect(v.code, v.stderr).toBe(4);
    expect(JSON.parse(v.stdout).errors).toEqual([
      expect.objectContaining({
        rule_id: 'V-A6',
        line: 4,
        column: 12,
        message: expect.stringMatching(/^t: unknown model id "mistral:large": use openai:<model>/),
      }),
    ]);
    const r = cli('run', 'mistral.yaml', '--input', 'x');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/BLUEPRINT_INVALID.*\n.*V-A6: t: unknown model id "mistral:large"/);
  });

  it('openai:<model> (an OpenAI-compatible server with a base URL) stays valid', () => {
    const v = cli('validate', 'compatible.yaml');
    expect(v.code, v.stdout).toBe(0);
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

  it("a blueprint in a folder with no skills.yaml gets the root's, from validate, run --dry-run and run alike", () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub/good.yaml'), bp('acme.clean'));
    expect(cli('validate', 'sub/good.yaml').code).toBe(0);
    // Before: the dry run read only sub/'s skills and refused acme.clean (exit 4), which run takes.
    const dry = cli('run', 'sub/good.yaml', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ validated: true });
    const r = cli('run', 'sub/good.yaml', '--input', ' y ', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', output: 'y' });
  });
});

describe('flujo validate finds the pipeline as flujo run does', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-validate-where-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'flujo.toml'), '');
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    'version: "0.1"\nsteps:\n  - name: t\n    agent: { id: flujo.builtins.stringify }\n',
  );
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, 'folder.yaml'));

  it("without PATH, the project's pipeline.yaml, from a subfolder or under --project", () => {
    // Before: USAGE '…/sub/pipeline.yaml does not exist' (exit 2), while run ran the project's.
    const sub = runCli(['validate'], { cwd: join(dir, 'sub') });
    expect(sub.code, sub.stderr).toBe(0);
    expect(sub.stdout).toContain(`✓ ${join(dir, 'pipeline.yaml')} is valid`);
    const elsewhere = runCli(['validate', '--project', dir, '--json'], { cwd: tmpdir() });
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect(JSON.parse(elsewhere.stdout)).toMatchObject({
      is_valid: true,
      path: join(dir, 'pipeline.yaml'),
    });
    for (const command of ['explain', 'visualize']) {
      const r = runCli([command], { cwd: join(dir, 'sub') });
      expect(r.code, `${command}: ${r.stderr}`).toBe(0);
    }
  });

  it('a missing file or a folder is CONFIG_INVALID (exit 2), as run refuses it', () => {
    // Before: USAGE for a missing file, and V-I1 'does not exist' (exit 3) for a folder.
    const missing = runCli(['validate', 'pipline.yaml'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('[CONFIG_INVALID]');
    expect(missing.stderr).toContain(`did you mean ${join(dir, 'pipeline.yaml')}?`);
    for (const command of ['validate', 'run']) {
      const folder = runCli([command, 'folder.yaml'], { cwd: dir });
      expect(folder.code, command).toBe(2);
      expect(folder.stderr).toContain(`[CONFIG_INVALID] ${join(dir, 'folder.yaml')} is a folder`);
    }
  });
});

describe('flujo validate, explain and visualize of a pipeline module (built CLI)', () => {
  // A module was parsed as YAML (YAML-LOAD, exit 4) whatever it held; it is loaded as run loads
  // it, and a module run refuses is a MODULE-LOAD finding in validate's shapes (exit 3).
  const dir = mkdtempSync(join(tmpdir(), 'flujo-validate-module-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  const builder = pathToFileURL(join(process.cwd(), 'dist/dsl/builder.js')).href;
  writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
  const mod = (name: string, options: string) =>
    writeFileSync(
      join(dir, name),
      `import { definePipeline, step } from '${builder}';\n\nexport default definePipeline(\n  'mod',\n  step('s', (x) => x + '!', ${options}),\n).plan;\n`,
    );
  mod('good.mjs', '{ retries: 1 }');
  mod('bad.mjs', '{ retries: -1 }');
  writeFileSync(join(dir, 'none.mjs'), 'export const x = 1;\n');
  writeFileSync(join(dir, 'syntax.mjs'), 'export default {\n  a: 1,\n  b: 2 3,\n};\n');
  writeFileSync(
    join(dir, 'asks.mjs'),
    `import { agentStep, definePipeline } from '${builder}';\nexport default definePipeline('asks', agentStep('ask', 'skill:flujo.builtins.ask_user')).plan;\n`,
  );

  it('a module run takes is valid: exit 0, no findings, in text, json and sarif', () => {
    const text = cli('validate', 'good.mjs');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/✓ .*good\.mjs is valid \(0 errors, 0 warnings\)/);
    const json = cli('validate', 'good.mjs', '--json');
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      is_valid: true,
      errors: [],
      warnings: [],
      path: join(dir, 'good.mjs'),
    });
    const sarif = JSON.parse(cli('validate', 'good.mjs', '--format', 'sarif').stdout);
    expect(sarif.runs[0].results).toEqual([]);
  });

  it('a module run refuses is one MODULE-LOAD finding at the place it failed, exit 3 (also --no-strict)', () => {
    const bad = cli('validate', 'bad.mjs', '--json');
    expect(bad.code, bad.stderr).toBe(3);
    expect(JSON.parse(bad.stdout)).toEqual({
      is_valid: false,
      errors: [
        {
          rule_id: 'MODULE-LOAD',
          severity: 'error',
          message:
            'could not be loaded: s: retries must be a whole number from 0 to 2^53 - 1, got -1',
          step_name: null,
          file: 'bad.mjs',
          // The builder checks the steps at definePipeline: its call, from the error's stack.
          line: 3,
          column: 16,
          suggestion: null,
        },
      ],
      warnings: [],
      path: join(dir, 'bad.mjs'),
    });
    expect(cli('validate', 'bad.mjs', '--no-strict').code).toBe(3);
    // A syntax error names no place on import: where `node --check` puts it.
    const syntax = cli('validate', 'syntax.mjs');
    expect(syntax.code).toBe(3);
    expect(syntax.stdout).toMatch(/^syntax\.mjs:3:8: error MODULE-LOAD: could not be loaded: /m);
    // No place to name: the file's start.
    const none = cli('validate', 'none.mjs');
    expect(none.code).toBe(3);
    expect(none.stdout).toContain(
      "none.mjs:1:1: error MODULE-LOAD: exports no pipeline; write `export default definePipeline('name', …)`",
    );
    expect(none.stdout).toMatch(/✗ .*none\.mjs is invalid \(1 error, 0 warnings\)/);
    // A refusal of its own code: SKILL_NOT_CALLABLE, the step named.
    const asks = JSON.parse(cli('validate', 'asks.mjs', '--json').stdout);
    expect(asks.errors).toMatchObject([
      {
        rule_id: 'MODULE-LOAD',
        message: expect.stringMatching(
          /^SKILL_NOT_CALLABLE: step ask calls skill flujo\.builtins\.ask_user/,
        ),
        step_name: 'ask',
      },
    ]);
    const sarif = JSON.parse(cli('validate', 'bad.mjs', '--format', 'sarif').stdout);
    expect(sarif.runs[0].tool.driver.rules).toMatchObject([
      { id: 'MODULE-LOAD', help: { text: 'See docs/validation.md#module-load' } },
    ]);
    expect(sarif.runs[0].results[0]).toMatchObject({
      ruleId: 'MODULE-LOAD',
      level: 'error',
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: 'bad.mjs' },
            region: { startLine: 3, startColumn: 16 },
          },
        },
      ],
    });
    expect(cli('validate', 'missing.mjs').code).toBe(2);
  });

  it('a broken skills.yaml stops validate and run --dry-run of a module as it stops run (exit 2)', () => {
    mkdirSync(join(dir, 'broken'));
    mod('broken/good.mjs', '{ retries: 1 }');
    writeFileSync(join(dir, 'broken/skills.yaml'), 'skills: [ {\n');
    // Before: valid (exit 0) from both, as the module calls no skill; run refused it.
    for (const args of [['validate'], ['run', '--dry-run']]) {
      const r = cli(args[0]!, 'broken/good.mjs', ...args.slice(1));
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(2);
      expect(r.stderr).toContain('SKILLS_CONFIG_INVALID');
    }
    const run = runCli(['run', 'broken/good.mjs', '--input', 'x'], {
      cwd: dir,
      env: { FLUJO_STATE_URI: 'memory://' },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('SKILLS_CONFIG_INVALID');
  });

  it('a module that throws what is not an Error, or an error that is its own cause, is a finding', () => {
    writeFileSync(join(dir, 'str.mjs'), "throw 'boom';\n");
    const str = cli('validate', 'str.mjs');
    expect(str.code, str.stderr).toBe(3);
    // Before: 'could not be loaded: undefined' (and `throw null` an internal error, exit 1).
    expect(str.stdout).toContain(
      'str.mjs:1:1: error MODULE-LOAD: could not be loaded: it threw boom',
    );
    writeFileSync(join(dir, 'nul.mjs'), 'throw null;\n');
    expect(cli('validate', 'nul.mjs').stdout).toContain('could not be loaded: it threw null');
    writeFileSync(
      join(dir, 'cycle.mjs'),
      "const e = new Error('loops');\ne.stack = 'Error: loops';\ne.cause = e;\nthrow e;\n",
    );
    // Before: the place was looked for along the cause chain forever.
    const cycle = runCli(['validate', 'cycle.mjs'], { cwd: dir });
    expect(cycle.code, cycle.stderr).toBe(3);
    expect(cycle.stdout).toContain('cycle.mjs:1:1: error MODULE-LOAD: could not be loaded: loops');
  });

  it('the place is found through a symlinked folder (Node names the module by its real path)', () => {
    symlinkSync(dir, join(dir, 'link'));
    for (const [f, at] of [
      ['bad.mjs', '3:16'],
      ['syntax.mjs', '3:8'],
    ] as const) {
      const r = cli('validate', `link/${f}`);
      expect(r.code).toBe(3);
      // Before: 1:1.
      expect(r.stdout).toMatch(
        new RegExp(`^link/${f.replace('.', '\\.')}:${at}: error MODULE-LOAD`, 'm'),
      );
    }
  });

  it('explain and visualize describe a module run takes, and give the finding of one it refuses', () => {
    const explain = cli('explain', 'good.mjs', '--json');
    expect(explain.code, explain.stderr).toBe(0);
    expect(JSON.parse(explain.stdout)).toMatchObject({
      pipeline: 'mod',
      explanation: expect.arrayContaining([expect.stringMatching(/^- s: .*up to 1 retry/)]),
    });
    const drawn = cli('visualize', 'good.mjs');
    expect(drawn.code, drawn.stderr).toBe(0);
    expect(drawn.stdout).toMatch(/^flowchart TD\n {2}n0\["s/);
    for (const command of ['explain', 'visualize']) {
      const r = cli(command, 'bad.mjs');
      expect(r.code, `${command}: ${r.stderr}`).toBe(3);
      expect(r.stdout).toMatch(
        /^bad\.mjs:3:16: error MODULE-LOAD: could not be loaded: s: retries/m,
      );
      expect(r.stdout).not.toContain('flowchart');
    }
    expect(JSON.parse(cli('explain', 'bad.mjs', '--json').stdout)).toMatchObject({
      is_valid: false,
      errors: [{ rule_id: 'MODULE-LOAD', line: 3 }],
    });
  });
});
