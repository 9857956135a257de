/**
 * Run ids on the command line: `--run-id` takes only ids a person can type back, and every
 * next-step hint prints the whole id as one shell word, so pasting the hint into a shell reaches
 * the same run even when another run shares its first characters.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { z } from 'zod';

import { openState } from '../../src/adapters/ledger/state.js';
import { definePipeline, hitl } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { CLI, runCli } from './cli.js';

let p: string;

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-runids-'));
  expect(runCli(['init'], { cwd: p }).code).toBe(0); // a pipeline that pauses for approval
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

/** Runs a printed `flujo …` hint through sh, as a person pasting it would. */
function paste(hint: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FLUJO_STATE_URI;
  delete env.FLUJO_PROJECT_ROOT;
  delete env.FLUJO_INPUT;
  const cmd = hint.replace(/^flujo /, `'${process.execPath}' '${CLI}' `);
  return spawnSync('sh', ['-c', cmd], { cwd: p, env, input: '', encoding: 'utf8' });
}

const hint = (text: string, re: RegExp) => {
  const m = re.exec(text);
  expect(m, `${re} in:\n${text}`).not.toBeNull();
  return (m as RegExpExecArray)[1] as string;
};

describe('run-id hints', () => {
  it('prints the whole run id, shell-quoted, in hints that work when pasted into a shell', () => {
    const id = `abcdefghijkl'$HOME/1`;
    const twin = 'abcdefghijkl-2'; // the same first 12 characters
    expect(runCli(['run', '--input', 'Ada', '--run-id', twin], { cwd: p }).code).toBe(0);
    const run = runCli(['run', '--input', 'Ada', '--run-id', id], { cwd: p });
    expect(run.code).toBe(0);
    const quoted = `'abcdefghijkl'\\''$HOME/1'`;
    expect(run.stderr).toContain(`flujo lens show ${quoted}   replay: flujo lens replay ${quoted}`);

    const show = paste(hint(run.stderr, /inspect: (flujo lens show \S+)/));
    expect(show.status).toBe(0);
    expect(show.stdout).toContain(`run       ${id}\n`);
    const pending = hint(show.stdout, /answer with: (flujo resume --input '…' \S+)$/m);
    expect(pending).toBe(`flujo resume --input '…' ${quoted}`);

    const resume = paste(hint(run.stderr, /resume: (flujo resume .*)$/m));
    expect(resume.stderr).toContain(`run ${id} completed`);
    expect(resume.status).toBe(0);
    const twinShow = runCli(['lens', 'show', twin, '--json'], { cwd: p });
    expect(JSON.parse(twinShow.stdout)).toMatchObject({ status: 'paused' });
  });

  it("lens watch's pause line prints an answer command that works pasted (was `flujo resume RUN --input …`)", () => {
    const id = `watch'd-run`;
    expect(runCli(['run', '--input', 'Ada', '--run-id', id], { cwd: p }).code).toBe(0);
    const watch = runCli(['lens', 'watch', id], { cwd: p });
    expect(watch.code, watch.stderr).toBe(0);
    const answer = hint(watch.stdout, /run paused at \S+ \S+; answer with: (flujo resume .*)$/m);
    expect(answer).toMatch(/^flujo resume --input '\{.*\}' 'watch'\\''d-run'$/);
    const resume = paste(answer);
    expect(resume.status, resume.stderr).toBe(0);
    expect(resume.stderr).toContain(`run ${id} completed`);
  });

  it('prints a plain id bare', () => {
    const run = runCli(['run', '--input', 'Ada', '--run-id', 'order-1042.v2:a_b'], { cwd: p });
    expect(run.stderr).toContain('flujo lens show order-1042.v2:a_b   replay:');
    expect(run.stderr).toMatch(/resume: flujo resume --input '\{.*\}' order-1042\.v2:a_b\n/);
  });

  it('puts an id starting with "-" (made through the library) after --, so the CLI reads it as the run', async () => {
    const state = await openState('sqlite:///.flujo/state.db', { projectRoot: p });
    try {
      const engine = createEngine({ ledger: state.ledger });
      const asks = definePipeline(
        'lib',
        hitl('ok', { message: 'Fine?', schema: z.object({ ok: z.boolean() }) }),
      ).plan;
      expect((await engine.run(asks, 1, { runId: '-lib-1' })).status).toBe('paused');
    } finally {
      await state.close();
    }
    const show = paste('flujo lens show -- -lib-1');
    expect(show.status).toBe(0);
    const pending = hint(show.stdout, /answer with: (flujo resume .*)$/m);
    expect(pending).toBe(`flujo resume --input '…' -- -lib-1`);
    // Pasted with an answer, it reaches the run: the refusal is about its pipeline, not an option.
    const resume = paste(pending.replace(`'…'`, `'{"ok":true}'`));
    expect(resume.stderr).not.toMatch(/unknown option/);
    expect(resume.stderr).toContain('-lib-1');
    expect(resume.status).not.toBe(2);
  });
});

describe('--run-id', () => {
  it.each([
    ['', 'is empty'],
    [' ', 'contains whitespace'],
    ['a b', 'contains whitespace'],
    ['a\tb', 'contains whitespace'],
    ['a\u0007b', 'contains whitespace or control characters'],
    ['a\u202eb', 'contains whitespace or control characters'],
    ['-x', 'starts with "-"'],
    ['x'.repeat(201), 'is 201 characters long'],
    // A URL drops "." and ".." from a path: the web lens could not name such a run (ADR 154).
    ['.', 'is only dots'],
    ['..', 'is only dots'],
    ['...', 'is only dots'],
  ])('refuses %j as a usage error, recording nothing', (id, why) => {
    const r = runCli(['run', '--input', 'Ada', '--run-id', id, '--json'], { cwd: p });
    expect(r.code).toBe(2);
    // Under --json the refusal is one object on stdout (CONTRACTS), naming the id as given.
    expect(JSON.parse(r.stdout)).toEqual({
      run_id: id,
      error: { code: 'USAGE', message: expect.stringContaining(`--run-id ${why}`) },
    });
    expect(r.stderr).toContain(`--run-id ${why}`);
    expect(r.stderr).toContain('use 1 to 200 characters');
    const runs = JSON.parse(runCli(['lens', 'list', '--json'], { cwd: p }).stdout) as {
      run_id: string;
    }[];
    expect(runs.map((x) => x.run_id)).not.toContain(id);
  });

  it('accepts an id of 200 characters', () => {
    const r = runCli(['run', '--input', 'Ada', '--run-id', 'y'.repeat(200), '--json'], {
      cwd: p,
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ run_id: 'y'.repeat(200), status: 'paused' });
  });

  it('an id that exists is resumed; a refused resume is still one JSON object under --json', () => {
    const first = runCli(['run', '--input', 'Ada', '--run-id', 'again-1', '--json'], { cwd: p });
    expect(JSON.parse(first.stdout)).toMatchObject({ run_id: 'again-1', status: 'paused' });
    // Paused on a person: run (as resume) takes no answer, so it is refused, and says so on stdout.
    const again = runCli(['run', '--input', 'Ada', '--run-id', 'again-1', '--json'], { cwd: p });
    expect(again.code).toBe(1);
    // As `flujo resume RUN` without --input: the run's status, the question and how to answer.
    expect(JSON.parse(again.stdout)).toEqual({
      run_id: 'again-1',
      status: 'paused',
      error: {
        code: 'RUN_NOT_RESUMABLE',
        message: expect.stringContaining(
          `paused for human input at step "approve": Publish this greeting? Hello, Ada! Welcome to Flujo.; answer it: flujo resume --input '{"approved":true}' again-1`,
        ),
      },
    });
  });
});

describe('an empty RUN', () => {
  it('is refused by resume and cancel, which would otherwise act on the only run', () => {
    const q = mkdtempSync(join(tmpdir(), 'flujo-emptyrun-'));
    try {
      expect(runCli(['init'], { cwd: q }).code).toBe(0);
      const started = runCli(['run', '--input', 'Ada', '--json'], { cwd: q });
      const { run_id: id } = JSON.parse(started.stdout) as { run_id: string };
      for (const args of [
        ['cancel', ''],
        ['cancel', ' ', '--json'],
        ['resume', '', '--input', '{"approved": true}'],
        ['resume', '', '--input', '{"approved": true}', '--fleet', '--json'],
      ]) {
        const r = runCli(args, { cwd: q });
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toContain('error: [USAGE] RUN is empty');
        // Under --json the refusal is one object, as resume and cancel print every refusal.
        if (args.includes('--json'))
          expect(JSON.parse(r.stdout)).toEqual({
            run_id: args[1],
            error: { code: 'USAGE', message: expect.stringContaining('RUN is empty') },
          });
        else expect(r.stdout).toBe('');
      }
      // The one run (which an empty prefix matches) is still paused: nothing was recorded.
      const show = runCli(['lens', 'show', id, '--json'], { cwd: q });
      expect(JSON.parse(show.stdout)).toMatchObject({ status: 'paused' });
    } finally {
      rmSync(q, { recursive: true, force: true });
    }
  });
  it('is refused by the lens commands, which would otherwise show the only run (costs: every run)', () => {
    const q = mkdtempSync(join(tmpdir(), 'flujo-emptylens-'));
    try {
      expect(runCli(['init'], { cwd: q }).code).toBe(0);
      expect(runCli(['run', '--input', 'Ada'], { cwd: q }).code).toBe(0);
      for (const args of [
        ['lens', 'show', ''],
        ['lens', 'trace', ' '],
        ['lens', 'replay', ''],
        ['lens', 'report', ''],
        ['lens', 'export', '', '-o', join(q, 'x.cbor')],
        ['lens', 'watch', ''],
        ['lens', 'costs', ''],
        ['lens', 'verify', ''],
        ['lens', 'show', '', '--json'],
        ['lens', 'costs', '', '--json'],
        ['lens', 'verify', '', '--json'],
      ]) {
        const r = runCli(args, { cwd: q });
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toContain('error: [USAGE] RUN is empty');
        if (args.includes('--json'))
          expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'USAGE' } });
        else expect(r.stdout).toBe('');
      }
    } finally {
      rmSync(q, { recursive: true, force: true });
    }
  });
});
