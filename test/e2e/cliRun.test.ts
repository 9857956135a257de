/**
 * `flujo init | run | resume | show-config | version` as a user meets them: the built CLI in a
 * fresh project folder, every input source and exit code, a HITL pause and resume, Ctrl-C and a
 * resume that completes, a budget refusal against a real OpenAI SDK talking to a fake server.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { runCli, spawnCli, writeProject } from './cli.js';

/** A JS pipeline module: `fn` steps in a sequence, as the DSL would build them. */
function jsPipeline(name: string, steps: Record<string, string>): string {
  const names = Object.keys(steps);
  const ir = {
    version: 1,
    name,
    root: {
      kind: 'sequence',
      name: 'pipeline',
      steps: names.map((n) => ({
        kind: 'step',
        name: n,
        agent: `fn:${n}`,
        retries: 0,
        backoffMs: 0,
      })),
    },
  };
  const fns = names.map((n) => `  ${JSON.stringify(n)}: ${steps[n]},`).join('\n');
  return `export default {\n  ir: ${JSON.stringify(ir)},\n  functions: {\n${fns}\n  },\n};\n`;
}

const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
let dir: string;

const mkdirP = (d: string) => mkdirSync(d, { recursive: true });

/** A project folder with a flujo.toml and the given files. */
const project = (name: string, files: Record<string, string>): string =>
  writeProject(dir, name, { 'flujo.toml': '# test\n', ...files });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flujo resume after the pipeline file changed', () => {
  it('refuses with PLAN_CHANGED naming the flag, and continues with --allow-changed-pipeline', () => {
    const p = join(dir, 'edited');
    mkdirP(p);
    expect(runCli(['init'], { cwd: p }).code).toBe(0);
    const run = runCli(['run', '--input', 'Ada', '--json'], { cwd: p });
    const id = json(run.stdout).run_id as string;
    expect(json(run.stdout).status).toBe('paused');
    // An edit after the pause: the published text changes; recorded decisions do not.
    const file = join(p, 'pipeline.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        '"Published: {{ steps.greet.output }}"',
        '"Out: {{ steps.greet.output }}"',
      ),
    );
    const refused = runCli(['resume', id, '--input', '{"approved":true}'], { cwd: p });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('PLAN_CHANGED');
    expect(refused.stderr).toContain('add --allow-changed-pipeline');
    const ok = runCli(
      ['resume', id, '--input', '{"approved":true}', '--allow-changed-pipeline', '--json'],
      { cwd: p },
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout)).toMatchObject({
      status: 'completed',
      output: 'Out: Hello, Ada! Welcome to Flujo.',
    });
  });
});

describe('flujo init, run and resume (the scaffolded project)', () => {
  it('scaffolds a project that pauses for approval, rejects a bad answer and completes with a good one', () => {
    const p = join(dir, 'fresh');
    mkdirP(p);
    const init = runCli(['init'], { cwd: p });
    expect(init.code).toBe(0);
    for (const f of [
      'flujo.toml',
      'pipeline.yaml',
      'skills.yaml',
      'skills/shout.mjs',
      '.env.example',
      '.gitignore',
    ])
      expect(() => readFileSync(join(p, f))).not.toThrow();
    expect(readFileSync(join(p, '.gitignore'), 'utf8')).toContain('.flujo/');

    const again = runCli(['init'], { cwd: p });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already has .*--force/);

    const run = runCli(['run', '--input', 'Ada', '--json'], { cwd: p });
    expect(run.code).toBe(0);
    const paused = json(run.stdout);
    expect(paused).toMatchObject({
      status: 'paused',
      pause: { step: 'approve', input_schema: { type: 'object' } },
    });
    expect((paused.pause as { message: string }).message).toContain('Hello, Ada!');
    const id = paused.run_id as string;

    const before = json(runCli(['lens', 'verify', '--all', '--json'], { cwd: p }).stdout);
    // FLUJO_INPUT is a run's input, never a person's answer.
    const envOnly = runCli(['resume', id.slice(0, 8)], { cwd: p, env: { FLUJO_INPUT: 'Ada' } });
    expect(envOnly.code).toBe(1);
    expect(envOnly.stderr).toContain('paused for human input');
    // … and says which question waits and the command that answers it.
    expect(envOnly.stderr).toContain('at step "approve": Publish this greeting? Hello, Ada!');
    expect(envOnly.stderr).toContain(`answer it: flujo resume --input '{"approved":true}' ${id}`);
    expect(envOnly.stderr).toContain('"required":["approved"]');
    const bad = runCli(['resume', id.slice(0, 8), '--input', '{"approved":"yes"}'], { cwd: p });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('/approved must be boolean');
    expect(bad.stderr).toContain('still paused');
    const after = json(runCli(['lens', 'verify', '--all', '--json'], { cwd: p }).stdout);
    expect(after.events_checked).toBe(before.events_checked); // nothing recorded

    const good = runCli(['resume', id.slice(0, 8), '--input', '{"approved":true}', '--json'], {
      cwd: p,
    });
    expect(good.code).toBe(0);
    expect(json(good.stdout)).toMatchObject({
      run_id: id,
      status: 'completed',
      output: 'Published: Hello, Ada! Welcome to Flujo.',
    });
    // A second answer for the completed run is refused, as JSON too, and nothing is recorded.
    const done = json(runCli(['lens', 'verify', '--all', '--json'], { cwd: p }).stdout);
    const late = runCli(['resume', id, '--input', '{"approved":false}', '--json'], { cwd: p });
    expect(late.code).toBe(1);
    expect(json(late.stdout)).toMatchObject({
      run_id: id,
      status: 'completed',
      error: { code: 'RUN_NOT_RESUMABLE', message: expect.stringContaining('is completed') },
    });
    expect(late.stderr).toContain('not waiting for human input');
    const still = json(runCli(['lens', 'verify', '--all', '--json'], { cwd: p }).stdout);
    expect(still.events_checked).toBe(done.events_checked);
    const force = runCli(['init', '--force'], { cwd: p });
    expect(force.code).toBe(0);
    expect(force.stderr).toContain('overwrote pipeline.yaml');
  });

  it('prints the output on stdout and a summary with the next commands on stderr', () => {
    const p = project('plain', { 'echo.mjs': jsPipeline('echo', { echo: '(x) => `got ${x}`' }) });
    const r = runCli(['run', 'echo.mjs', '--input', 'hi'], { cwd: p });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('got hi\n');
    expect(r.stderr).toMatch(/completed in/);
    expect(r.stderr).toMatch(/flujo lens show \S+/);
    expect(r.stderr).not.toContain('\u001b['); // NO_COLOR
  });
});

describe('flujo run: project skills', () => {
  it('uses the skills.yaml beside a pipeline in a subfolder', () => {
    const p = project('sub', {
      'flows/pipeline.yaml':
        'version: "0.1"\nname: sub\nsteps:\n  - name: loud\n    agent: { id: yell }\n',
      'flows/skills.yaml':
        'skills:\n  - id: yell\n    description: Upper-cases text.\n    path: ./yell.mjs\n    export: yell\n    side_effects: false\n',
      'flows/yell.mjs': 'export const yell = (s) => String(s).toUpperCase();\n',
    });
    const r = runCli(['run', 'flows/pipeline.yaml', '--input', 'hey', '--json'], { cwd: p });
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ status: 'completed', output: 'HEY' });
  });
});

describe('flujo run: input sources and run ids', () => {
  let p: string;
  beforeAll(() => {
    p = project('inputs', { 'echo.mjs': jsPipeline('echo', { echo: '(x) => `[${x}]`' }) });
  });
  const out = (r: { stdout: string }) => json(r.stdout).output;

  it('takes --input first, then FLUJO_INPUT, then piped stdin, then the empty string', () => {
    const env = { FLUJO_INPUT: 'from-env' };
    expect(
      out(
        runCli(['run', 'echo.mjs', '--json', '--input', 'flag'], { cwd: p, env, input: 'piped' }),
      ),
    ).toBe('[flag]');
    expect(out(runCli(['run', 'echo.mjs', '--json'], { cwd: p, env, input: 'piped' }))).toBe(
      '[from-env]',
    );
    expect(out(runCli(['run', 'echo.mjs', '--json'], { cwd: p, input: 'piped\n' }))).toBe(
      '[piped]',
    );
    expect(
      out(runCli(['run', 'echo.mjs', '--json', '--input', '-'], { cwd: p, env, input: 'dash' })),
    ).toBe('[dash]');
    expect(out(runCli(['run', 'echo.mjs', '--json'], { cwd: p }))).toBe('[]');
  });

  it('uses --run-id, and running an existing id resumes it instead of starting again', () => {
    const first = runCli(['run', 'echo.mjs', '--json', '--run-id', 'my-run-1', '--input', 'a'], {
      cwd: p,
    });
    expect(json(first.stdout)).toMatchObject({ run_id: 'my-run-1', output: '[a]' });
    const second = runCli(['run', 'echo.mjs', '--json', '--run-id', 'my-run-1', '--input', 'b'], {
      cwd: p,
    });
    expect(json(second.stdout)).toMatchObject({
      run_id: 'my-run-1',
      status: 'completed',
      output: '[a]',
    });
  });

  /** A module whose one step returns `${context.initial_prompt}/${context.user}`. */
  const ctxModule = `export default { ir: ${JSON.stringify({
    version: 1,
    name: 'ctx',
    root: {
      kind: 'step',
      name: 'read',
      agent: 'fn:read',
      retries: 0,
      backoffMs: 0,
      input: { fn: 'pick' },
    },
  })}, functions: { pick: (_i, ctx) => ctx, read: (c) => \`\${c.initial_prompt}/\${c.user}\` } };\n`;

  it('puts --context into the run context beside initial_prompt', () => {
    const q = project('ctx', { 'ctx.mjs': ctxModule });
    const r = runCli(['run', 'ctx.mjs', '--json', '--input', 'go', '--context', '{"user":"ada"}'], {
      cwd: q,
    });
    expect(json(r.stdout).output).toBe('go/ada');
  });

  it('never lets --context override the input: refuses it beside --input, else the input wins', () => {
    const q = project('ctx-prompt', { 'ctx.mjs': ctxModule });
    const context = '{"initial_prompt":"override","user":"ada"}';
    const both = runCli(['run', 'ctx.mjs', '--json', '--input', 'REAL', '--context', context], {
      cwd: q,
    });
    expect(both.code).toBe(2);
    // Under --json the refusal is one object on stdout (CONTRACTS).
    expect(JSON.parse(both.stdout)).toMatchObject({ error: { code: 'USAGE' } });
    expect(both.stderr).toContain('--input and --context both set initial_prompt');
    expect(both.stderr).toContain('drop one');
    const listed = runCli(['lens', 'list', '--json'], { cwd: q });
    expect(JSON.parse(listed.stdout || '[]')).toEqual([]);

    const fromEnv = runCli(['run', 'ctx.mjs', '--json', '--context', context], {
      cwd: q,
      env: { FLUJO_INPUT: 'REAL' },
    });
    expect(fromEnv.code).toBe(0);
    expect(json(fromEnv.stdout).output).toBe('REAL/ada');
    expect(fromEnv.stderr).toContain("--context's initial_prompt is replaced by the input");
    const runs = JSON.parse(runCli(['lens', 'list', '--json'], { cwd: q }).stdout) as unknown[];
    expect(runs).toHaveLength(1); // the refused run recorded nothing
  });

  it('refuses --context keys __proto__, constructor and prototype as a usage error, recording nothing', () => {
    const runs = () => JSON.parse(runCli(['lens', 'list', '--json'], { cwd: p }).stdout) as [];
    const before = runs().length;
    const cases: [string, string][] = [
      ['{"__proto__":{"x":1}}', 'context.__proto__'],
      ['{"a":[{"constructor":1}]}', 'context.a[0].constructor'],
      ['{"b":{"prototype":1}}', 'context.b.prototype'],
    ];
    for (const [context, path] of cases) {
      const r = runCli(['run', 'echo.mjs', '--json', '--input', 'go', '--context', context], {
        cwd: p,
      });
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout)).toEqual({
        error: {
          code: 'CONFIG_INVALID',
          message: expect.stringContaining(`${path} is not allowed`),
        },
      });
      expect(r.stderr).toContain(`CONFIG_INVALID] --context: ${path} is not allowed`);
    }
    expect(runs().length).toBe(before);
  });

  it('runs at most settings.max_calls_in_flight calls of a run at once', () => {
    const branch = (n: string) => ({
      kind: 'step',
      name: n,
      agent: `fn:${n}`,
      retries: 0,
      backoffMs: 0,
    });
    const ir = {
      version: 1,
      name: 'fan',
      root: {
        kind: 'parallel',
        name: 'fan',
        branches: { a: branch('a'), b: branch('b'), c: branch('c') },
        merge: 'context_update',
        onBranchFailure: 'propagate',
      },
    };
    // Each branch counts the branches running with it through a shared global.
    const fn = `async () => { const g = globalThis; g.now = (g.now ?? 0) + 1; g.most = Math.max(g.most ?? 0, g.now); await new Promise((r) => setTimeout(r, 40)); g.now -= 1; return g.most; }`;
    const files = {
      'fan.mjs': `export default { ir: ${JSON.stringify(ir)}, functions: { a: ${fn}, b: ${fn}, c: ${fn} } };\n`,
    };
    const free = project('fan-free', files);
    const capped = project('fan-capped', {
      ...files,
      'flujo.toml': '[settings]\nmax_calls_in_flight = 1\n',
    });
    const most = (cwd: string) => {
      const r = runCli(['run', 'fan.mjs', '--json'], { cwd });
      expect(r.code, r.stderr).toBe(0);
      return Math.max(...Object.values(json(r.stdout).output as Record<string, number>));
    };
    expect(most(free)).toBe(3);
    expect(most(capped)).toBe(1);
  });

  it('checks a pipeline with --dry-run without recording anything', () => {
    const r = runCli(['run', 'echo.mjs', '--dry-run', '--json'], { cwd: p });
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ validated: true, pipeline: 'echo' });
  });
});

describe('flujo run: exit codes', () => {
  it('exits 1 when the run fails, with the error in the JSON', () => {
    const p = project('fails', {
      'boom.mjs': jsPipeline('boom', {
        boom: '() => { throw Object.assign(new Error("kaput"), { retryable: false }) }',
      }),
    });
    const r = runCli(['run', 'boom.mjs', '--json'], { cwd: p });
    expect(r.code).toBe(1);
    expect(json(r.stdout)).toMatchObject({
      status: 'failed',
      error: { message: expect.stringContaining('kaput') },
    });
  });

  it('exits 2 on configuration problems, naming what to fix', () => {
    const p = project('config', { 'echo.mjs': jsPipeline('echo', { echo: '(x) => x' }) });
    const missing = runCli(['run'], { cwd: p });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('flujo init');
    const misspelt = runCli(['run', 'ehco.mjs'], { cwd: p });
    expect(misspelt.code).toBe(2);
    expect(misspelt.stderr).toMatch(
      /ehco\.mjs does not exist; check the path .*did you mean .*echo\.mjs\?/,
    );
    writeFileSync(join(p, 'flujo.toml'), '[settings]\nagent_timout = 3\n');
    const typo = runCli(['run', 'echo.mjs'], { cwd: p });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(
      /flujo\.toml:2:1: unknown key settings\.agent_timout; did you mean settings\.agent_timeout\?/,
    );
    writeFileSync(join(p, 'flujo.toml'), '# ok\n');
    const uri = runCli(['run', 'echo.mjs', '--state-uri', 'mysql://x'], { cwd: p });
    expect(uri.code).toBe(2);
    expect(uri.stderr).toContain('unusable state URI');
    const flag = runCli(['run', 'echo.mjs', '--budget-usd', 'lots'], { cwd: p });
    expect(flag.code).toBe(2);
    const pg = runCli(
      ['run', 'echo.mjs', '--state-uri', 'postgresql://u:s3cret@127.0.0.1:1/test'],
      {
        cwd: p,
      },
    );
    expect(pg.code).toBe(2);
    expect(pg.stderr).toContain(
      'cannot use the Postgres ledger at postgresql://u:***@127.0.0.1:1/test',
    );
    expect(pg.stderr).not.toContain('s3cret');
  });

  it('exits 2 when a model step has no API key, before anything is recorded', () => {
    const p = project('nokey', {
      'pipeline.yaml':
        'version: "0.1"\nname: ask\nagents:\n  w:\n    model: "openai:gpt-4o-mini"\n    system_prompt: hi\nsteps:\n  - name: ask\n    uses: agents.w\n',
    });
    const r = runCli(['run'], { cwd: p, env: { OPENAI_API_KEY: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('OPENAI_API_KEY');
  });

  it('exits 3 when a module cannot be loaded, and 4 for an invalid blueprint', () => {
    const p = project('bad', {
      'broken.mjs': 'export default { nope: ;',
      'pipeline.yaml': 'version: "0.1"\nname: bad\nsteps:\n  - name: a\n    inptu: x\n',
    });
    const mod = runCli(['run', 'broken.mjs'], { cwd: p });
    expect(mod.code).toBe(3);
    const yaml = runCli(['run'], { cwd: p });
    expect(yaml.code).toBe(4);
    expect(yaml.stderr).toMatch(/pipeline\.yaml:5:5: error V-K1: .*inptu/);
  });

  it('exits 3 for a module exporting a hand-built plan that cannot run, also under --dry-run, recording nothing', () => {
    const plan = (root: unknown) =>
      `export default { ir: ${JSON.stringify({ version: 1, name: 'hand', root })}, functions: { a: (x) => x } };\n`;
    const p = project('handbuilt', {
      'kind.mjs': plan({ kind: 'nope', name: 'pipeline' }),
      'sink.mjs': plan({
        kind: 'sequence',
        name: 'pipeline',
        steps: [
          { kind: 'step', name: 'a', agent: 'fn:a', retries: 0, backoffMs: 0, sinkTo: '__proto__' },
        ],
      }),
    });
    for (const [file, why] of [
      ['kind.mjs', 'pipeline: unknown node kind "nope"'],
      ['sink.mjs', 'a: sinkTo "__proto__" goes through __proto__'],
    ] as const) {
      for (const extra of [[], ['--dry-run']]) {
        // Was exit 1 with `internal error … This is a bug in Flujo`, and --dry-run said "valid".
        const r = runCli(['run', file, '--input', 'x', ...extra], { cwd: p });
        expect(r.code, `${file} ${extra.join(' ')}`).toBe(3);
        expect(r.stderr).toContain(
          `error: [MODULE_LOAD] ${join(p, file)}: exports a pipeline that cannot run: ${why}`,
        );
        expect(r.stderr).not.toContain('internal error');
      }
    }
    expect(json(runCli(['lens', 'list', '--json'], { cwd: p }).stdout)).toEqual([]);
  });
});

describe('flujo run: Ctrl-C', () => {
  it('stops at SIGINT with exit 130, and the run resumes to the same output', async () => {
    const p = project('slow', {
      'slow.mjs': jsPipeline('slow', {
        one: '(x) => `${x}1`',
        two: '(x) => new Promise((r) => setTimeout(() => r(`${x}2`), 1500))',
        three: '(x) => `${x}3`',
      }),
    });
    let sent = false;
    const r = await spawnCli(['run', 'slow.mjs', '--input', 'x', '--run-id', 'slow-1'], {
      cwd: p,
      onStderr: (text, child) => {
        if (!sent && text.includes('step two started')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('flujo resume slow-1');
    const resumed = runCli(['resume', 'slow-1', '--json'], { cwd: p });
    expect(resumed.code).toBe(0);
    expect(json(resumed.stdout)).toMatchObject({ status: 'completed', output: 'x123' });
    expect(runCli(['lens', 'verify', 'slow-1'], { cwd: p }).code).toBe(0);
  });
});

describe('flujo run with a model (real OpenAI SDK, fake server)', () => {
  let llm: FakeLlm;
  let p: string;
  beforeAll(async () => {
    llm = await startFakeLlm();
    p = project('model', {
      'pipeline.yaml': [
        'version: "0.1"',
        'name: summarize',
        'agents:',
        '  writer:',
        '    model: "openai:gpt-4o-mini"',
        '    system_prompt: "Summarize."',
        'steps:',
        '  - name: summary',
        '    uses: agents.writer',
        '    input: "{{ context.initial_prompt }}"',
        '',
      ].join('\n'),
    });
  });
  afterAll(() => llm.close());
  const env = () => ({ OPENAI_API_KEY: 'sk-test-secret-123456', OPENAI_BASE_URL: llm.openaiUrl });

  it('runs an agent step through OPENAI_BASE_URL and reports its cost and tokens', async () => {
    llm.script({ text: 'short', usage: { input: 1000, output: 200 } });
    const r = await spawnCli(['run', '--input', 'a long text', '--json'], { cwd: p, env: env() });
    expect(r.code).toBe(0);
    const j = json(r.stdout);
    expect(j).toMatchObject({
      status: 'completed',
      output: 'short',
      tokens: { input: 1000, output: 200 },
    });
    expect(j.cost_usd as number).toBeGreaterThan(0);
  });

  it('reaches Anthropic through ANTHROPIC_BASE_URL with a structured reply', async () => {
    writeFileSync(
      join(p, 'claude.yaml'),
      [
        'version: "0.1"',
        'name: extract',
        'agents:',
        '  reader:',
        '    model: "anthropic:claude-haiku-4-5"',
        '    system_prompt: "Extract the total."',
        '    output_schema:',
        '      type: object',
        '      properties: { total: { type: number } }',
        '      required: [total]',
        'steps:',
        '  - name: total',
        '    uses: agents.reader',
        '',
      ].join('\n'),
    );
    llm.script({ text: '{"total": 42}', usage: { input: 30, output: 8 } });
    const r = await spawnCli(['run', 'claude.yaml', '--input', 'two at 21', '--json'], {
      cwd: p,
      env: { ANTHROPIC_API_KEY: 'sk-ant-test-0000', ANTHROPIC_BASE_URL: llm.anthropicUrl },
    });
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ status: 'completed', output: { total: 42 } });
    expect(llm.requests.at(-1)?.route).toBe('messages');
  });

  it('warns once on stderr about a model without a price, which counts as free', async () => {
    writeFileSync(
      join(p, 'local.yaml'),
      [
        'version: "0.1"',
        'agents:',
        '  local: { model: "openai:llama3.1" }',
        'steps:',
        '  - { name: one, uses: agents.local }',
        '  - { name: two, uses: agents.local }',
        '',
      ].join('\n'),
    );
    llm.script({ text: 'a' }, { text: 'b' });
    const r = await spawnCli(['run', 'local.yaml', '--input', 'x', '--json'], {
      cwd: p,
      env: env(),
    });
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toMatchObject({ status: 'completed', output: 'b', cost_usd: 0 });
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^warning: openai:llama3\.1 has no price: .*\[cost\.providers\.openai\."llama3\.1"\].*strict = true/,
      ),
    ]);
  });

  it('refuses a call the budget cannot cover: exit 1, the budget error in the JSON, no request made', async () => {
    const seen = llm.requests.length;
    const r = await spawnCli(['run', '--input', 'text', '--json', '--budget-usd', '0.0000001'], {
      cwd: p,
      env: env(),
    });
    expect(r.code).toBe(1);
    expect(json(r.stdout)).toMatchObject({
      status: 'failed',
      error: { code: 'COST_LIMIT_EXCEEDED' },
    });
    expect(llm.requests.length).toBe(seen);
  });

  it('masks secrets in show-config and says where each setting came from', () => {
    const r = runCli(['show-config', '--json'], {
      cwd: p,
      env: { ...env(), OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('sk-test-secret-123456');
    const cfg = json(r.stdout) as {
      settings: { key: string; source: string }[];
      env: { key: string; value: string }[];
    };
    expect(cfg.env.find((e) => e.key === 'OPENAI_API_KEY')?.value).toBe('sk-…3456');
    expect(cfg.settings.find((s) => s.key === 'state_uri')?.source).toBe('default');
  });
});

describe('flujo version', () => {
  it('prints the version, also as JSON', () => {
    const r = runCli(['version', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(json(r.stdout).version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
