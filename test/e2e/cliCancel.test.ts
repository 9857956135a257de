/**
 * `flujo cancel` as a user meets it: the built CLI cancels a paused run by prefix without its
 * pipeline file, cancels a run that another `flujo run` process is driving (which then reports it
 * cancelled and runs no further step), and refuses a run that already ended, as JSON too.
 */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { runCli, spawnCli, type CliResult } from './cli.js';

const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-cancel-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A project whose slow.mjs runs `fn` steps one, two and three in a sequence. With `gate`, step two
 * waits until that file exists (the test opens it), so nothing depends on how fast a process starts.
 */
function slowProject(name: string, gate?: string): string {
  const p = join(dir, name);
  mkdirSync(p, { recursive: true });
  writeFileSync(join(p, 'flujo.toml'), '# test\n');
  const steps = {
    one: '(x) => `${x}1`',
    two: gate
      ? `(x) => new Promise((r) => { const t = setInterval(() => { if (existsSync(${JSON.stringify(gate)})) { clearInterval(t); r(\`\${x}2\`); } }, 10); })`
      : '(x) => `${x}2`',
    three: '(x) => `${x}3`',
  };
  const ir = {
    version: 1,
    name,
    root: {
      kind: 'sequence',
      name: 'pipeline',
      steps: Object.keys(steps).map((n) => ({
        kind: 'step',
        name: n,
        agent: `fn:${n}`,
        retries: 0,
        backoffMs: 0,
      })),
    },
  };
  const fns = Object.entries(steps)
    .map(([n, f]) => `${n}: ${f}`)
    .join(', ');
  writeFileSync(
    join(p, 'slow.mjs'),
    `import { existsSync } from 'node:fs';\nexport default { ir: ${JSON.stringify(ir)}, functions: { ${fns} } };\n`,
  );
  return p;
}

describe('flujo cancel', () => {
  it('cancels a paused run by prefix without loading its pipeline, then refuses it as ended', async () => {
    const p = join(dir, 'paused');
    mkdirSync(p);
    expect(runCli(['init'], { cwd: p }).code).toBe(0);
    const id = json(runCli(['run', '--input', 'Ada', '--json'], { cwd: p }).stdout)
      .run_id as string;
    unlinkSync(join(p, 'pipeline.yaml')); // cancel needs the ledger only

    const cancelled = runCli(['cancel', id.slice(0, 8), '--reason', 'not needed', '--json'], {
      cwd: p,
      env: { USER: 'ada' },
    });
    expect(cancelled.code).toBe(0);
    expect(json(cancelled.stdout)).toEqual({
      run_id: id,
      status: 'cancelled',
      output: null,
      cost_usd: 0,
      tokens: { input: 0, output: 0 },
      steps: [
        expect.objectContaining({ name: 'greet', status: 'completed' }),
        expect.objectContaining({ name: 'approve', status: 'cancelled' }),
      ],
    });
    const shown = json(runCli(['lens', 'show', id, '--json'], { cwd: p }).stdout);
    expect(shown).toMatchObject({ status: 'cancelled', hitl: [{ status: 'withdrawn' }] });
    const events = json(runCli(['lens', 'verify', id, '--json'], { cwd: p }).stdout);
    expect(events).toMatchObject({ ok: true });
    // Who cancelled: the OS user, marked as flujo cancel (was `cli-<pid>`).
    const state = await openState(`sqlite:///${join(p, '.flujo', 'state.db')}`, { projectRoot: p });
    try {
      const last = (await state.ledger.read(id)).at(-1)!;
      expect(decodeRecord(id, last.seq, last.body)).toMatchObject({
        type: 'RunCancelled',
        data: { reason: 'not needed', by: 'ada (flujo cancel)' },
      });
    } finally {
      await state.close();
    }

    // Again: refused, exit 1, one JSON object naming the status; nothing more is recorded.
    const again = runCli(['cancel', id, '--json'], { cwd: p });
    expect(again.code).toBe(1);
    expect(json(again.stdout)).toEqual({
      run_id: id,
      status: 'cancelled',
      error: {
        code: 'RUN_NOT_RESUMABLE',
        message: expect.stringContaining('already ended (cancelled)'),
      },
    });
    const text = runCli(['cancel', id.slice(0, 8)], { cwd: p });
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toContain('nothing to cancel');
    expect(text.stderr).toContain(`flujo lens show ${id}`);
    expect(json(runCli(['lens', 'verify', id, '--json'], { cwd: p }).stdout)).toEqual(events);
  });

  it('refuses a completed run and records nothing', () => {
    const p = slowProject('done');
    expect(runCli(['run', 'slow.mjs', '--input', 'x', '--run-id', 'done-1'], { cwd: p }).code).toBe(
      0,
    );
    const before = runCli(['lens', 'verify', 'done-1', '--json'], { cwd: p }).stdout;
    const r = runCli(['cancel', 'done-1', '--json'], { cwd: p });
    expect(r.code).toBe(1);
    expect(json(r.stdout)).toMatchObject({
      status: 'completed',
      error: { code: 'RUN_NOT_RESUMABLE' },
    });
    expect(runCli(['lens', 'verify', 'done-1', '--json'], { cwd: p }).stdout).toBe(before);
    expect(json(runCli(['lens', 'show', 'done-1', '--json'], { cwd: p }).stdout)).toMatchObject({
      status: 'completed',
    });
  });

  it('under --json refuses an unknown or ambiguous RUN as one object naming it, as resume does', () => {
    const p = slowProject('unknown');
    for (const id of ['amb-1', 'amb-2'])
      expect(runCli(['run', 'slow.mjs', '--input', 'x', '--run-id', id], { cwd: p }).code).toBe(0);
    for (const [arg, code] of [
      ['nope', 'LEDGER_UNKNOWN_RUN'],
      ['amb', 'LEDGER_AMBIGUOUS_RUN'],
    ] as const) {
      const r = runCli(['cancel', arg, '--json'], { cwd: p });
      expect(r.code).toBe(1);
      // Was no stdout at all (`flujo resume nope --json` printed this object).
      expect(json(r.stdout)).toEqual({
        run_id: arg,
        error: { code, message: expect.stringContaining(JSON.stringify(arg)) },
      });
      const resumed = runCli(['resume', arg, '--json'], { cwd: p });
      expect(json(resumed.stdout)).toMatchObject({ run_id: arg, error: { code } });
    }
  });

  it('cancels a run another flujo run process is driving: that process reports it cancelled and runs no further step', async () => {
    const gate = join(dir, 'driven.gate');
    const p = slowProject('driven', gate);
    // Step two holds until the cancel has finished; then the driver's next append meets it.
    let cancelling: Promise<CliResult> | undefined;
    let spawned!: (c: Promise<CliResult>) => void;
    const cancelSpawned = new Promise<CliResult>((r) => (spawned = r));
    const driving = spawnCli(['run', 'slow.mjs', '--input', 'x', '--run-id', 'slow-1'], {
      cwd: p,
      onStderr: (text) => {
        if (!cancelling && text.includes('step two started')) {
          cancelling = spawnCli(['cancel', 'slow', '--reason', 'enough', '--json'], { cwd: p });
          spawned(cancelling);
        }
      },
    });
    const cancel = await Promise.race([
      cancelSpawned,
      driving.then((d) => {
        if (!cancelling) throw new Error(`the run ended before step two started: ${d.stderr}`);
        return cancelling;
      }),
    ]);
    writeFileSync(gate, '');
    const driver = await driving;
    expect(cancel.code).toBe(0);
    expect(json(cancel.stdout)).toMatchObject({ run_id: 'slow-1', status: 'cancelled' });
    // The driving process's next append failed against the cancel: it reports the run cancelled.
    expect(driver.stderr).toContain('run slow-1 cancelled');
    expect(driver.stderr).not.toMatch(/LEDGER_CONFLICT|internal error/);
    expect(driver.code).toBe(0);
    const shown = json(runCli(['lens', 'show', 'slow-1', '--json'], { cwd: p }).stdout) as {
      status: string;
      steps: { name: string; status: string }[];
    };
    expect(shown.status).toBe('cancelled');
    expect(shown.steps.map((s) => [s.name, s.status])).toEqual([
      ['one', 'completed'],
      ['two', 'cancelled'],
    ]);
    expect(runCli(['lens', 'verify', 'slow-1'], { cwd: p }).code).toBe(0);
  });
});
