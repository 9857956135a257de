/**
 * `flujo create` as a user meets it: the built CLI, the real OpenAI SDK against the fake server
 * scripted with the planner's and the writer's replies. The Architect is a recorded run: each
 * test that runs it also reads it back from the ledger.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { runCli, spawnCli } from './cli.js';
import { hasScript, onTerminal } from './terminal.js';

const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

const TOML = [
  '# my settings',
  'state_uri = "sqlite:///.flujo/state.db"',
  '',
  '[budgets.default]',
  'total_cost_usd_limit = 1.0',
  '',
].join('\n');

const PLAN = JSON.stringify({
  plan_summary: 'Summarize the text in three bullets.',
  steps: [{ step_name: 'summarize', purpose: 'three bullets from the input' }],
});

const VALID = [
  'Here is the blueprint:',
  '```yaml',
  'version: "0.1"',
  'name: bullets',
  'agents:',
  '  summarizer:',
  '    model: "openai:gpt-4o-mini"',
  '    system_prompt: "Summarize in three bullets."',
  'steps:',
  '  - kind: step',
  '    name: summarize',
  '    uses: agents.summarizer',
  '    input: "{{ context.initial_prompt }}"',
  '```',
].join('\n');

/**
 * A step key the validator does not know (V-K1): line 9, column 5 here, 10:5 once `name:` is
 * injected after `version:` (the draft the writer is shown back, and where the finding points).
 */
const INVALID = [
  '```yaml',
  'version: "0.1"',
  'agents:',
  '  summarizer:',
  '    model: "openai:gpt-4o-mini"',
  '    system_prompt: "Summarize in three bullets."',
  'steps:',
  '  - kind: step',
  '    name: summarize',
  '    promt: "{{ context.initial_prompt }}"',
  '    uses: agents.summarizer',
  '```',
].join('\n');

describe('flujo create', () => {
  let llm: FakeLlm;
  let p: string;
  beforeAll(async () => {
    llm = await startFakeLlm();
  });
  afterAll(() => llm.close());
  beforeEach(() => {
    p = mkdtempSync(join(tmpdir(), 'flujo-create-'));
    writeFileSync(join(p, 'flujo.toml'), TOML);
    return () => rmSync(p, { recursive: true, force: true });
  });
  const env = () => ({ OPENAI_API_KEY: 'sk-test-secret-123456', OPENAI_BASE_URL: llm.openaiUrl });
  const create = (args: string[], e: NodeJS.ProcessEnv = env()) =>
    spawnCli(['create', ...args], { cwd: p, env: e });
  const texts = (from: number) =>
    llm.requests.slice(from).map((r) => JSON.stringify(r.body.messages));

  it('plans, writes a blueprint that validate accepts and run runs, and records the Architect run', async () => {
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: VALID });
    const r = await create(['--goal', 'Summarize a text in three bullets', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = json(r.stdout);
    expect(j).toMatchObject({
      path: join(p, 'pipeline.yaml'),
      name: 'bullets',
      valid: true,
      rounds: 1,
      findings: [],
      plan: { plan_summary: 'Summarize the text in three bullets.' },
    });
    // The planner got the goal and the project's skills, and asked for structured output.
    const [planner, writer] = llm.requests.slice(seen);
    expect(JSON.stringify(planner?.body.messages)).toContain('Summarize a text in three bullets');
    expect(JSON.stringify(planner?.body.messages)).toContain('flujo.builtins.stringify');
    expect(planner?.body.response_format).toMatchObject({ type: 'json_schema' });
    expect(JSON.stringify(writer?.body.messages)).toContain('three bullets from the input');
    expect(llm.requests.length - seen).toBe(2);

    const yaml = readFileSync(join(p, 'pipeline.yaml'), 'utf8');
    expect(yaml).not.toContain('```');
    expect(runCli(['validate'], { cwd: p }).code).toBe(0);
    llm.script({ text: '- one\n- two\n- three' });
    const run = await spawnCli(['run', '--input', 'a long text', '--json'], { cwd: p, env: env() });
    expect(run.code, run.stderr).toBe(0);
    expect(json(run.stdout)).toMatchObject({
      status: 'completed',
      output: '- one\n- two\n- three',
    });

    const runId = j.run_id as string;
    expect(runCli(['lens', 'verify', runId], { cwd: p }).code).toBe(0);
    const shown = json(runCli(['lens', 'show', runId, '--json'], { cwd: p }).stdout);
    expect(JSON.stringify(shown)).toContain('flujo.architect');
    expect(JSON.stringify(shown)).toContain('write_yaml');
  });

  it('repairs an invalid first draft: the findings with line:column reach the writer', async () => {
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: INVALID }, { text: VALID });
    const r = await create(['--goal', 'Summarize a text', '--name', 'summary', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = json(r.stdout);
    expect(j).toMatchObject({ valid: true, rounds: 2, name: 'summary' });
    const repair = texts(seen)[2] ?? '';
    expect(repair).toMatch(/pipeline\.yaml:10:5: V-K1: step 'summarize': unknown key 'promt'/);
    expect(repair).toContain('    promt: \\"{{ context.initial_prompt }}\\"');
    // --name wins over the writer's name.
    expect(readFileSync(join(p, 'pipeline.yaml'), 'utf8')).toContain('name: summary');
    expect(runCli(['validate'], { cwd: p }).code).toBe(0);
    // The Architect's plan is rebuilt from the recorded request: its two rounds refold offline.
    const replay = runCli(['lens', 'replay', j.run_id as string, '--json'], { cwd: p });
    expect(replay.code, replay.stderr).toBe(0);
    expect(json(replay.stdout)).toMatchObject({ identical: true });
  });

  it('with --strict, a draft still invalid after the last round: exit 4 and nothing written', async () => {
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: INVALID }, { text: INVALID }, { text: INVALID });
    const r = await create(['--goal', 'Summarize', '--strict', '--json']);
    expect(r.code, r.stderr).toBe(4);
    expect(llm.requests.length - seen).toBe(4);
    expect(json(r.stdout)).toMatchObject({ path: null, valid: false, rounds: 3 });
    expect(r.stderr).toContain('V-K1');
    expect(r.stderr).toContain(
      "error: [BLUEPRINT_INVALID] the Architect's blueprint is still invalid after 3 rounds; nothing was written",
    );
    expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
  });

  it('without --strict, writes the invalid draft and prints its findings', async () => {
    llm.script({ text: PLAN }, { text: INVALID }, { text: INVALID }, { text: INVALID });
    const r = await create(['--goal', 'Summarize']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/pipeline\.yaml:\d+:\d+: error V-K1/);
    expect(runCli(['validate'], { cwd: p }).code).toBe(4);
  });

  it('refuses to overwrite pipeline.yaml without --force, before calling any model', async () => {
    writeFileSync(join(p, 'pipeline.yaml'), 'mine\n');
    const seen = llm.requests.length;
    const r = await create(['--goal', 'Summarize']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('already exists');
    expect(r.stderr).toContain('--force');
    expect(readFileSync(join(p, 'pipeline.yaml'), 'utf8')).toBe('mine\n');
    expect(llm.requests.length).toBe(seen);

    llm.script({ text: PLAN }, { text: VALID });
    const forced = await create(['--goal', 'Summarize', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(p, 'pipeline.yaml'), 'utf8')).toContain('name: bullets');
  });

  it('--no-agentic needs no key: a valid one-step blueprint carrying the goal, a budget in flujo.toml', async () => {
    const seen = llm.requests.length;
    const r = await create(
      ['--goal', 'Translate to French', '--no-agentic', '--budget', '0.25', '--json'],
      {},
    );
    expect(r.code, r.stderr).toBe(0);
    const j = json(r.stdout);
    expect(j).toMatchObject({ name: 'translate-to-french', valid: true, plan: null });
    expect(llm.requests.length).toBe(seen);
    const yaml = readFileSync(join(p, 'pipeline.yaml'), 'utf8');
    expect(yaml).toContain('Translate to French');
    expect(yaml).toContain('name: translate-to-french');
    expect(runCli(['validate'], { cwd: p }).code).toBe(0);
    const toml = readFileSync(join(p, 'flujo.toml'), 'utf8');
    expect(toml.startsWith(TOML)).toBe(true);
    expect(toml).toContain('[budgets.pipeline."translate-to-french"]\ntotal_cost_usd_limit = 0.25');
    expect(runCli(['lens', 'verify', j.run_id as string], { cwd: p }).code).toBe(0);
    expect(runCli(['lens', 'replay', j.run_id as string], { cwd: p }).code).toBe(0);

    // FLUJO_ARCHITECT_MINIMAL=1 is the same; a second --budget replaces the limit in place.
    const again = await create(['--goal', 'Translate to French', '--force', '--budget', '2'], {
      FLUJO_ARCHITECT_MINIMAL: '1',
    });
    expect(again.code, again.stderr).toBe(0);
    const toml2 = readFileSync(join(p, 'flujo.toml'), 'utf8');
    expect(toml2.match(/budgets\.pipeline/g)).toHaveLength(1);
    expect(toml2).toContain('total_cost_usd_limit = 2\n');
    const list = JSON.parse(runCli(['lens', 'list', '--json'], { cwd: p }).stdout) as {
      pipeline: string;
    }[];
    expect(list.map((l) => l.pipeline)).toEqual([
      'flujo.architect.minimal',
      'flujo.architect.minimal',
    ]);
  });

  it.skipIf(!hasScript)(
    'FLUJO_CREATE_HITL on a terminal: the run pauses for plan approval; a rejected plan writes nothing',
    async () => {
      const seen = llm.requests.length;
      llm.script({ text: PLAN });
      const no = await onTerminal(
        ['create', '--goal', 'Summarize a text'],
        p,
        'Use this plan?',
        'n\r',
        { ...env(), FLUJO_CREATE_HITL: '1' },
      );
      expect(no.code, no.output).toBe(0);
      expect(no.output).toContain('summarize: three bullets from the input');
      expect(no.output).toContain('plan rejected; nothing was written');
      expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
      expect(llm.requests.length - seen).toBe(1);

      llm.script({ text: PLAN }, { text: VALID });
      const yes = await onTerminal(
        ['create', '--goal', 'Summarize a text'],
        p,
        'Use this plan?',
        'y\r',
        { ...env(), FLUJO_CREATE_HITL: '1' },
      );
      expect(yes.code, yes.output).toBe(0);
      expect(yes.output).toContain('wrote pipeline.yaml');
      expect(runCli(['validate'], { cwd: p }).code).toBe(0);
      // Both answers are in the ledger, and both runs verify and replay.
      const runs = JSON.parse(runCli(['lens', 'list', '--json'], { cwd: p }).stdout) as {
        run_id: string;
      }[];
      expect(runs).toHaveLength(2);
      for (const { run_id } of runs) {
        expect(runCli(['lens', 'verify', run_id], { cwd: p }).code).toBe(0);
        expect(runCli(['lens', 'replay', run_id], { cwd: p }).code).toBe(0);
        expect(runCli(['lens', 'show', run_id, '--json'], { cwd: p }).stdout).toContain(
          'approve_plan',
        );
      }

      // Without a terminal the plan is approved without asking (and said so).
      llm.script({ text: PLAN }, { text: VALID });
      const piped = await create(['--goal', 'Summarize', '--force'], {
        ...env(),
        FLUJO_CREATE_HITL: '1',
      });
      expect(piped.code, piped.stderr).toBe(0);
      expect(piped.stderr).toContain('approved without asking');
    },
  );

  it("the project's budgets cap the Architect run: a call they cannot cover is never made (exit 1)", async () => {
    writeFileSync(
      join(p, 'flujo.toml'),
      TOML.replace('total_cost_usd_limit = 1.0', 'total_cost_usd_limit = 0.0000001'),
    );
    const seen = llm.requests.length;
    const r = await create(['--goal', 'Summarize', '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(json(r.stdout)).toMatchObject({ path: null, valid: false });
    expect(json(r.stdout).error).toMatchObject({ code: 'COST_LIMIT_EXCEEDED' });
    expect(r.stderr).toContain('flujo lens show');
    expect(llm.requests.length).toBe(seen);
    expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
  });

  it('usage errors exit 2: no goal, --non-interactive without --output-dir, no key for the model', async () => {
    expect((await create([], {})).code).toBe(2);
    const ni = await create(['--goal', 'x', '--non-interactive', '--no-agentic'], {});
    expect(ni.code).toBe(2);
    expect(ni.stderr).toContain('--output-dir');
    const nokey = await create(['--goal', 'x'], { OPENAI_API_KEY: '' });
    expect(nokey.code).toBe(2);
    expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
    const ok = await create(
      ['--goal', 'x', '--non-interactive', '--no-agentic', '--output-dir', 'sub'],
      {},
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(join(p, 'sub', 'pipeline.yaml'))).toBe(true);
  });
});
