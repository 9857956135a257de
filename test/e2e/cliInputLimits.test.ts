/**
 * What a person types into a run is bounded (ADR 100): `run --input` (and stdin), `--context`
 * and `resume --input` refuse a value larger than max_input_bytes as recorded (8 MiB unless
 * flujo.toml says otherwise), nested deeper than 200 levels, or holding a number JSON reads as
 * Infinity, with the flag, the limit and the measured value, before anything is recorded: exit 2
 * for a run's input and context, exit 1 (HUMAN_INPUT_REJECTED) for an answer, a rejected resume
 * input as CONTRACTS says (ADR 105).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { lensRuns, runCli, writeProject } from './cli.js';

const PIPELINE = `version: "0.1"
name: asks
steps:
  - kind: hitl
    name: first
    message: "give"
    input_schema: {}
  - kind: step
    name: echo
    agent:
      id: flujo.builtins.stringify
    input: "{{ previous_step }}"
  - kind: hitl
    name: second
    message: "again"
    input_schema: {}
`;

const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
const NINE_MB = 'a'.repeat(9_000_000);
/** No NATS listens here: a refusal that comes first never tries to reach it. */
const NO_NATS = { FLUJO_NATS_URL: 'nats://127.0.0.1:1' };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-limits-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const project = (
  name: string,
  toml: string | Buffer = 'state_uri = "sqlite:///.flujo/state.db"\n',
): string => writeProject(dir, name, { 'flujo.toml': toml, 'pipeline.yaml': PIPELINE });
const runsIn = lensRuns;

/** The run's event count and status, as the ledger has them. */
function recorded(p: string, id: string) {
  const verify = json(runCli(['lens', 'verify', id, '--json'], { cwd: p }).stdout);
  const show = json(runCli(['lens', 'show', id, '--json'], { cwd: p }).stdout);
  return { events: verify.events_checked, status: (show.run as { status: string }).status };
}

describe('flujo run: the input and --context', () => {
  it('refuses an input on stdin over 8 MiB as recorded with USAGE, exit 2, and records no run', () => {
    const p = project('big-input');
    const r = runCli(['run', '--input', '-'], { cwd: p, input: NINE_MB });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      'error: [USAGE] the input on stdin: it is 8.6 MiB (9000005 bytes) as recorded, over the limit of 8 MiB (8388608 bytes):',
    );
    expect(r.stderr).toContain('max_input_bytes');
    expect(r.stderr).toContain('nothing was recorded');
    expect(runsIn(p)).toEqual([]);
    // Under --json the refusal is one object (ADR 99).
    const j = runCli(['run', '--input', '-', '--json'], { cwd: p, input: NINE_MB });
    expect(j.code).toBe(2);
    expect(json(j.stdout)).toMatchObject({ error: { code: 'USAGE' } });
    expect(runsIn(p)).toEqual([]);
  });

  it("takes its limit from flujo.toml's [settings] max_input_bytes, for --input and --context", () => {
    const p = project(
      'configured',
      'state_uri = "sqlite:///.flujo/state.db"\n[settings]\nmax_input_bytes = 4096\n',
    );
    const over = runCli(['run', '--input', 'x'.repeat(5000)], { cwd: p });
    expect(over.code, over.stderr).toBe(2);
    expect(over.stderr).toContain(
      '[USAGE] --input: it is 4.9 KiB (5003 bytes) as recorded, over the limit of 4 KiB (4096 bytes):',
    );
    writeFileSync(join(p, 'ctx.json'), JSON.stringify({ notes: 'n'.repeat(5000) }));
    const ctx = runCli(['run', '--input', 'x', '--context', '@ctx.json'], { cwd: p });
    expect(ctx.code, ctx.stderr).toBe(2);
    expect(ctx.stderr).toMatch(
      /\[CONFIG_INVALID\] --context: it is 4\.9 KiB \(50\d\d bytes\) as recorded, over the limit of 4 KiB/,
    );
    expect(runsIn(p)).toEqual([]);
    // The context is measured as recorded, without the input it holds as initial_prompt (ADR
    // 110): an input and a context each under the limit run, and so does an input a few bytes
    // under it (before, the input again as initial_prompt put the context over).
    writeFileSync(join(p, 'ctx.json'), JSON.stringify({ notes: 'n'.repeat(3000) }));
    const both = runCli(['run', '--input', 'x'.repeat(2000), '--context', '@ctx.json', '--json'], {
      cwd: p,
    });
    expect(both.code, both.stderr).toBe(0);
    expect(json(both.stdout).status).toBe('paused');
    const edge = runCli(['run', '--input', 'x'.repeat(4090), '--json'], { cwd: p });
    expect(edge.code, edge.stderr).toBe(0);
    expect(json(edge.stdout).status).toBe('paused');
    const over1 = runCli(['run', '--input', 'x'.repeat(4094)], { cwd: p });
    expect(over1.code, over1.stderr).toBe(2);
    expect(over1.stderr).toContain('[USAGE] --input: it is 4.0 KiB (4097 bytes) as recorded');
  });

  it('refuses a --context over 8 MiB as CONFIG_INVALID, exit 2, recording nothing', () => {
    const p = project('big-context');
    writeFileSync(join(p, 'ctx.json'), JSON.stringify({ notes: NINE_MB }));
    const r = runCli(['run', '--input', 'x', '--context', '@ctx.json', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(2);
    expect(json(r.stdout)).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
    expect(r.stderr).toMatch(/\[CONFIG_INVALID\] --context: it is 8\.6 MiB \(\d+ bytes\)/);
    expect(runsIn(p)).toEqual([]);
  });

  it('refuses with --fleet before NATS is reached', () => {
    const p = project('fleet-run');
    const r = runCli(['run', '--fleet', '--input', '-'], { cwd: p, input: NINE_MB, env: NO_NATS });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[USAGE] the input on stdin: it is 8.6 MiB');
    expect(r.stderr).not.toContain('NATS_UNREACHABLE');
  });
});

describe('flujo resume --input', () => {
  it('refuses an answer nested past 200 levels, a number read as Infinity or over 8 MiB: the run stays paused and nothing is recorded', () => {
    const p = project('answers');
    const run = runCli(['run', '--input', 'x', '--json'], { cwd: p });
    const id = json(run.stdout).run_id as string;
    const before = recorded(p, id);
    expect(before.status).toBe('paused');

    const deep = runCli(['resume', id, '--input', '-'], { cwd: p, input: nested(201) });
    // A rejected resume input: exit 1 and HUMAN_INPUT_REJECTED, as CONTRACTS says (ADR 105).
    expect(deep.code, deep.stderr).toBe(1);
    expect(deep.stderr).toMatch(
      /\[HUMAN_INPUT_REJECTED\] --input: it is 201 levels deep: answer[.a]+…[.a]+ nests deeper than 200 levels; flatten it; nothing was recorded/,
    );
    // 250 levels used to be recorded, and the next pause could not be (LEDGER_ENCODE).
    const deeper = runCli(['resume', id, '--input', '-', '--json'], {
      cwd: p,
      input: nested(250),
    });
    expect(deeper.code).toBe(1);
    // With the run's status, as a refusal by the question's schema has it (ADR 108).
    expect(json(deeper.stdout)).toEqual({
      run_id: id,
      status: 'paused',
      error: {
        code: 'HUMAN_INPUT_REJECTED',
        message: expect.stringContaining('it is 250 levels deep'),
      },
    });

    const inf = runCli(['resume', id, '--input', '{"n": 1e400}'], { cwd: p });
    expect(inf.code).toBe(1);
    expect(inf.stderr).toContain(
      '[HUMAN_INPUT_REJECTED] --input: answer.n cannot be recorded: non-finite number Infinity (a JSON number beyond ±1.7976931348623157e308 reads as Infinity: send it as a string); nothing was recorded',
    );
    const big = runCli(['resume', id, '--input', '-'], { cwd: p, input: NINE_MB });
    expect(big.code).toBe(1);
    expect(big.stderr).toContain(
      '[HUMAN_INPUT_REJECTED] --input: it is 8.6 MiB (9000005 bytes) as recorded',
    );

    expect(recorded(p, id)).toEqual(before);

    // At the limit: taken, and the run pauses again at its next question.
    const ok = runCli(['resume', id, '--input', '-', '--json'], { cwd: p, input: nested(200) });
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout)).toMatchObject({ status: 'paused', pause: { step: 'second' } });
    const done = runCli(['resume', id, '--input', '-', '--json'], { cwd: p, input: nested(200) });
    expect(done.code, done.stderr).toBe(0);
    expect(json(done.stdout).status).toBe('completed');
    // The status is the run's as read, whatever it is: here it ended.
    const late = runCli(['resume', id, '--input', '{"n": 1e400}', '--json'], { cwd: p });
    expect(late.code).toBe(1);
    expect(json(late.stdout)).toMatchObject({
      run_id: id,
      status: 'completed',
      error: { code: 'HUMAN_INPUT_REJECTED' },
    });
    expect(json(runCli(['lens', 'verify', id, '--json'], { cwd: p }).stdout).ok).toBe(true);
  });

  it('refuses with --fleet before NATS is reached (the number was sent as null)', () => {
    const p = project('fleet-resume');
    const r = runCli(['resume', 'some-run', '--fleet', '--input', '1e400'], {
      cwd: p,
      env: NO_NATS,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      '[HUMAN_INPUT_REJECTED] --input: answer cannot be recorded: non-finite number',
    );
    expect(r.stderr).not.toContain('NATS_UNREACHABLE');
  });
});
