/**
 * What `validate` and `run` say of a module or agent that is there but wrong (QA D14 of
 * `flujo create`, whose drafts meet them first): the built CLI, real files. Before: a step using
 * an agent with no model said `no agent 'w' in the agents section`; an export that is no function
 * said `has no exported function 'notfn' (exports: default, notfn)` with the fix `use '#notfn'`
 * (skills.yaml: `no function export`); a skills.yaml module not found named no next step; a skill
 * output that holds itself was `nested deeper than 250 levels` at `output.a.a.a…` (250 segments).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

let p: string;
beforeEach(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-module-words-'));
  writeFileSync(join(p, 'flujo.toml'), 'state_uri = "sqlite:///.flujo/state.db"\n');
  writeFileSync(
    join(p, 'm.mjs'),
    [
      'export const notfn = 42;',
      'export function cyclic() { const a = {}; a.a = a; return a; }',
      'export default function () { return 1; }',
      '',
    ].join('\n'),
  );
});
afterEach(() => rmSync(p, { recursive: true, force: true }));

const blueprint = (...lines: string[]) =>
  writeFileSync(join(p, 'pipeline.yaml'), ['version: "0.1"', 'name: p', ...lines, ''].join('\n'));
const step = (agent: string) => [
  'steps:',
  '  - kind: step',
  '    name: s',
  `    ${agent}`,
  '    input: x',
];
const cli = (...args: string[]) => runCli(args, { cwd: p });
interface Report {
  errors: { rule_id: string; message: string; suggestion: string | null; line: number }[];
}
const report = () => JSON.parse(cli('validate', '--format', 'json').stdout) as Report;

describe('what validate and run say of a module or agent that is there but wrong', () => {
  it('a step using an agent declared without a model: the agent is invalid, and why', () => {
    blueprint('agents:', '  w:', '    system_prompt: "hi"', ...step('uses: agents.w'));
    expect(cli('validate').code).toBe(4);
    const found = report().errors.find((e) => e.line === 9);
    expect(found).toMatchObject({
      rule_id: 'V-A6',
      message: "s: agent 'w' is declared but invalid: it has no 'model' (agents section, line 4)",
      suggestion: 'give agent \'w\' a model, e.g. model: "openai:gpt-4o-mini"',
    });
    expect(JSON.stringify(report())).not.toContain('in the agents section');
  });

  it('an export that is no function: what it is, and the functions the module has', () => {
    blueprint(...step('uses: ./m.mjs#notfn'));
    expect(cli('validate').code).toBe(3);
    expect(report().errors[0]).toMatchObject({
      rule_id: 'V-A6',
      message: `${join(p, 'm.mjs')} exports 'notfn' as a number, not a function`,
      suggestion: "make 'notfn' a function, or use a function it exports: '#cyclic', '#default'",
    });
    const run = cli('run', '--input', 'x');
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("exports 'notfn' as a number, not a function");
  });

  it('skills.yaml: an export that is no function, and a module not found, say what to do', () => {
    blueprint(...step('agent: { id: acme.n }'));
    writeFileSync(join(p, 'skills.yaml'), 'acme.n:\n  path: ./m.mjs:notfn\n  description: N.\n');
    const notfn = cli('run', '--input', 'x');
    expect(notfn.code).toBe(3);
    expect(notfn.stderr).toContain(
      `skills.yaml:2:9: skill 'acme.n': module ${join(p, 'm.mjs')} exports 'notfn' as a number, not a function; make 'notfn' a function, or use a function it exports: 'cyclic', 'default'`,
    );
    writeFileSync(join(p, 'skills.yaml'), 'acme.n:\n  path: ./gone.mjs\n  description: N.\n');
    const gone = cli('run', '--input', 'x');
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain(
      `skills.yaml:2:9: skill 'acme.n': cannot find module ${join(p, 'gone.mjs')}; create it, or fix 'path' here (a ./path is relative to the folder skills.yaml is in)`,
    );
  });

  it("a skill's output that holds itself: a cycle, where it is", () => {
    blueprint(...step('agent: { id: acme.c }'));
    writeFileSync(join(p, 'skills.yaml'), 'acme.c:\n  path: ./m.mjs:cyclic\n  description: C.\n');
    const r = cli('run', '--input', 'x', '--json');
    expect(r.code, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as { steps: { error?: { message: string } }[] };
    expect(j.steps[0]?.error?.message).toBe(
      "the reply cannot be recorded: output.a: a cycle: the value at output holds itself here; a step's output must be plain data (JSON values, Uint8Array, bigint)",
    );
    expect(r.stderr).not.toContain('a.a.a');
  });
});
