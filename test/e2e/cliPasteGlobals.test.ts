/**
 * ADR 144: every `flujo …` command Flujo prints as a next step carries the global options given
 * on the command line, `--project` (absolute) and `--state-uri`, so that pasted into a shell in
 * another folder it reaches the same project and ledger (QA: `cd /tmp && flujo --project
 * /tmp/qa1/hello run` printed `resume: flujo resume … RUN`, which from /tmp found no state file).
 * A state URI holding a password is never printed: the commands leave it out and a note says so.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI, runCli } from './cli.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';

const pgUp = await postgresReachable();

let project: string;
/** Where the commands are typed: no project marker above it. */
let elsewhere: string;
/** Where the printed commands are pasted: another folder again. */
let pasteDir: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'flujo-paste-project-'));
  elsewhere = mkdtempSync(join(tmpdir(), 'flujo-paste-here-'));
  pasteDir = mkdtempSync(join(tmpdir(), 'flujo-paste-there-'));
  expect(runCli(['init'], { cwd: project }).code).toBe(0); // pauses for approval
});
afterAll(() => {
  for (const d of [project, elsewhere, pasteDir]) rmSync(d, { recursive: true, force: true });
});

/** Runs a printed `flujo …` command through sh in `cwd`, as a person pasting it would. */
function paste(command: string, cwd = pasteDir, env: NodeJS.ProcessEnv = {}) {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const k of ['FLUJO_STATE_URI', 'FLUJO_PROJECT_ROOT', 'FLUJO_INPUT']) delete e[k];
  const cmd = command.replace(/^flujo /, `'${process.execPath}' '${CLI}' `);
  return spawnSync('sh', ['-c', cmd], { cwd, env: { ...e, ...env }, input: '', encoding: 'utf8' });
}

const hint = (text: string, re: RegExp) => {
  const m = re.exec(text);
  expect(m, `${re} in:\n${text}`).not.toBeNull();
  return (m as RegExpExecArray)[1] as string;
};

/** The run's hints: what `run` printed, what `lens show` and `lens watch` print, each pasted. */
function followHints(globals: string[], id: string, start: string, cwd: string) {
  const run = runCli([...globals, 'run', '--input', 'Ada', '--run-id', id], { cwd });
  expect(run.code, run.stderr).toBe(0);
  const inspect = hint(run.stderr, /inspect: (flujo .*? lens show \S+) {3}/);
  expect(inspect.startsWith(`flujo ${start} lens show`), inspect).toBe(true);
  const show = paste(inspect);
  expect(show.status, show.stderr).toBe(0);
  expect(show.stdout).toContain(`run       ${id}\n`);
  const answer = hint(show.stdout, /answer with: (flujo .*)$/m);
  expect(answer).toBe(`flujo ${start} resume --input '…' ${id}`);

  const watch = runCli([...globals, 'lens', 'watch', id], { cwd });
  expect(watch.code, watch.stderr).toBe(0);
  const watched = hint(watch.stdout, /answer with: (flujo .*)$/m);
  expect(watched).toBe(`flujo ${start} resume --input '{"approved":true}' ${id}`);

  const resume = paste(hint(run.stderr, /resume: (flujo .*)$/m));
  expect(resume.status, resume.stderr).toBe(0);
  expect(resume.stderr).toContain(`run ${id} completed`);
  const replay = paste(hint(resume.stderr, /replay: (flujo .*)$/m));
  expect(replay.status, replay.stderr).toBe(0);

  const cancel = runCli([...globals, 'cancel', id], { cwd });
  expect(cancel.code).toBe(1);
  const seeIt = hint(cancel.stderr, /See it with: (flujo .*)$/m);
  expect(seeIt).toBe(`flujo ${start} lens show ${id}`);
  expect(paste(seeIt).status).toBe(0);
}

describe('printed next-step commands repeat the global options given', () => {
  it('--project, absolute, pasted in another folder', () => {
    const given = relative(elsewhere, project);
    followHints(['--project', given], 'proj-1', `--project '${project}'`, elsewhere);
  });

  it('--state-uri of a SQLite file by absolute path, with and without --project', () => {
    const uri = `sqlite:///${join(elsewhere, 'other.db')}`;
    expect(uri.startsWith('sqlite:////')).toBe(true);
    // Typed in the project: pasted there, the default .flujo/state.db does not hold the run.
    const pasteHere = (command: string) => paste(command, project);
    const run = runCli(['--state-uri', uri, 'run', '--input', 'Ada', '--run-id', 'sq-1'], {
      cwd: project,
    });
    expect(run.code, run.stderr).toBe(0);
    const inspect = hint(run.stderr, /inspect: (flujo .*? lens show \S+) {3}/);
    expect(inspect).toBe(`flujo --state-uri '${uri}' lens show sq-1`);
    expect(pasteHere(inspect).status).toBe(0);
    expect(pasteHere('flujo lens show sq-1').status).not.toBe(0); // not in the default state
    const resume = pasteHere(hint(run.stderr, /resume: (flujo .*)$/m));
    expect(resume.stderr).toContain('run sq-1 completed');

    followHints(
      ['--project', project, '--state-uri', uri],
      'sq-2',
      `--project '${project}' --state-uri '${uri}'`,
      elsewhere,
    );
  });

  it('a refusal names its next step with them too, also under --json', () => {
    const globals = ['--project', project];
    expect(
      runCli([...globals, 'run', '--input', 'Ada', '--run-id', 'ref-1'], { cwd: elsewhere }).code,
    ).toBe(0);
    const bare = runCli([...globals, 'resume', 'ref-1', '--json'], { cwd: elsewhere });
    expect(bare.code).toBe(1);
    const { error } = JSON.parse(bare.stdout) as { error: { message: string } };
    const answer = hint(error.message, /answer it: (flujo .*? ref-1)/);
    expect(answer).toBe(`flujo --project '${project}' resume --input '{"approved":true}' ref-1`);
    expect(paste(answer).status).toBe(0);
    const unknown = runCli([...globals, 'lens', 'show', 'no-such-run'], { cwd: elsewhere });
    expect(unknown.stderr).toContain(`list runs with: flujo --project '${project}' lens list`);
  });
});

describe('init --project', () => {
  it('prints next commands for the project it made, which work pasted elsewhere', () => {
    const made = join(elsewhere, 'made');
    const init = runCli(['--project', 'made', 'init', '--json'], { cwd: elsewhere });
    expect(init.code, init.stderr).toBe(0);
    const { next } = JSON.parse(init.stdout) as { next: string[] };
    expect(next[0]).toBe(`flujo --project '${made}' run --input "Ada"`);
    expect(init.stderr).toContain(`flujo --project '${made}' lens show <run>`);
    const run = paste(next[0] as string);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/paused at step "approve"/);
  });
});

describe.skipIf(!pgUp)('on Postgres', () => {
  const schemas = [uniqueSchema('paste'), uniqueSchema('pastepw')];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  it('--state-uri with a schema, pasted in another folder', () => {
    const uri = `${PG_URL}?schema=${schemas[0]}`;
    followHints(
      ['--project', project, '--state-uri', uri],
      'pg-1',
      `--project '${project}' --state-uri '${uri}'`,
      elsewhere,
    );
  });

  it('never prints a --state-uri that holds a password: the commands leave it out, and say so once', () => {
    const secret = 'pw-s3cret-144';
    const url = new URL(`${PG_URL}?schema=${schemas[1]}`);
    url.password = secret; // trust auth: any password is taken
    const uri = url.toString();
    const globals = ['--project', project, '--state-uri', uri];
    const run = runCli([...globals, 'run', '--input', 'Ada', '--run-id', 'pw-1'], {
      cwd: elsewhere,
    });
    expect(run.code, run.stderr).toBe(0);
    const outputs = [run];
    for (const args of [
      ['lens', 'show', 'pw-1'],
      ['lens', 'watch', 'pw-1'],
      ['resume', 'pw-1', '--json'],
      ['lens', 'show', 'pw-0'],
    ])
      outputs.push(runCli([...globals, ...args], { cwd: elsewhere }));
    for (const o of outputs) expect(`${o.stdout}${o.stderr}`).not.toContain(secret);
    const notes = run.stderr.split('\n').filter((l) => l.startsWith('note: the flujo commands'));
    expect(notes).toEqual([
      'note: the flujo commands printed here leave out --state-uri, which holds a password that is not shown: give them the same --state-uri, or set FLUJO_STATE_URI to it',
    ]);
    const resume = hint(run.stderr, /resume: (flujo .*)$/m);
    expect(resume).toBe(`flujo --project '${project}' resume --input '{"approved":true}' pw-1`);
    // As the note says: with FLUJO_STATE_URI set to it, the printed command works pasted.
    const pasted = paste(resume, pasteDir, { FLUJO_STATE_URI: uri });
    expect(pasted.status, pasted.stderr).toBe(0);
    expect(pasted.stderr).toContain('run pw-1 completed');
    expect(pasted.stderr).not.toContain(secret);
  });
});
