/**
 * Where `flujo create` writes, as a user meets it: the built CLI, the real OpenAI SDK against the
 * fake server. What can be checked is checked before the first model call (the output folder, a
 * pipeline.yaml that is a folder or a link, a folder or flujo.toml this user may not write): exit
 * 2, CONFIG_INVALID, one object under --json, no model called. A write that fails once the
 * Architect ran is CONFIG_INVALID naming the run that holds the draft, with nothing written.
 * Before: the Architect ran (two paid calls), then `internal error … a bug in Flujo`, exit 1, and
 * a dangling pipeline.yaml link made a file outside the project.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { CLI, runCli, spawnCli, type CliResult } from './cli.js';

const PLAN = JSON.stringify({
  plan_summary: 'One step.',
  steps: [{ step_name: 'summarize', purpose: 'three bullets' }],
});

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

// Permission bits do not bind root: as root, the CLI runs as nobody in a base folder nobody owns.
const root = process.getuid?.() === 0;
const NOBODY = 65534;

let llm: FakeLlm;
let base: string;
let p: string;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm.close());
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'flujo-create-write-'));
  p = join(base, 'project');
  mkdirSync(p);
  writeFileSync(join(p, 'flujo.toml'), 'state_uri = "sqlite:///.flujo/state.db"\n');
  return () => {
    chmodSync(base, 0o700);
    rmSync(base, { recursive: true, force: true });
  };
});
const env = () => ({ OPENAI_API_KEY: 'sk-test-secret-123456', OPENAI_BASE_URL: llm.openaiUrl });
const create = (args: string[]) => spawnCli(['create', ...args], { cwd: p, env: env() });
const ls = (dir: string) => readdirSync(dir).sort();

/** `flujo create ARGS` as nobody (as root; else as this user), answered by the fake server. */
function createAs(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', HOME: '/tmp', ...env() };
    delete e.FLUJO_STATE_URI;
    delete e.FLUJO_PROJECT_ROOT;
    const child = spawn(process.execPath, [CLI, 'create', ...args], {
      cwd: p,
      env: e,
      ...(root ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

/** The project and its files belong to nobody (as root), who may write them. */
function ownedByNobody(): void {
  if (!root) return;
  chmodSync(base, 0o755);
  for (const f of [p, join(p, 'flujo.toml')]) chownSync(f, NOBODY, NOBODY);
}

/** Refused before any model call: exit 2, CONFIG_INVALID as one object, nothing written. */
async function refusedBeforeTheModel(args: string[], says: string, as = create) {
  const seen = llm.requests.length;
  const before = ls(p);
  const r = await as([...args, '--json']);
  expect(r.code, r.stderr).toBe(2);
  expect(JSON.parse(r.stdout)).toEqual({
    error: { code: 'CONFIG_INVALID', message: expect.stringContaining(says) as unknown },
  });
  expect(r.stderr).toContain('nothing was written');
  expect(r.stderr).not.toContain('internal error');
  expect(llm.requests.length).toBe(seen);
  expect(ls(p)).toEqual(before);
  return r;
}

describe('flujo create: refused before any model is called', () => {
  it('an output folder that is a file, or under one', async () => {
    writeFileSync(join(p, 'afile'), 'mine\n');
    await refusedBeforeTheModel(
      ['--goal', 'x', '--output-dir', 'afile'],
      'the output folder afile is a file, not a folder',
    );
    await refusedBeforeTheModel(
      ['--goal', 'x', '--output-dir', 'afile/sub'],
      'afile is a file, so the output folder afile/sub cannot be made',
    );
    expect(readFileSync(join(p, 'afile'), 'utf8')).toBe('mine\n');
  });

  it('a pipeline.yaml that is a folder, also under --force', async () => {
    mkdirSync(join(p, 'pipeline.yaml'));
    await refusedBeforeTheModel(
      ['--goal', 'x', '--force'],
      'pipeline.yaml is a folder; remove or rename it',
    );
    expect(ls(join(p, 'pipeline.yaml'))).toEqual([]);
  });

  it('an output folder this user may not write', async () => {
    ownedByNobody();
    mkdirSync(join(p, 'ro'));
    chmodSync(join(p, 'ro'), 0o555);
    await refusedBeforeTheModel(
      ['--goal', 'x', '--output-dir', 'ro'],
      'cannot write in ro (EACCES: permission denied)',
      createAs,
    );
    expect(ls(join(p, 'ro'))).toEqual([]);
  });

  it('--budget with a flujo.toml this user may not write', async () => {
    ownedByNobody();
    chmodSync(join(p, 'flujo.toml'), 0o444);
    if (root) chownSync(join(p, 'flujo.toml'), 0, 0);
    await refusedBeforeTheModel(
      ['--goal', 'x', '--budget', '2'],
      'flujo.toml is read-only for this user (EACCES: permission denied); drop --budget',
      createAs,
    );
    expect(readFileSync(join(p, 'flujo.toml'), 'utf8')).toBe(
      'state_uri = "sqlite:///.flujo/state.db"\n',
    );
  });
});

describe('flujo create: a write that fails once the Architect ran', () => {
  /** Runs create while `meanwhile` changes the project once the writer was asked. */
  async function whileItRuns(args: string[], meanwhile: () => void) {
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: draft('bullets'), delayMs: 1500 });
    const run = create([...args, '--json']);
    while (llm.requests.length < seen + 2) await new Promise((r) => setTimeout(r, 20));
    meanwhile();
    return run;
  }

  it('a folder made at pipeline.yaml meanwhile: CONFIG_INVALID naming the run that holds the draft', async () => {
    const r = await whileItRuns(['--goal', 'x', '--force'], () =>
      mkdirSync(join(p, 'pipeline.yaml')),
    );
    expect(r.code, r.stderr).toBe(2);
    const j = JSON.parse(r.stdout) as { run_id: string; path: null; error: { message: string } };
    expect(j).toMatchObject({ path: null, name: 'bullets', valid: true });
    expect(j.error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(j.error.message).toContain('pipeline.yaml is a folder');
    expect(j.error.message).toContain(`flujo lens show ${j.run_id} --json --verbose`);
    expect(ls(join(p, 'pipeline.yaml'))).toEqual([]);
    // The paid draft is where the message says.
    const shown = JSON.parse(
      runCli(['lens', 'show', j.run_id, '--json', '--verbose'], { cwd: p }).stdout,
    ) as { steps: { name: string; output: { yaml?: string } }[] };
    expect(shown.steps.find((s) => s.name === 'result')?.output.yaml).toContain('name: bullets');
  });

  it('a budget flujo.toml cannot take: neither file is written, and flujo.toml still loads', async () => {
    const toml = '[budgets.pipeline]\n"bullets" = { total_cost_usd_limit = 1 }\n';
    writeFileSync(join(p, 'flujo.toml'), toml);
    llm.script({ text: PLAN }, { text: draft('bullets') });
    const r = await create(['--goal', 'x', '--budget', '2', '--json']);
    expect(r.code, r.stderr).toBe(2);
    const j = JSON.parse(r.stdout) as { run_id: string; error: { message: string } };
    expect(j.error.message).toContain(
      'flujo.toml:2: the budget of pipeline "bullets" is written here as an inline table or dotted keys, which create does not edit; set total_cost_usd_limit = 2 there yourself',
    );
    expect(j.error.message).toContain(j.run_id);
    expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
    expect(readFileSync(join(p, 'flujo.toml'), 'utf8')).toBe(toml);
    expect(runCli(['show-config'], { cwd: p }).code).toBe(0);
  });
});

describe('flujo create: a pipeline.yaml that is a link (ADR 157)', () => {
  it('to nothing: refused, also under --force, and no file is made where it points', async () => {
    mkdirSync(join(base, 'victim'));
    symlinkSync('../victim/owned.txt', join(p, 'pipeline.yaml'));
    for (const force of [[], ['--force']])
      await refusedBeforeTheModel(
        ['--goal', 'x', '--no-agentic', ...force],
        'pipeline.yaml is a link to ../victim/owned.txt, which does not exist',
      );
    expect(ls(join(base, 'victim'))).toEqual([]);
  });

  it('to a file outside the project: refused, also under --force; the file is left as it was', async () => {
    mkdirSync(join(base, 'victim'));
    writeFileSync(join(base, 'victim', 'theirs.txt'), 'theirs\n');
    symlinkSync('../victim/theirs.txt', join(p, 'pipeline.yaml'));
    await refusedBeforeTheModel(
      ['--goal', 'x', '--no-agentic', '--force'],
      `pipeline.yaml is a link to ${join(base, 'victim', 'theirs.txt')}, outside ${p}; create writes no file outside it (not with --force either)`,
    );
    await refusedBeforeTheModel(['--goal', 'x', '--no-agentic'], 'outside');
    expect(readFileSync(join(base, 'victim', 'theirs.txt'), 'utf8')).toBe('theirs\n');
  });

  it('to a file inside the project: refused without --force; with it, that file is written and the link kept', async () => {
    mkdirSync(join(p, 'pipelines'));
    writeFileSync(join(p, 'pipelines', 'v2.yaml'), 'mine\n');
    symlinkSync('pipelines/v2.yaml', join(p, 'pipeline.yaml'));
    await refusedBeforeTheModel(['--goal', 'x', '--no-agentic'], 'pipeline.yaml already exists');
    const r = await create(['--goal', 'Translate to French', '--no-agentic', '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p, 'pipelines', 'v2.yaml'), 'utf8')).toContain(
      'name: translate-to-french',
    );
    expect(readFileSync(join(p, 'pipeline.yaml'), 'utf8')).toContain('name: translate-to-french');
    expect(ls(join(p, 'pipelines'))).toEqual(['v2.yaml']);
  });
});
