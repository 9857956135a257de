/**
 * The library refuses a run input, context or answer over ADR 100's limits with a typed error
 * (InputLimitError) before anything is recorded, rather than recording a value that breaks the
 * run's next commit.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';
import {
  DEFAULT_MAX_INPUT_BYTES,
  InputLimitError,
  MAX_INPUT_DEPTH,
  shapeProblem,
} from '../../../src/runtime/inputLimits.js';

const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

const echo = definePipeline(
  'echo',
  step('a', (x: unknown) => x),
).plan;

const asks = definePipeline(
  'asks',
  sequence(
    hitl('first', { message: 'first?', schema: z.unknown() }),
    step('keep', (x: unknown) => x),
    hitl('second', { message: 'second?', schema: z.unknown() }),
  ),
).plan;

describe('shapeProblem', () => {
  it(`takes ${MAX_INPUT_DEPTH} levels and refuses one more, naming the depth and a bounded path`, () => {
    expect(shapeProblem(nested(MAX_INPUT_DEPTH), 'input')).toBeUndefined();
    const p = shapeProblem(nested(MAX_INPUT_DEPTH + 1), 'input');
    expect(p).toMatchObject({ kind: 'depth', limit: 200, measured: 201 });
    expect(p?.text).toMatch(/^it is 201 levels deep: input[.a]+…[.a]+ nests deeper than 200/);
    expect(p?.path.length).toBeLessThan(125);
  });

  it('measures a value deeper than the stack, and a cycle, without running out', () => {
    expect(shapeProblem(nested(100_000), 'input')).toMatchObject({ measured: 100_000 });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(shapeProblem(cycle, 'input')).toMatchObject({ kind: 'depth' });
  });

  it('refuses a non-finite number by its path, and leaves bytes alone', () => {
    expect(shapeProblem({ list: [1, -Infinity] }, 'humanInput')).toMatchObject({
      kind: 'number',
      path: 'humanInput.list[1]',
      measured: '-Infinity',
    });
    expect(shapeProblem({ b: new Uint8Array(10) }, 'input')).toBeUndefined();
  });
});

describe('engine.run', () => {
  it('refuses an input nested past the limit as USAGE (exit 2), recording nothing', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const e = await engine.run(echo, nested(201), { runId: 'deep' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputLimitError);
    expect(e).toMatchObject({
      code: 'USAGE',
      exitCode: 2,
      details: { where: 'input', kind: 'depth', limit: 200, measured: 201 },
    });
    expect(await ledger.head('deep')).toBeNull();
    expect((await engine.run(echo, nested(200), { runId: 'ok' })).status).toBe('completed');
  });

  it('refuses an input or context over maxInputBytes as recorded (default 8 MiB)', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, maxInputBytes: 1024 });
    await expect(engine.run(echo, 'x'.repeat(1100), { runId: 'big' })).rejects.toMatchObject({
      code: 'USAGE',
      details: { where: 'input', kind: 'size', limit: 1024, measured: 1103 },
      message: expect.stringContaining('input: it is 1.1 KiB (1103 bytes) as recorded'),
    });
    await expect(
      engine.run(echo, 'x', { runId: 'ctx', context: { notes: 'n'.repeat(1100) } }),
    ).rejects.toMatchObject({ details: { where: 'context', kind: 'size' } });
    expect(await ledger.head('big')).toBeNull();
    expect(await ledger.head('ctx')).toBeNull();
    expect((await engine.run(echo, 'x'.repeat(1000))).status).toBe('completed');
    expect(DEFAULT_MAX_INPUT_BYTES).toBe(8 * 1024 * 1024);
  });

  it('takes up a run already recorded whatever its size: the limits are for a run being created (ADR 107)', async () => {
    // Recorded under a larger limit; a start of the same id (a redelivered start message, a
    // worker with a lower max_input_bytes) takes the run up as any start of a recorded id does.
    const ledger = createMemoryLedger();
    const big = 'x'.repeat(2000);
    const recorder = createEngine({ ledger });
    expect(await recorder.run(echo, big, { runId: 'done' })).toMatchObject({ output: big });
    expect((await recorder.run(asks, big, { runId: 'paused' })).status).toBe('paused');
    const before = await recorder.events('done');
    const engine = createEngine({ ledger, maxInputBytes: 1024 });
    const context = { notes: big };
    expect(await engine.run(echo, big, { runId: 'done', context })).toMatchObject({
      status: 'completed',
      output: big,
    });
    expect(await engine.events('done')).toEqual(before);
    // A paused run is not resumed without an answer, as for any start of its id; not USAGE.
    await expect(engine.run(asks, big, { runId: 'paused' })).rejects.toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
    });
    // A new run is still refused, and nothing is recorded for it.
    await expect(engine.run(echo, big, { runId: 'new' })).rejects.toMatchObject({
      code: 'USAGE',
      details: { where: 'input', kind: 'size' },
    });
    expect(await ledger.head('new')).toBeNull();
  });

  it('refuses a context holding Infinity as USAGE naming its path (was LEDGER_ENCODE)', async () => {
    const engine = createEngine({ ledger: createMemoryLedger() });
    await expect(engine.run(echo, 'x', { context: { max: Infinity } })).rejects.toMatchObject({
      code: 'USAGE',
      details: { kind: 'number', path: 'context.max' },
    });
  });
});

describe('engine.resume', () => {
  async function paused(maxInputBytes?: number) {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, ...(maxInputBytes ? { maxInputBytes } : {}) });
    const r = await engine.run(asks, 'go');
    expect(r.status).toBe('paused');
    return { ledger, engine, runId: r.runId, head: (await ledger.head(r.runId))?.seq };
  }

  it('refuses an answer 250 levels deep (recorded before, then the next pause failed) as HUMAN_INPUT_REJECTED, nothing recorded', async () => {
    const { ledger, engine, runId, head } = await paused();
    const e = await engine.resume(asks, runId, { humanInput: nested(250) }).catch((x) => x);
    expect(e).toBeInstanceOf(InputLimitError);
    expect(e).toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      exitCode: 1,
      details: { runId, kind: 'depth', measured: 250, reasons: [expect.any(String)] },
    });
    expect((await ledger.head(runId))?.seq).toBe(head);
    const next = await engine.resume(asks, runId, { humanInput: nested(200) });
    expect(next).toMatchObject({ status: 'paused', pause: { step: 'second' } });
  });

  it('refuses an answer over maxInputBytes or holding NaN, nothing recorded', async () => {
    const { ledger, engine, runId, head } = await paused(512);
    await expect(
      engine.resume(asks, runId, { humanInput: { text: 't'.repeat(600) } }),
    ).rejects.toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      details: { kind: 'size', limit: 512 },
    });
    await expect(
      engine.resume(asks, runId, { humanInput: { n: Number.NaN } }),
    ).rejects.toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      details: { kind: 'number', path: 'humanInput.n' },
    });
    expect((await ledger.head(runId))?.seq).toBe(head);
  });
});
