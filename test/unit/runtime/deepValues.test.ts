/**
 * A value a step returns is measured as deep as its record holds it. The codec refuses nesting
 * past 256 levels of a record; a reply's output sits two levels down (the envelope's data, then
 * `output`) and a snapshot's state one level down. Measured at the value's own root, a reply
 * nested 255 levels passed the check and failed the commit (LEDGER_ENCODE thrown out of
 * engine.run, the run left running with its call unanswered), and a state of 251 levels was
 * snapshotted and failed the commit the same way, where one deeper was skipped.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, hitl, map, sequence, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { snapshotStats } from '../../../src/runtime/snapshot.js';

const nested = (d: number): unknown => (d === 0 ? 1 : { a: nested(d - 1) });

const plan = (d: number) =>
  definePipeline(
    'deep',
    sequence(
      step('make', () => nested(d)),
      hitl('ask', { message: 'ok?', schema: z.boolean() }),
      step('next', (x: boolean) => (x ? 'yes' : 'no')),
    ),
  ).plan;

describe('values nested near the ledger limit', () => {
  it('a state too deep for its snapshot is not snapshotted: the run pauses and resumes', async () => {
    for (const d of [250, 251, 252, 254]) {
      const ledger = createMemoryLedger();
      const engine = createEngine({ ledger, snapshotEvery: 500 });
      const runId = `deep-${d}`;
      const paused = await engine.run(plan(d), 'x', { runId });
      expect(paused.status, `depth ${d}`).toBe('paused');
      const types = (await ledger.read(runId)).map((r) => r.type);
      expect(types.at(-1) === 'SnapshotTaken' || types.at(-1) === 'RunPaused').toBe(true);
      const done = await engine.resume(plan(d), runId, { humanInput: true });
      expect(done, `depth ${d}`).toMatchObject({ status: 'completed', output: 'yes' });
    }
  });

  it('a reply too deep for its record fails its step as OUTPUT_NOT_RECORDABLE, recorded', async () => {
    for (const d of [255, 256, 300]) {
      const ledger = createMemoryLedger();
      const engine = createEngine({ ledger, snapshotEvery: 500 });
      const runId = `too-deep-${d}`;
      const r = await engine.run(plan(d), 'x', { runId });
      expect(r, `depth ${d}`).toMatchObject({
        status: 'failed',
        error: { code: 'OUTPUT_NOT_RECORDABLE' },
      });
      expect(r.error?.message).toContain('nested deeper than 256');
      expect((await ledger.read(runId)).at(-1)?.type).toBe('RunFailed');
    }
  });

  it('a state no snapshot can hold is tried again every snapshotEvery events, not at each batch', async () => {
    // The deep value stays in the context while the map runs (it is the map's input).
    const items = Array.from({ length: 300 }, (_, i) => i);
    const p = definePipeline(
      'deep-map',
      sequence(
        step('d', () => nested(252)),
        map(
          'm',
          step('i', (x: number) => x + 1),
          { items: () => items },
        ),
      ),
    ).plan;
    const ledger = createMemoryLedger();
    const every = 20;
    const before = snapshotStats.tried;
    const r = await createEngine({ ledger, snapshotEvery: every }).run(p, 'x');
    expect(r.status).toBe('completed');
    const rows = await ledger.read(r.runId);
    expect(rows.filter((x) => x.type === 'SnapshotTaken')).toEqual([]);
    // About one try per `every` events; a try at each batch (about three events) was 3 times that.
    expect(snapshotStats.tried - before).toBeLessThanOrEqual(Math.ceil(rows.length / every) + 1);
    expect(snapshotStats.tried - before).toBeGreaterThan(rows.length / every / 2);
  });
});
