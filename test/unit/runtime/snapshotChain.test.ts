/**
 * Snapshots that stay the size of the running state (ADR 38): a key snapshot holds the whole run
 * summary, the ones after it only the steps changed since the snapshot before, and a sequence
 * drops what its finished children kept (a loop its finished iterations), so a long run's snapshots grow with the run, not with
 * its square, and resume rebuilds the same result from the chain.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger, type MemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, hitl, loop, sequence, step, type Flow } from '../../../src/dsl/builder.js';
import { initFastHash } from '../../../src/events/chain.js';
import type { NewEvent } from '../../../src/events/catalogue.js';
import {
  decodeRecord,
  emptyHead,
  type Head,
  type LedgerEvent,
} from '../../../src/events/envelope.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { snapshotContexts } from '../../support/snapshotContexts.js';

const STEPS = 600;
const addOne = (name: string): Flow<number, number> => step(name, (x: number) => x + 1);
const plan = definePipeline(
  'flat',
  sequence(
    ...Array.from({ length: STEPS }, (_, i) => addOne(`s${i + 1}`)),
    hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
    step('end', (a: { ok: boolean }) => (a.ok ? 'yes' : 'no')),
  ),
).plan;
const RUN = 'chain-run';

interface SnapState {
  fold: { context: Record<string, Record<string, unknown>> };
  summary: { steps: { path: string }[]; events: number };
  summaryUpto: number;
  summaryBase?: number;
}

async function pausedRun(snapshotEvery: number): Promise<MemoryLedger> {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, snapshotEvery });
  const r = await engine.run(plan, 0, { runId: RUN });
  expect(r.status).toBe('paused');
  return ledger;
}

const decoded = async (ledger: MemoryLedger): Promise<LedgerEvent[]> =>
  (await ledger.read(RUN)).map((r) => decodeRecord(RUN, r.seq, r.body));

beforeAll(initFastHash);

describe('snapshot chains', () => {
  it('take the whole summary in key snapshots and the changed steps in the rest, linear in the run', async () => {
    const ledger = await pausedRun(100);
    const rows = await ledger.read(RUN);
    const snaps = rows.filter((r) => r.type === 'SnapshotTaken');
    const scheduled = rows.filter((r) => r.type === 'StepScheduled').map((r) => r.seq);
    expect(snaps.length).toBeGreaterThan(20);
    let keyBytes = 0;
    let chainBytes = 0;
    let keys = 0;
    let prev: number | undefined;
    for (const row of snaps) {
      const st = (decodeRecord(RUN, row.seq, row.body).data as { state: SnapState }).state;
      if (st.summaryBase === undefined) {
        // A key snapshot: every step so far, and only once the deltas since the last key have
        // outgrown it.
        expect(chainBytes >= keyBytes).toBe(true);
        keys += 1;
        keyBytes = row.body.length;
        chainBytes = 0;
        expect(st.summary.steps.length).toBe(
          scheduled.filter((seq) => seq <= st.summaryUpto).length,
        );
      } else {
        expect(st.summaryBase).toBe(prev);
        expect(chainBytes).toBeLessThan(keyBytes);
        chainBytes += row.body.length;
        // 100 events are about 25 steps; a delta holds those and the sequence around them.
        expect(st.summary.steps.length).toBeLessThanOrEqual(30);
      }
      prev = row.seq;
    }
    // The fold holds what is running: the sequence's input and the current step's.
    for (const { context: ctx } of snapshotContexts(await decoded(ledger))) {
      expect(Object.keys(ctx.inp ?? {}).length + Object.keys(ctx.out ?? {}).length).toBeLessThan(6);
    }
    expect(keys).toBeGreaterThan(1);
    const snapBytes = snaps.reduce((n, r) => n + r.body.length, 0);
    const otherBytes = rows.reduce((n, r) => n + r.body.length, 0) - snapBytes;
    expect(snapBytes).toBeLessThan(otherBytes / 2);
  });

  it('resume from a delta rebuilds the same result as a run with no snapshots', async () => {
    const chained = await pausedRun(100);
    const plain = await pausedRun(0);
    const last = (await decoded(chained)).findLast((e) => e.type === 'SnapshotTaken');
    expect((last?.data as { state: SnapState }).state.summaryBase).toBeDefined();
    expect((await decoded(plain)).some((e) => e.type === 'SnapshotTaken')).toBe(false);

    const a = await createEngine({ ledger: chained, snapshotEvery: 100 }).resume(plan, RUN, {
      humanInput: { ok: true },
    });
    const b = await createEngine({ ledger: plain, snapshotEvery: 0 }).resume(plan, RUN, {
      humanInput: { ok: true },
    });
    expect(a.status).toBe('completed');
    expect(a.output).toBe('yes');
    expect(a.steps).toHaveLength(STEPS + 2);
    expect(a.steps.map((s) => s.name)).toEqual(b.steps.map((s) => s.name));
    expect({ ...a, events: 0 }).toEqual({ ...b, events: 0 });
    // The same decisions and facts, snapshots and measured latencies aside.
    const facts = async (l: MemoryLedger) =>
      (await decoded(l))
        .filter((e) => e.type !== 'SnapshotTaken')
        .map((e) => [e.type, { ...(e.data as object), latencyMs: 0 }]);
    expect(await facts(chained)).toEqual(await facts(plain));
  });

  it('keep a loop to its current iteration: finished iterations leave nothing in the context', async () => {
    const looped = definePipeline(
      'looped',
      sequence(
        loop('count', sequence(addOne('a'), addOne('b')), { maxLoops: 300 }),
        hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
        step('end', (a: { ok: boolean }) => (a.ok ? 'yes' : 'no')),
      ),
    ).plan;
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, snapshotEvery: 100 });
    expect((await engine.run(looped, 0, { runId: RUN })).status).toBe('paused');
    const snaps = snapshotContexts(await decoded(ledger));
    expect(snaps.length).toBeGreaterThan(20);
    for (const { context: ctx } of snaps) {
      expect(Object.keys(ctx.inp ?? {}).length + Object.keys(ctx.out ?? {}).length).toBeLessThan(
        10,
      );
    }
    const done = await engine.resume(looped, RUN, { humanInput: { ok: true } });
    expect(done.output).toBe('yes');
    expect(done.steps.filter((st) => st.name === 'b')).toHaveLength(300);
  });

  it('refuses a delta whose base is not an earlier snapshot, naming the run and seqs', async () => {
    const events = await decoded(await pausedRun(100));
    const lastSnap = events.findLast((e) => e.type === 'SnapshotTaken')!;
    const notASnapshot = events.findLast(
      (e) => e.type === 'StepCompleted' && e.seq < lastSnap.seq,
    )!;
    // The same run appended again, batch by batch, with the last snapshot pointing elsewhere.
    const ledger = createMemoryLedger();
    let head: Head = emptyHead(RUN);
    for (let i = 0; i < events.length;) {
      const at = events[i]!.at;
      const batch: NewEvent[] = [];
      for (; i < events.length && events[i]!.at === at; i++) {
        const e = events[i]!;
        const data =
          e === lastSnap
            ? {
                ...(e.data as object),
                state: {
                  ...(e.data as { state: object }).state,
                  summaryBase: notASnapshot.seq,
                },
              }
            : e.data;
        batch.push({ type: e.type, data } as NewEvent);
      }
      head = (await ledger.append({ runId: RUN, expected: head, events: batch, at })).head;
    }
    const engine = createEngine({ ledger, snapshotEvery: 100 });
    await expect(engine.resume(plan, RUN, { humanInput: { ok: true } })).rejects.toThrow(
      `[LEDGER_DECODE] run ${RUN} seq ${lastSnap.seq}: the snapshot's summary builds on seq ${notASnapshot.seq}, which is not an earlier snapshot of the run`,
    );
    // Nothing was recorded by the refused resume.
    expect((await ledger.head(RUN))?.seq).toBe(head.seq);
  });
});
