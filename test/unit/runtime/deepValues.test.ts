/**
 * A value a run records is measured as deep as its record holds it. The codec refuses nesting
 * past 256 levels of a record: a reply's output sits two levels down (the envelope's data, then
 * `output`) and one more in the StepCompleted of each map, parallel or router gathering it (so a
 * reply is measured at its step's own depth, which the compiler notes); a value plan
 * code returns sits two levels down in the decision recording it; a snapshot's state one level
 * down. Measured at the value's own root, a reply nested 255 levels (or 254 under a map) passed
 * the check and failed the commit: LEDGER_ENCODE thrown out of engine.run, the run left running
 * with its call unanswered, and a resume failed again. A state a snapshot could not hold was
 * snapshotted and failed the commit of the pause, and was tried again at every batch after.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, hitl, map, parallel, sequence, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { snapshotStats } from '../../../src/runtime/snapshot.js';

const nested = (d: number): unknown => (d === 0 ? 1 : { a: nested(d - 1) });

/** Runs `flow` to its end on a fresh memory ledger; the result and the types recorded. */
async function ran(flow: unknown, snapshotEvery = 500) {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, snapshotEvery });
  const plan = definePipeline('deep', flow as Parameters<typeof definePipeline>[1]).plan;
  const r = await engine.run(plan, 'x');
  const types = (await ledger.read(r.runId)).map((x) => x.type);
  return { r, types, engine, plan };
}

describe('values nested near the ledger limit', () => {
  it('a reply too deep for every record that holds it fails its step as OUTPUT_NOT_RECORDABLE, recorded; one level less is taken', async () => {
    // [flow of a reply nested d levels, how deep a reply may nest there]: 256 less its record's
    // two levels and one for each map, parallel or router gathering it, and never more than 250
    // (room for four gatherers after it: a reply passed on unchanged into a later parallel).
    const one = (d: number) => step('i', () => nested(d));
    const maps = (n: number, inner: unknown): unknown =>
      n === 0 ? inner : map(`m${n}`, maps(n - 1, inner) as never, { items: () => [1] });
    const cases: [(d: number) => unknown, number][] = [
      [(d) => one(d), 250],
      [(d) => map('m', one(d), { items: () => [1] }), 250],
      [(d) => parallel('par', { b: map('m', one(d), { items: () => [1] }) }), 250],
      // Passed on unchanged by an empty sequence into two parallels after it.
      [(d) => sequence(one(d), parallel('p', { b: parallel('q', { c: sequence() }) })), 250],
      // Six gatherers: measured with room for four, the reply passed and its fifth gatherer's
      // commit failed with LEDGER_ENCODE, out of engine.run, the run left running.
      [(d) => maps(6, one(d)), 248],
      [(d) => maps(5, map('m', one(d), { items: () => [1, 2], concurrency: 2 })), 248],
      [
        (d) =>
          sequence(
            step('a', () => 1),
            maps(5, one(d)) as never,
          ),
        249,
      ],
      // A parallel reducing to its first branch's output keeps its depth: not counted.
      [(d) => parallel('p', { b: maps(5, one(d)) as never }, { reduce: 'first' }), 249],
      [(d) => parallel('p', { b: maps(5, one(d)) as never }), 248],
    ];
    for (const [flow, most] of cases) {
      const { r, types } = await ran(flow(most + 1));
      expect(r).toMatchObject({ status: 'failed', error: { code: 'OUTPUT_NOT_RECORDABLE' } });
      expect(r.error?.message).toContain(
        `nested deeper than ${most} levels, the most a run records here`,
      );
      expect(types.at(-1)).toBe('RunFailed');
      const ok = await ran(flow(most));
      expect(ok.r.status, `${most}`).toBe('completed');
    }
  });

  it('a value plan code returns too deep for its decision fails the run as PLAN_CODE_FAILED, recorded', async () => {
    const items = (d: number) =>
      sequence(
        step('a', () => 1),
        map(
          'm',
          step('i', () => 1),
          { items: () => [nested(d)] },
        ),
      );
    const { r, types } = await ran(items(254));
    expect(r).toMatchObject({ status: 'failed', error: { code: 'PLAN_CODE_FAILED' } });
    expect(types.at(-1)).toBe('RunFailed');
    expect((await ran(items(253))).r.status).toBe('completed');
  });

  it('a state too deep for its snapshot is not snapshotted: the run pauses and resumes', async () => {
    // The item (250 levels) is the hitl step's input: a snapshot's data holds it within 256
    // levels, its record (one more) does not. A snapshot after every batch.
    const flow = map(
      'm',
      sequence(
        hitl('ask', { message: 'ok?', schema: z.boolean() }),
        step('next', (x: boolean) => (x ? 'yes' : 'no')),
      ),
      { items: () => [nested(250)] },
    );
    const { r, types, engine, plan } = await ran(flow, 1);
    expect(r.status).toBe('paused');
    expect(types.slice(-2)).toEqual(['HumanInputRequested', 'RunPaused']);
    const done = await engine.resume(plan, r.runId, { humanInput: true });
    expect(done).toMatchObject({ status: 'completed', output: ['yes'] });
  });

  it('a state no snapshot can hold is tried again every snapshotEvery events, not at each batch', async () => {
    // The first item's input entry stays in the context until the map ends (ADR 97).
    const items = [nested(253), ...Array.from({ length: 299 }, (_, i) => i)];
    const every = 20;
    const before = snapshotStats.tried;
    const { r, types } = await ran(
      map(
        'm',
        step('i', () => 1),
        { items: () => items },
      ),
      every,
    );
    expect(r.status).toBe('completed');
    expect(types.filter((t) => t === 'SnapshotTaken')).toEqual([]);
    // About one try per `every` events; a try at each batch (about three events) was 3 times that.
    expect(snapshotStats.tried - before).toBeLessThanOrEqual(Math.ceil(types.length / every) + 1);
    expect(snapshotStats.tried - before).toBeGreaterThan(types.length / every / 2);
  });
});
