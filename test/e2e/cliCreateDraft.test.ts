/**
 * What `flujo create` checks in the writer's draft, and what it says about it: the built CLI, the
 * real OpenAI SDK against the fake server. The files a draft names are read only inside the root
 * the written file is validated and run in (the project, or the output folder outside it; ADR
 * 150), each finding names its own file as `flujo validate --json` does, the modules it calls are
 * not imported (ADR 151), and `--no-agentic` writes the goal so that a run sends it literally.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { runCli, spawnCli } from './cli.js';

const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

const PLAN = JSON.stringify({
  plan_summary: 'One step.',
  steps: [{ step_name: 'one', purpose: 'answer' }],
});

const fenced = (...lines: string[]) => ['```yaml', ...lines, '```'].join('\n');

const STEP = [
  'steps:',
  '  - kind: step',
  '    name: one',
  '    agent: { id: flujo.builtins.stringify }',
  '    input: "{{ context.initial_prompt }}"',
];

/** What a file outside the root holds: none of it may reach the model, the output or the ledger. */
const SECRET = 'root_password: hunter2-canary\napi_token: tok-canary\n';

interface Finding {
  rule_id: string;
  file: string;
  line: number;
  column: number;
  message: string;
}

describe('flujo create: the draft check', () => {
  let llm: FakeLlm;
  let base: string;
  let p: string;
  beforeAll(async () => {
    llm = await startFakeLlm();
  });
  afterAll(() => llm.close());
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'flujo-create-draft-'));
    p = join(base, 'project');
    mkdirSync(p);
    writeFileSync(join(p, 'flujo.toml'), 'state_uri = "sqlite:///.flujo/state.db"\n');
    return () => rmSync(base, { recursive: true, force: true });
  });
  const env = () => ({ OPENAI_API_KEY: 'sk-test-secret-123456', OPENAI_BASE_URL: llm.openaiUrl });
  const create = (args: string[], e: NodeJS.ProcessEnv = env()) =>
    spawnCli(['create', ...args], { cwd: p, env: e });
  const bodies = (from: number) => llm.requests.slice(from).map((r) => JSON.stringify(r.body));

  it('with --output-dir outside the project, reads only inside the output folder: nothing of a file outside reaches the model, the output or the ledger', async () => {
    const out = join(base, 'out');
    mkdirSync(out);
    writeFileSync(join(base, 'secret.yaml'), SECRET);
    writeFileSync(join(p, 'mine.yaml'), SECRET);
    symlinkSync(join(base, 'secret.yaml'), join(out, 'link.yaml'));
    writeFileSync(join(out, 'child.yaml'), ['version: "0.1"', ...STEP].join('\n'));
    const draft = fenced(
      'version: "0.1"',
      'imports:',
      `  abs: ${join(base, 'secret.yaml')}`,
      '  up: ../secret.yaml',
      '  link: ./link.yaml',
      `  project: ${join(p, 'mine.yaml')}`,
      '  good: ./child.yaml',
      ...STEP,
    );
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: draft }, { text: draft }, { text: draft });
    const r = await create(['--goal', 'x', '--output-dir', '../out', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = json(r.stdout);
    const findings = j.findings as Finding[];
    // Each file outside the output folder is refused unread (V-I1), the project's too: the
    // written file is validated and run with the output folder as its root. ./child.yaml is in it.
    const refused = findings.filter((f) => f.rule_id === 'V-I1').map((f) => f.message);
    expect(refused).toHaveLength(4);
    for (const m of refused) expect(m).toContain(`is outside the project root ${out}`);
    expect(refused.join('\n')).not.toContain('child.yaml');
    expect(j.rounds).toBe(3);
    const everything = [
      ...bodies(seen),
      r.stdout,
      r.stderr,
      runCli(['lens', 'show', j.run_id as string, '--json'], { cwd: p }).stdout,
      ...['state.db', 'state.db-wal']
        .map((f) => join(p, '.flujo', f))
        .filter((f) => existsSync(f))
        .map((f) => readFileSync(f).toString('latin1')),
    ].join('\n');
    expect(everything).toContain('is outside the project root');
    for (const word of ['root_password', 'hunter2', 'api_token', 'tok-canary'])
      expect(everything).not.toContain(word);
  });

  it('each finding names its own file, as flujo validate --json does, and the writer is told that file', async () => {
    writeFileSync(
      join(p, 'child.yaml'),
      ['version: "0.1"', 'stepz: 1', ...STEP.slice(0, 3), '    promt: x', ...STEP.slice(3)].join(
        '\n',
      ),
    );
    mkdirSync(join(p, 'prompts'));
    writeFileSync(join(p, 'prompts', 'w.md'), 'You help.\nSay {{ nope( }}\n');
    const draft = fenced(
      'version: "0.1"',
      'imports:',
      '  c: ./child.yaml',
      'agents:',
      '  w:',
      '    model: "openai:gpt-4o-mini"',
      '    system_prompt: { from_file: ./prompts/w.md }',
      'steps:',
      '  - kind: step',
      '    name: ask',
      '    uses: agents.w',
      '    input: "{{ context.initial_prompt }}"',
      '  - kind: step',
      '    name: sub',
      '    uses: imports.c',
    );
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: draft }, { text: draft }, { text: draft });
    const r = await create(['--goal', 'x', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const findings = json(r.stdout).findings as Finding[];
    const files = new Set(findings.map((f) => f.file));
    expect(files).toEqual(new Set(['pipeline.yaml', 'child.yaml', join('prompts', 'w.md')]));
    const v = runCli(['validate', '--format', 'json'], { cwd: p });
    const checked = json(v.stdout) as { errors: Finding[]; warnings: Finding[] };
    const place = (f: Finding) => `${f.file}:${f.line}:${f.column}: ${f.rule_id}`;
    expect(findings.map(place).sort()).toEqual(
      [...checked.errors, ...checked.warnings].map(place).sort(),
    );
    // The repair round names the imported file's and the prompt file's places.
    const repair = bodies(seen)[2] ?? '';
    const childKey = findings.find((f) => f.file === 'child.yaml' && f.rule_id === 'V-K1');
    expect(repair).toContain(`- child.yaml:${childKey?.line}:${childKey?.column}: V-K1`);
    expect(repair).toMatch(/- prompts\/w\.md:2:\d+: TEMPLATE-001/);

    // The text output too, each line at its own file.
    llm.script({ text: PLAN }, { text: draft }, { text: draft }, { text: draft });
    const text = await create(['--goal', 'x', '--force']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/^child\.yaml:\d+:\d+: error V-K1/m);
    expect(text.stderr).toMatch(/^prompts\/w\.md:2:\d+: error TEMPLATE-001/m);
    expect(text.stderr).toContain('invalid after 3 rounds');
    expect(text.stderr).not.toContain('round(s)');
  });

  it('never imports a module the draft calls: says its export was not checked and that flujo validate checks it', async () => {
    // Importing it would run it: the file it writes would be there.
    writeFileSync(
      join(p, 'side.mjs'),
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(join(base, 'ran'))}, 'x');\nexport const ok = () => 1;\n`,
    );
    const draft = fenced(
      'version: "0.1"',
      'steps:',
      '  - kind: step',
      '    name: one',
      '    uses: ./side.mjs#nope',
      '    input: "{{ context.initial_prompt }}"',
    );
    llm.script({ text: PLAN }, { text: draft });
    const r = await create(['--goal', 'x', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({
      valid: true,
      rounds: 1,
      unchecked_modules: ['side.mjs#nope'],
    });
    expect(existsSync(join(base, 'ran'))).toBe(false);

    llm.script({ text: PLAN }, { text: draft });
    const text = await create(['--goal', 'x', '--force']);
    expect(text.code, text.stderr).toBe(0);
    expect(existsSync(join(base, 'ran'))).toBe(false);
    expect(text.stderr).toContain('side.mjs#nope');
    expect(text.stderr).toMatch(/not checked/);
    expect(text.stderr).toContain('flujo validate pipeline.yaml');
    expect(text.stderr).not.toMatch(/Next: flujo run/);
    // validate imports it, finds the missing export and exits 3, as create said it might.
    const v = runCli(['validate'], { cwd: p });
    expect(v.code).toBe(3);
    expect(v.stdout).toContain("has no export 'nope'");
  });

  it('--no-agentic writes the goal literally: validate accepts it and a run sends the text as given', async () => {
    const goals = [
      'Write JSON like {{ "a": 1 }}',
      'Render {{ context.secret }} now',
      'Use {% if x %} and \\{{ y }} and {{{ z }}}',
      'Say "hi" \\ then {{ \'q\' }}\nand a second line',
      'Only {% raw %} and \\{{ escaped',
    ];
    for (const goal of goals) {
      const r = await create(['--goal', goal, '--no-agentic', '--force', '--json'], {});
      expect(r.code, r.stderr).toBe(0);
      expect(json(r.stdout)).toMatchObject({ valid: true, findings: [] });
      const v = runCli(['validate'], { cwd: p });
      expect(v.code, v.stdout).toBe(0);
      const seen = llm.requests.length;
      llm.script({ text: 'done' });
      const run = await spawnCli(
        ['run', '--input', 'go', '--context', '{"secret":"s3cr3t-canary"}', '--json'],
        { cwd: p, env: env() },
      );
      expect(run.code, run.stderr).toBe(0);
      const messages = llm.requests[seen]?.body.messages as { role: string; content: string }[];
      expect(messages[0]).toEqual({
        role: 'system',
        content: `You carry out this goal: ${goal}`,
      });
      expect(JSON.stringify(llm.requests[seen]?.body)).not.toContain('s3cr3t-canary');
    }
  });

  it('a failed Architect run: --json error is {code, message}, and the text names the code once', async () => {
    // Every planner reply is `ok`, not the plan's JSON: the run fails with AGENT_OUTPUT_INVALID.
    const r = await create(['--goal', 'x', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const j = json(r.stdout);
    expect(j).toMatchObject({ path: null, valid: false, error: { code: 'AGENT_OUTPUT_INVALID' } });
    const error = j.error as { message: string };
    expect(Object.keys(error).sort()).toEqual(['code', 'message']);
    expect(error.message).not.toMatch(/^\[|AGENT_OUTPUT_INVALID/);
    const text = await create(['--goal', 'x']);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/^error: \[AGENT_OUTPUT_INVALID\] the Architect run \S+ failed: /m);
    expect(text.stderr.match(/AGENT_OUTPUT_INVALID/g)).toHaveLength(1);
  });
});
