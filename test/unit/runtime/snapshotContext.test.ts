/**
 * Snapshots carry the machine context as changes on the snapshot before (ADR 39): given runs
 * through maps (with a concurrency limit and with a person asked per item), conditionals,
 * parallels that update the run context and loops, when each snapshot's context is rebuilt
 * through its chain as resume does, then it is exactly the context a refold of the events up to
 * that snapshot gives, and a map's snapshots stay the size of the changes, not of the items.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger, type MemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { compilePlan } from '../../../src/actors/compile.js';
import { refold } from '../../../src/actors/fold.js';
import {
  conditional,
  definePipeline,
  hitl,
  loop,
  map,
  parallel,
  sequence,
  step,
} from '../../../src/dsl/builder.js';
import { initFastHash } from '../../../src/events/chain.js';
import { encodeCanonical } from '../../../src/events/codec.js';
import { decodeRecord, type LedgerEvent } from '../../../src/events/envelope.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { foldFromChain, type ContextChanges } from '../../../src/runtime/snapshot.js';
import { snapshotContexts } from '../../support/snapshotContexts.js';

const RUN = 'ctx-run';
const answer = z.object({ ok: z.boolean() });

const plan = definePipeline(
  'context-deltas',
  sequence(
    step('mk', (n: number) => Array.from({ length: n }, (_, i) => i)),
    map(
      'each',
      sequence(
        step('sq', (x: number) => x * x),
        conditional('parity', (x: number) => x % 2 === 0, {
          true: step('half', (x: number) => x / 2),
          false: step('neg', (x: number) => -x),
        }),
      ),
      { concurrency: 3 },
    ),
    step('sum', (xs: number[]) => ({ total: xs.reduce((a, b) => a + b, 0) }), {
      updatesContext: true,
    }),
    parallel('fan', {
      a: step('pa', () => ({ a: 1 }), { updatesContext: true }),
      b: step('pb', () => ({ b: 2 }), { updatesContext: true }),
      c: step('pc', () => ({ c: 3 }), { updatesContext: true }),
    }),
    loop(
      'count',
      sequence(
        step('la', (x: number) => x + 1),
        step('lb', (x: number) => x + 1),
      ),
      {
        maxLoops: 30,
        input: () => 0,
      },
    ),
    map('ask', hitl('q', { message: 'ok?', schema: answer }), { items: () => [1, 2, 3] }),
    step(
      'end',
      ({ answers, ctx }: { answers: { ok: boolean }[]; ctx: Record<string, unknown> }) => ({
        yes: answers.filter((a) => a.ok).length,
        total: ctx.total,
        abc: [ctx.a, ctx.b, ctx.c],
      }),
      { input: (answers, ctx) => ({ answers: answers as { ok: boolean }[], ctx }) },
    ),
  ),
).plan;

const events = async (ledger: MemoryLedger): Promise<LedgerEvent[]> =>
  (await ledger.read(RUN)).map((r) => decodeRecord(RUN, r.seq, r.body));

/** Runs the pipeline over `items` items, answering the three questions, to completion. */
async function completedRun(snapshotEvery: number, items: number) {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, snapshotEvery });
  let r = await engine.run(plan, items, { runId: RUN });
  for (const ok of [true, false, true]) {
    expect(r.status).toBe('paused');
    r = await engine.resume(plan, RUN, { humanInput: { ok } });
  }
  return { ledger, result: r };
}

beforeAll(initFastHash);

describe('snapshot context changes', () => {
  it('rebuild, through every snapshot chain, the context a refold gives at that point', async () => {
    const { ledger, result } = await completedRun(20, 60);
    const plain = await completedRun(0, 60);
    expect(result.status).toBe('completed');
    expect(result.output).toEqual({ yes: 2, total: expect.any(Number), abc: [1, 2, 3] });
    expect({ ...result, events: 0 }).toEqual({ ...plain.result, events: 0 });

    const all = await events(ledger);
    const snaps = snapshotContexts(all);
    const deltas = snaps.filter((s) => s.delta);
    expect(snaps.length).toBeGreaterThan(30);
    // Most snapshots are changes, also ones taken after a resume on a snapshot taken before it
    // (the resumed run diffs against the context it restored).
    expect(deltas.length).toBeGreaterThan(snaps.length / 2);
    const resumedAt = all.filter((e) => e.type === 'RunResumed').map((e) => e.seq);
    expect(resumedAt).toHaveLength(3);
    const across = deltas.filter((s) => {
      const base = (all.find((e) => e.seq === s.seq)!.data as { state: { summaryBase: number } })
        .state.summaryBase;
      return resumedAt.some((r) => base < r && r < s.seq);
    });
    expect(across.length).toBeGreaterThanOrEqual(1);
    const machine = compilePlan(plan);
    for (const s of snaps) {
      const folded = refold(
        machine,
        all.filter((e) => e.seq <= s.uptoSeq),
      );
      expect(
        Buffer.from(encodeCanonical(s.context)).equals(
          Buffer.from(encodeCanonical(folded.snapshot.context)),
        ),
        `snapshot at seq ${s.seq}`,
      ).toBe(true);
      expect(s.fold.value, `snapshot at seq ${s.seq}`).toEqual(folded.snapshot.value);
    }
  });

  it('keep a map of many items to deltas of the size of their changes', async () => {
    const items = 1500;
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, snapshotEvery: 100 });
    expect((await engine.run(plan, items, { runId: RUN })).status).toBe('paused');
    const rows = await ledger.read(RUN);
    const snapRows = rows.filter((r) => r.type === 'SnapshotTaken');
    const snaps = snapshotContexts(await events(ledger));
    expect(snaps.length).toBeGreaterThan(items / 10);
    // While the map runs, its context holds an entry per finished item...
    const mid = snaps.find((s) => s.uptoSeq > rows.length / 2)!;
    expect(Object.keys(mid.context.out!).length).toBeGreaterThan(items / 3);
    // ...but a delta holds only the entries its 100 events changed, whatever the map's size:
    // before ADR 39 each snapshot carried every item so far.
    const all = await events(ledger);
    for (const s of snaps.filter((x) => x.delta)) {
      const data = all.find((e) => e.seq === s.seq)!.data as {
        state: { fold: { contextChanges: ContextChanges } };
      };
      const ch = data.state.fold.contextChanges;
      const entries =
        Object.values(ch.set ?? {}).reduce((n, rec) => n + Object.keys(rec).length, 0) +
        Object.values(ch.drop ?? {}).reduce((n, paths) => n + paths.length, 0) +
        Object.values(ch.fields ?? {}).reduce<number>(
          (n, v) => n + (typeof v === 'object' && v !== null ? Object.keys(v).length : 1),
          0,
        );
      expect(entries, `seq ${s.seq}`).toBeLessThan(60);
    }
    const snapBytes = snapRows.reduce((n, r) => n + r.body.length, 0);
    const otherBytes = rows.reduce((n, r) => n + r.body.length, 0) - snapBytes;
    expect(snapBytes).toBeLessThan(otherBytes);
  });

  it('refuse a chain with no whole context, naming the run and the seq', () => {
    const fold = { value: 'x', status: 'running', contextChanges: { set: { out: { a: 1 } } } };
    expect(() =>
      foldFromChain(RUN, [
        { seq: 5, fold },
        { seq: 9, fold },
      ]),
    ).toThrow(
      `[LEDGER_DECODE] run ${RUN} seq 9: no snapshot of its chain holds the whole machine context`,
    );
    expect(() =>
      foldFromChain(RUN, [
        { seq: 5, fold: { value: 'x', context: { out: {} } } },
        { seq: 9, fold: { value: 'x' } },
      ]),
    ).toThrow(
      `[LEDGER_DECODE] run ${RUN} seq 9: the snapshot holds neither a machine context nor its changes`,
    );
  });

  it('refuse changes that do not fit the context, naming the run and the seq', () => {
    const whole = { seq: 5, fold: { value: 'x', context: { ctx: {}, out: { a: 1 } } } };
    for (const [changes, says] of [
      [{ drop: { out: 'a' } }, 'drops entries of "out", which is not a record it holds'],
      [{ drop: { ctx: ['a'] } }, 'drops entries of "ctx", which is not a record it holds'],
      [{ set: { ctx: { a: 1 } } }, 'sets entries of "ctx", which is not a record'],
      [{ set: { out: [1] } }, 'sets entries of "out", which is not a record'],
      [{ fields: [1] }, 'replaces fields wrongly'],
    ] as const)
      expect(() =>
        foldFromChain(RUN, [whole, { seq: 9, fold: { value: 'x', contextChanges: changes } }]),
      ).toThrow(`[LEDGER_DECODE] run ${RUN} seq 9: the snapshot ${says}`);
  });

  it('apply changes in order: later sets win, drops remove, fields are replaced', () => {
    const folded = foldFromChain(RUN, [
      { seq: 1, fold: { value: 'a', context: { runId: RUN, ctx: { k: 1 }, out: { p: 1, q: 2 } } } },
      {
        seq: 2,
        fold: {
          value: 'b',
          contextChanges: { set: { out: { p: 3, r: 4 } }, drop: { out: ['q'] } },
        },
      },
      {
        seq: 3,
        fold: {
          value: 'c',
          contextChanges: { set: { out: { p: 5 }, inp: { x: 0 } }, fields: { ctx: { k: 2 } } },
        },
      },
    ]);
    expect(folded).toEqual({
      value: 'c',
      context: { runId: RUN, ctx: { k: 2 }, out: { p: 5, r: 4 }, inp: { x: 0 } },
    });
  });
});
