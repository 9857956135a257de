/**
 * `flujo create --budget` and `--name`, as a user meets them: the built CLI, the real OpenAI SDK
 * against the fake server. The budget finds the pipeline's table in whatever form flujo.toml
 * writes it, and what it writes reads back; a name V-K4 would refuse is refused before any model
 * call when given, and escaped in flujo.toml when the writer chose it. Before: a second table was
 * appended beside `[budgets.pipeline.bullets]`, or a raw DEL written, and every command then
 * exited 2 on flujo.toml; `--name ""` was ignored. Also: Flujo's `--agentic` is taken.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { runCli, spawnCli } from './cli.js';

const PLAN = JSON.stringify({
  plan_summary: 'One step.',
  steps: [{ step_name: 'summarize', purpose: 'three bullets' }],
});

/** A writer's draft named `name` (a YAML scalar as written). */
const draft = (name: string) =>
  [
    '```yaml',
    'version: "0.1"',
    `name: ${name}`,
    'agents:',
    '  s:',
    '    model: "openai:gpt-4o-mini"',
    '    system_prompt: "Summarize."',
    'steps:',
    '  - kind: step',
    '    name: summarize',
    '    uses: agents.s',
    '    input: "{{ context.initial_prompt }}"',
    '```',
  ].join('\n');

describe('flujo create --budget and --name', () => {
  let llm: FakeLlm;
  let p: string;
  beforeAll(async () => {
    llm = await startFakeLlm();
  });
  afterAll(() => llm.close());
  beforeEach(() => {
    p = mkdtempSync(join(tmpdir(), 'flujo-create-budget-'));
    return () => rmSync(p, { recursive: true, force: true });
  });
  const env = () => ({ OPENAI_API_KEY: 'sk-test-secret-123456', OPENAI_BASE_URL: llm.openaiUrl });
  const create = (args: string[]) => spawnCli(['create', ...args], { cwd: p, env: env() });
  const toml = () => readFileSync(join(p, 'flujo.toml'), 'utf8');
  /** flujo.toml still loads (show-config reads it as every command does): its settings. */
  const loads = () => {
    const r = runCli(['show-config', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(0);
    const { settings } = JSON.parse(r.stdout) as { settings: { key: string; value: unknown }[] };
    return Object.fromEntries(settings.map((s) => [s.key, s.value]));
  };

  it('sets the limit in a table written with a bare key, in place', async () => {
    writeFileSync(
      join(p, 'flujo.toml'),
      '[budgets.pipeline.bullets]\ntotal_cost_usd_limit = 1 # mine\ntotal_tokens_limit = 500\n',
    );
    llm.script({ text: PLAN }, { text: draft('bullets') });
    const r = await create(['--goal', 'x', '--budget', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(toml()).toBe(
      '[budgets.pipeline.bullets]\ntotal_cost_usd_limit = 2 # mine\ntotal_tokens_limit = 500\n',
    );
    expect(r.stderr).toContain('budget: [budgets.pipeline."bullets"] total_cost_usd_limit = 2');
    expect(loads()).toMatchObject({ 'budgets.pipeline.bullets.total_cost_usd_limit': 2 });
  });

  it('a name the writer chose with a control character: the draft is invalid, its budget key escaped', async () => {
    writeFileSync(join(p, 'flujo.toml'), '# mine\n');
    llm.script({ text: PLAN }, ...Array(3).fill({ text: draft('"a\\x7fb"') }));
    const r = await create(['--goal', 'x', '--budget', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { valid: boolean; findings: { rule_id: string }[] };
    expect(j.valid).toBe(false);
    expect(j.findings.map((f) => f.rule_id)).toContain('V-K4');
    expect(toml()).toBe('# mine\n\n[budgets.pipeline."a\\u007fb"]\ntotal_cost_usd_limit = 1\n');
    expect(loads()).toMatchObject({ 'budgets.pipeline.a\x7fb.total_cost_usd_limit': 1 });
  });

  it('a budget written as an inline table is refused before any model call when --name names it', async () => {
    const mine = '[budgets.pipeline]\n"b2" = { total_cost_usd_limit = 1 }\n';
    writeFileSync(join(p, 'flujo.toml'), mine);
    const seen = llm.requests.length;
    const r = await create(['--goal', 'x', '--name', 'b2', '--budget', '2', '--json']);
    expect(r.code, r.stderr).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
    expect(r.stderr).toContain(
      'flujo.toml:2: the budget of pipeline "b2" is written here as an inline table or dotted keys, which create does not edit',
    );
    expect(llm.requests.length).toBe(seen);
    expect(toml()).toBe(mine);
    expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
    // Another pipeline's table beside it is added, and the file still loads.
    const other = await create(['--goal', 'x', '--name', 'b3', '--budget', '2', '--no-agentic']);
    expect(other.code, other.stderr).toBe(0);
    expect(loads()).toMatchObject({
      'budgets.pipeline.b2.total_cost_usd_limit': 1,
      'budgets.pipeline.b3.total_cost_usd_limit': 2,
    });
  });

  it('a --project folder not made yet takes the budget in a flujo.toml made with it', async () => {
    const r = await spawnCli(
      ['--project', 'newp/deep', 'create', '--goal', 'x', '--no-agentic', '--budget', '1'],
      { cwd: p, env: env() },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p, 'newp', 'deep', 'flujo.toml'), 'utf8')).toBe(
      '[budgets.pipeline."x"]\ntotal_cost_usd_limit = 1\n',
    );
    expect(existsSync(join(p, 'newp', 'deep', 'pipeline.yaml'))).toBe(true);
  });

  it('--name that is empty or holds a control character: USAGE before any model call', async () => {
    const seen = llm.requests.length;
    const empty = await create(['--goal', 'x', '--name', '', '--json']);
    expect(empty.code, empty.stderr).toBe(2);
    expect(JSON.parse(empty.stdout)).toMatchObject({ error: { code: 'USAGE' } });
    expect(empty.stderr).toContain('--name is empty');
    const del = await create(['--goal', 'x', '--name', 'a\x7fb', '--budget', '1']);
    expect(del.code, del.stderr).toBe(2);
    expect(del.stderr).toContain('error: [USAGE] --name "a\\u007fb" holds the control character');
    expect(llm.requests.length).toBe(seen);
    expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
    expect(existsSync(join(p, 'flujo.toml'))).toBe(false);
  });

  it("takes Flujo's --agentic: the default, over FLUJO_ARCHITECT_MINIMAL", async () => {
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: draft('bullets') });
    const r = await spawnCli(['create', '--goal', 'x', '--agentic', '--json'], {
      cwd: p,
      env: { ...env(), FLUJO_ARCHITECT_MINIMAL: '1' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'bullets', valid: true });
    expect(llm.requests.length - seen).toBe(2);
  });
});
