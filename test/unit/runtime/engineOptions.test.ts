/**
 * The engine's options and a new run's options are checked before anything is recorded
 * (ADR 117), as the command line checks its flags: before, a library caller's negative budget
 * failed the run's first call against a limit of $-0.000001, a NaN one was refused by the ledger
 * naming no option, a snapshotEvery of NaN snapshotted at every batch, a maxInputBytes of NaN
 * refused every input as over "NaN bytes", and an empty run id, or one holding a newline, was
 * recorded.
 */
import { describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, step } from '../../../src/dsl/builder.js';
import type { NewEvent } from '../../../src/events/catalogue.js';
import { emptyHead } from '../../../src/events/envelope.js';
import type { RunOptions } from '../../../src/runtime/engineTypes.js';
import { createEngine } from '../../../src/runtime/engine.js';

const plan = definePipeline(
  'opts',
  step('s', (x: number) => x + 1),
).plan;

describe('engine options', () => {
  it.each([
    ['snapshotEvery', -1, 'must be a whole number from 0 to 2^53 - 1, got -1'],
    ['snapshotEvery', 1.5, 'must be a whole number from 0 to 2^53 - 1, got 1.5'],
    ['snapshotEvery', Number.NaN, 'must be a whole number from 0 to 2^53 - 1, got NaN'],
    ['maxInputBytes', 0, 'must be a whole number from 1 to 268435456, got 0'],
    ['maxInputBytes', Number.NaN, 'must be a whole number from 1 to 268435456, got NaN'],
    [
      'maxInputBytes',
      256 * 1024 * 1024 + 1,
      'must be a whole number from 1 to 268435456, got 268435457',
    ],
    ['maxCallsInFlight', 0, 'must be a whole number from 1 to 2^53 - 1, got 0'],
  ])('createEngine refuses %s %s with USAGE (exit 2)', (field, value, says) => {
    const make = () => createEngine({ ledger: createMemoryLedger(), [field]: value });
    expect(make).toThrow(`[USAGE] ${field} ${says}`);
    expect(make).toThrow(expect.objectContaining({ code: 'USAGE', exitCode: 2 }));
  });

  it('takes the edges: snapshotEvery 0 (off), maxInputBytes 1 and 256 MiB', async () => {
    for (const o of [{ snapshotEvery: 0 }, { maxInputBytes: 256 * 1024 * 1024 }]) {
      const r = await createEngine({ ledger: createMemoryLedger(), ...o }).run(plan, 1);
      expect(r).toMatchObject({ status: 'completed', output: 2 });
    }
    expect(() => createEngine({ ledger: createMemoryLedger(), maxInputBytes: 1 })).not.toThrow();
  });
});

describe('a new run', () => {
  const refused: [string, string | undefined, RunOptions, RegExp][] = [
    [
      'an empty id',
      '',
      {},
      /^\[USAGE\] run id is empty: use 1 to 200 characters, none of them whitespace or control characters, not only dots \(for example order-1042\); nothing was recorded$/,
    ],
    ['a newline in its id', 'a\nb', {}, /run id contains whitespace or control characters/],
    ['a space in its id', 'a b', {}, /run id contains whitespace/],
    ['an id of 201 characters', 'x'.repeat(201), {}, /run id is 201 characters long/],
    // A URL drops "." and ".." from a path: the web lens could not name such a run (ADR 154).
    ['an id of one dot', '.', {}, /run id is only dots/],
    ['an id of two dots', '..', {}, /run id is only dots/],
    ['an id of dots alone', '....', {}, /run id is only dots/],
    [
      'a negative cost limit',
      undefined,
      { budget: { costMicros: -1 } },
      /budget\.costMicros must be a whole number from 0 to 2\^53 - 1, got -1 \(micro-dollars/,
    ],
    [
      'a fractional cost limit',
      undefined,
      { budget: { costMicros: 1.5 } },
      /budget\.costMicros .* got 1\.5/,
    ],
    [
      'a NaN cost limit',
      undefined,
      { budget: { costMicros: Number.NaN } },
      /budget\.costMicros .* got NaN/,
    ],
    [
      'an infinite token limit',
      undefined,
      { budget: { tokens: Number.POSITIVE_INFINITY } },
      /budget\.tokens .* got Infinity/,
    ],
    ['a budget of null', undefined, { budget: null as never }, /budget must be an object/],
    [
      'a context that is an array',
      undefined,
      { context: [1, 2] as never },
      /context must be a plain object of named values, got an array/,
    ],
    [
      'a context that is a Map',
      undefined,
      { context: new Map() as never },
      /context must be a plain object .* got an instance of a class/,
    ],
  ];
  it.each(refused)(
    'with %s is refused with USAGE before anything is recorded',
    async (_, runId, opts, says) => {
      const ledger = createMemoryLedger();
      const engine = createEngine({
        ledger,
        ...(runId !== undefined ? { newRunId: () => runId } : {}),
      });
      const err = await engine.run(plan, 1, opts).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'USAGE', exitCode: 2 });
      expect((err as Error).message).toMatch(says);
      expect(await ledger.listRuns()).toEqual([]);
    },
  );

  it('with an id the rule refuses is taken up when it is already recorded (ADR 107)', async () => {
    // A run recorded under such an id (by a release before this rule): its events, sealed anew
    // under the id in another ledger.
    const first = createMemoryLedger();
    const done = await createEngine({ ledger: first, newRunId: () => 'ab' }).run(plan, 1);
    // The idempotency keys hold the run id.
    const events = (await createEngine({ ledger: first }).events(done.runId)).map((e) => {
      const data = e.data as { key?: string };
      return {
        type: e.type,
        data: data.key ? { ...data, key: data.key.replace(/^ab:/, 'a b:') } : data,
      } as NewEvent;
    });
    const ledger = createMemoryLedger();
    await ledger.append({ runId: 'a b', expected: emptyHead('a b'), events, at: 1 });
    const engine = createEngine({ ledger });
    expect(await engine.run(plan, 1, { runId: 'a b' })).toMatchObject({
      runId: 'a b',
      status: 'completed',
      output: 2,
    });
    // Not recorded: refused.
    await expect(engine.run(plan, 1, { runId: 'c d' })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('takes whole budgets from 0, and a context with a null prototype', async () => {
    const engine = createEngine({ ledger: createMemoryLedger() });
    const ctx = Object.assign(Object.create(null) as Record<string, unknown>, { k: 1 });
    const r = await engine.run(plan, 1, { budget: { costMicros: 0, tokens: 10 }, context: ctx });
    expect(r).toMatchObject({ status: 'completed', output: 2 });
  });
});
