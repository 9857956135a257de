/**
 * Refusals of run and resume say which command goes on from there (docs/cli.md: errors say what
 * to do next), with the run's id: a run taken up by `run --run-id` under another pipeline, an
 * answer to a run that asks nothing, and a run whose pipeline file is gone (resume refuses rather
 * than fall back to pipeline.yaml; lens replay says so rather than a blueprint's import error).
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli, spawnCli } from './cli.js';

let p: string;
const cli = (...args: string[]) => runCli(args, { cwd: p });

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-next-steps-'));
  expect(cli('init').code).toBe(0); // pipeline.yaml pauses for approval
  writeFileSync(
    join(p, 'other.yaml'),
    'version: "0.1"\nname: other\nsteps:\n  - name: s\n    agent: { id: flujo.builtins.stringify }\n',
  );
  writeFileSync(
    join(p, 'skills/slow.mjs'),
    // Ctrl-C lets the step in flight finish (the run stays resumable), then exits 130.
    'export const slow = async (s) => { await new Promise((r) => setTimeout(r, 1500)); return s; };\n',
  );
  writeFileSync(
    join(p, 'skills.yaml'),
    `${readFileSync(join(p, 'skills.yaml'), 'utf8')}  - id: slow\n    description: Waits 1.5 s.\n    path: ./skills/slow.mjs\n    export: slow\n    side_effects: false\n`,
  );
  writeFileSync(
    join(p, 'slow.yaml'),
    'version: "0.1"\nname: slow\nsteps:\n  - name: wait\n    agent: { id: slow }\n',
  );
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

describe('what to do next', () => {
  it('run --run-id of a run under another pipeline names the resume that continues it', () => {
    expect(cli('run', '--input', 'Ada', '--run-id', 'next-1').code).toBe(0);
    const r = cli('run', 'other.yaml', '--input', 'Ada', '--run-id', 'next-1', '--json');
    expect(r.code).toBe(1);
    // Before: '…; resume with the original pipeline or allow the change explicitly' (run has
    // no flag for that).
    expect(JSON.parse(r.stdout)).toMatchObject({
      run_id: 'next-1',
      error: {
        code: 'PLAN_CHANGED',
        message: expect.stringContaining(
          'continue it under this one with: flujo resume next-1 --pipeline PATH --allow-changed-pipeline',
        ),
      },
    });
  });

  it('an answer to an interrupted run says to resume it without --input', async () => {
    let signalled = false;
    const run = await spawnCli(['run', 'slow.yaml', '--input', 'x', '--run-id', 'next-2'], {
      cwd: p,
      onStderr: (text, child) => {
        if (!signalled && text.includes('wait')) {
          signalled = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(run.code, run.stderr).toBe(130);
    const r = cli('resume', 'next-2', '--input', '{}');
    expect(r.code).toBe(1);
    // Before: '… is not paused: it is not waiting for human input, and the answer was not
    // recorded', and no way on.
    expect(r.stderr).toContain('the answer was not recorded');
    expect(r.stderr).toContain('to continue it, run: flujo resume next-2 (without --input)');
  }, 60_000);

  it('an answer to a paused run at a question it does not have is not told to drop --input', () => {
    expect(cli('run', '--input', 'Ada', '--run-id', 'next-4').code).toBe(0);
    const r = cli('resume', 'next-4', '--input', '{"approved":true}', '--question', 'nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('has no open question at "nope"');
    // Review: the hint fired here too, and following it was refused ('paused for human input').
    expect(r.stderr).not.toContain('without --input');
  });

  it("a run whose pipeline file is gone names it and --pipeline, not 'flujo init'", () => {
    expect(cli('run', 'other.yaml', '--input', 'x', '--run-id', 'next-3').code).toBe(0);
    renameSync(join(p, 'pipeline.yaml'), join(p, 'moved.yaml'));
    renameSync(join(p, 'other.yaml'), join(p, 'gone.yaml'));
    try {
      const r = cli('resume', 'next-3');
      expect(r.code).toBe(2);
      // Before: 'no pipeline.yaml in …; pass a pipeline file, or create a project with: flujo init'.
      expect(r.stderr).toContain('run next-3 started from other.yaml, which is no longer in');
      expect(r.stderr).toContain('flujo resume next-3 --pipeline PATH');
      // With the file named, the run is taken up (it has ended: nothing to do).
      expect(cli('resume', 'next-3', '--pipeline', 'gone.yaml').code).toBe(0);
    } finally {
      renameSync(join(p, 'moved.yaml'), join(p, 'pipeline.yaml'));
    }
  });

  it('resume of a paused run whose file is gone refuses, not falls back to pipeline.yaml', () => {
    // A paused run of h.yaml, a pipeline other than pipeline.yaml (which is still there).
    writeFileSync(
      join(p, 'h.yaml'),
      readFileSync(join(p, 'pipeline.yaml'), 'utf8').replace(/^name: .*$/m, 'name: h'),
    );
    expect(cli('run', 'h.yaml', '--input', 'Ada', '--run-id', 'gone-h').code).toBe(0);
    renameSync(join(p, 'h.yaml'), join(p, 'h2.yaml'));
    const answer = ['--input', '{"approved":true}'];
    const r = cli('resume', 'gone-h', ...answer, '--json');
    // Before: PLAN_CHANGED against pipeline.yaml, advising --allow-changed-pipeline (exit 1).
    expect(r.code, r.stderr).toBe(2);
    const j = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(j.error.code).toBe('CONFIG_INVALID');
    expect(j.error.message).toContain('run gone-h started from h.yaml, which is no longer in');
    expect(j.error.message).toContain('flujo resume gone-h --pipeline PATH');
    expect(j.error.message).not.toContain('PLAN_CHANGED');
    // run --run-id loads the file it names (pipeline.yaml here): refused by its fingerprint,
    // naming the file the run started with and that it is gone.
    const taken = cli('run', '--run-id', 'gone-h', '--input', 'Ada');
    expect(taken.code, taken.stderr).toBe(1);
    expect(taken.stderr).toContain('PLAN_CHANGED');
    expect(taken.stderr).toContain(
      `run it with the pipeline it started with (h.yaml, which is no longer in ${p})`,
    );
    // Nothing was recorded: the run is still paused, and --pipeline takes it up.
    const ok = cli('resume', 'gone-h', ...answer, '--pipeline', 'h2.yaml', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ run_id: 'gone-h', status: 'completed' });
  });

  it('lens replay of a run whose file is gone names it and --pipeline (CONFIG_INVALID, 2)', () => {
    writeFileSync(
      join(p, 'rgone.yaml'),
      'version: "0.1"\nname: rgone\nsteps:\n  - name: s\n    agent: { id: flujo.builtins.stringify }\n',
    );
    expect(cli('run', 'rgone.yaml', '--input', 'x', '--run-id', 'gone-r').code).toBe(0);
    renameSync(join(p, 'rgone.yaml'), join(p, 'rgone2.yaml'));
    const r = cli('lens', 'replay', 'gone-r');
    // Before: BLUEPRINT_INVALID, exit 3, '… V-I1: …/rgone.yaml does not exist (… imports …)'.
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('CONFIG_INVALID');
    expect(r.stderr).toContain('run gone-r started from rgone.yaml, which is no longer in');
    expect(r.stderr).toContain('flujo lens replay gone-r --pipeline PATH');
    expect(r.stderr).not.toContain('import');
    // A --pipeline that does not exist is refused as run refuses it, with a close name.
    const typo = cli('lens', 'replay', 'gone-r', '--pipeline', 'rgone3.yaml');
    expect(typo.code, typo.stderr).toBe(2);
    expect(typo.stderr).toContain('CONFIG_INVALID');
    expect(typo.stderr).toContain(`pipeline file ${join(p, 'rgone3.yaml')} does not exist`);
    expect(typo.stderr).toContain(`did you mean ${join(p, 'rgone2.yaml')}?`);
    expect(typo.stderr).not.toContain('import');
    expect(cli('lens', 'replay', 'gone-r', '--pipeline', 'rgone2.yaml').code).toBe(0);
  });

  it('resume and cancel under a mistyped --state-uri say there is no state file, and make none', () => {
    const typo = join(p, 'stat.db');
    for (const command of ['resume', 'cancel']) {
      const r = cli(command, 'next-1', '--state-uri', `sqlite:///${typo}`, '--json');
      expect(r.code, r.stderr).toBe(1);
      // Before: an empty stat.db was created, then 'no run matches "next-1"'.
      expect(JSON.parse(r.stdout)).toEqual({
        run_id: 'next-1',
        error: {
          code: 'LEDGER_UNKNOWN_RUN',
          message: expect.stringContaining(`there is no state file at ${typo}`),
        },
      });
      expect(existsSync(typo), command).toBe(false);
    }
  });
});
