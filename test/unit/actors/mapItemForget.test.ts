/**
 * A map keeps only a completed item's output (ADR 109): in a run recorded with the engine flag
 * `map-item-keeps-only-output`, an item's input (and whatever else it kept by runtime path) leaves
 * the machine context, and so the snapshots, when the item completes; a run recorded without the
 * flag keeps them until the map ends, refolds to the decisions it recorded, and its snapshots hold
 * what they held.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { compilePlan } from '../../../src/actors/compile.js';
import { refold } from '../../../src/actors/fold.js';
import {
  conditional,
  definePipeline,
  map,
  parallel,
  sequence,
  step,
} from '../../../src/dsl/builder.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../../src/dsl/engineFlags.js';
import { initFastHash } from '../../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../../src/events/envelope.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { snapshotContexts } from '../../support/snapshotContexts.js';
import { withoutFlag as withoutFlagOf } from '../../support/events.js';

const FLAG = ENGINE_FLAGS.mapItemKeepsOnlyOutput;

const pipeline = (concurrency: number) =>
  definePipeline(
    `map-forget-${concurrency}`,
    map(
      'each',
      sequence(
        step('a', (x: { n: number }) => ({ n: x.n + 1 })),
        step('b', (x: { n: number }) => x.n * 2),
      ),
      { concurrency },
    ),
  );

const ITEMS = Array.from({ length: 12 }, (_, n) => ({ n }));

async function recorded(concurrency: number) {
  const p = pipeline(concurrency);
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, worker: 'map-forget', snapshotEvery: 20 });
  const run = await engine.run(p.plan, ITEMS, { runId: `map-${concurrency}` });
  expect(run.status).toBe('completed');
  const events = (await ledger.read(run.runId)).map((r) => decodeRecord(run.runId, r.seq, r.body));
  return { plan: p.plan, events, output: (run as { output?: unknown }).output };
}

const withoutFlag = (events: LedgerEvent[]) => withoutFlagOf(events, FLAG);

/**
 * The events up to the first fact after the 9th item started (a commit's end): items 1..8 have
 * completed, whatever the slots.
 */
function untilNinth(events: LedgerEvent[]): LedgerEvent[] {
  const ninth = events.findIndex(
    (e) => e.type === 'LoopIterationStarted' && e.data.iteration === 9,
  );
  const fact = events.findIndex((e, i) => i > ninth && e.type === 'AgentResponded');
  expect(ninth).toBeGreaterThan(0);
  return events.slice(0, fact);
}

const itemKeys = (rec: Record<string, unknown>) =>
  Object.keys(rec).filter((k) => /^body@\d+$/.test(k));

describe.each([1, 3])('a map with concurrency %i (ADR 109)', (concurrency) => {
  beforeAll(initFastHash);

  it('in a run with the flag, keeps only the outputs of the items that completed', async () => {
    const { plan, events, output } = await recorded(concurrency);
    expect(events[0]).toMatchObject({ data: { engine: { flags: [...CURRENT_ENGINE_FLAGS] } } });
    expect(output).toEqual(ITEMS.map(({ n }) => (n + 1) * 2));
    const ctx = refold(compilePlan(plan), untilNinth(events)).snapshot.context as {
      inp: Record<string, unknown>;
      out: Record<string, unknown>;
    };
    // Items 1..9 are claimed: each either done (its output kept, its input gone) or running.
    const done = itemKeys(ctx.out).map((k) => Number(k.slice(5)));
    const running = itemKeys(ctx.inp).map((k) => Number(k.slice(5)));
    expect([...done, ...running].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(done.length).toBeGreaterThanOrEqual(9 - concurrency);
    expect(running.length).toBeLessThanOrEqual(concurrency);
  });

  it("a run recorded without the flag keeps every item's input and refolds to its decisions", async () => {
    const { plan, events } = await recorded(concurrency);
    const old = withoutFlag(events);
    const ctx = refold(compilePlan(plan), untilNinth(old)).snapshot.context as {
      inp: Record<string, unknown>;
    };
    expect(itemKeys(ctx.inp).length).toBeGreaterThanOrEqual(8);
    expect(ctx.inp['body@1']).toEqual({ n: 0 });
    expect(refold(compilePlan(plan), old).status).toBe('completed');
  });

  it('its snapshots stand for the context a refold gives, and hold no completed item input', async () => {
    const { plan, events } = await recorded(concurrency);
    const snaps = snapshotContexts(events);
    expect(snaps.length).toBeGreaterThan(3);
    for (const s of snaps) {
      const upto = events.filter((e) => e.seq <= s.uptoSeq);
      const ctx = refold(compilePlan(plan), upto).snapshot.context as Record<string, unknown>;
      expect(s.context.inp).toEqual(ctx.inp);
      expect(s.context.out).toEqual(ctx.out);
      expect(itemKeys(s.context.inp ?? {}).length).toBeLessThanOrEqual(concurrency);
    }
  });
});

/**
 * A body that leaves something at or below the item's path in every record `forgetItem` drops
 * from. A sequence body would not do: it forgets each child as it moves past it (ADR 38), so
 * nothing is left below the item's path when the item ends. Here the item's path is a
 * conditional (its choice in `sel`, its input in `inp`), and neither a conditional nor a parallel
 * forgets its children:
 * - an even `n` takes `true`, a parallel that ignores a failing branch: `true/flaky` fails its
 *   first attempt and succeeds on its retry (`att` below the item), `true/bad` always fails
 *   (`err` below the item); both inputs, the parallel's and `flaky`'s outputs are below it too;
 * - an odd `n` takes `false`, a sequence of two steps (its input and output below the item).
 */
const branching = (concurrency: number) => {
  const tries = new Map<number, number>();
  return definePipeline(
    `map-forget-branching-${concurrency}`,
    map(
      'each',
      conditional<{ n: number }, unknown>('pick', (x) => x.n % 2 === 0, {
        true: parallel(
          'both',
          {
            flaky: step(
              'flaky',
              (x: { n: number }) => {
                const t = (tries.get(x.n) ?? 0) + 1;
                tries.set(x.n, t);
                if (t === 1) throw new Error(`first attempt at ${x.n}`);
                return x.n * 10;
              },
              { retries: 1 },
            ),
            bad: step('bad', (x: { n: number }): number => {
              throw new Error(`always fails at ${x.n}`);
            }),
          },
          { onBranchFailure: 'ignore' },
        ),
        false: sequence(
          step('a', (x: { n: number }) => ({ n: x.n + 1 })),
          step('b', (x: { n: number }) => x.n * 2),
        ),
      }),
      { concurrency },
    ),
  );
};

/** Item `i` (runtime path `body@i`) maps `n = i - 1` to this. */
const branchOutput = (n: number) => (n % 2 === 0 ? { flaky: n * 10 } : (n + 1) * 2);

async function recordedBranching(concurrency: number) {
  const p = branching(concurrency);
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, worker: 'map-forget', snapshotEvery: 20 });
  const run = await engine.run(p.plan, ITEMS, { runId: `map-branching-${concurrency}` });
  expect(run.status).toBe('completed');
  expect((run as { output?: unknown }).output).toEqual(ITEMS.map(({ n }) => branchOutput(n)));
  const events = (await ledger.read(run.runId)).map((r) => decodeRecord(run.runId, r.seq, r.body));
  return { plan: p.plan, events };
}

type Records = Record<'inp' | 'out' | 'att' | 'err' | 'sel', Record<string, unknown>>;

const contextOf = (plan: Parameters<typeof compilePlan>[0], events: LedgerEvent[]) =>
  refold(compilePlan(plan), events).snapshot.context as unknown as Records;

/** The keys of `rec` at item `i`'s path or below it, sorted. */
const atOrBelow = (rec: Record<string, unknown> | undefined, i: number) =>
  Object.keys(rec ?? {})
    .filter((k) => k === `body@${i}` || k.startsWith(`body@${i}/`))
    .sort();
const below = (rec: Record<string, unknown> | undefined, i: number) =>
  atOrBelow(rec, i).filter((k) => k !== `body@${i}`);

/** What item `i` kept, record by record (`out` only below its own output). */
const keptBy = (ctx: Partial<Records>, i: number) => ({
  inp: atOrBelow(ctx.inp, i),
  att: atOrBelow(ctx.att, i),
  err: atOrBelow(ctx.err, i),
  sel: atOrBelow(ctx.sel, i),
  outBelow: below(ctx.out, i),
});

const NOTHING = { inp: [], att: [], err: [], sel: [], outBelow: [] };

/** What a finished item `i` keeps in a run recorded without the flag (the map has not ended). */
const keptWithoutFlag = (i: number) =>
  (i - 1) % 2 === 0
    ? {
        inp: [`body@${i}`, `body@${i}/true`, `body@${i}/true/bad`, `body@${i}/true/flaky`],
        att: [`body@${i}/true/flaky`],
        err: [`body@${i}/true/bad`],
        sel: [`body@${i}`],
        outBelow: [`body@${i}/true`, `body@${i}/true/flaky`],
      }
    : {
        inp: [`body@${i}`, `body@${i}/false`],
        att: [],
        err: [],
        sel: [`body@${i}`],
        outBelow: [`body@${i}/false`],
      };

/** The items (1-based) whose output the map holds: the ones that completed. */
const finished = (ctx: Partial<Records>) =>
  Object.keys(ctx.out ?? {})
    .filter((k) => /^body@\d+$/.test(k))
    .map((k) => Number(k.slice(5)))
    .sort((x, y) => x - y);

const ALL = ITEMS.map((_, n) => n + 1);

describe.each([1, 3])(
  'a map with concurrency %i over a conditional with a parallel and a sequence inside (ADR 109)',
  (concurrency) => {
    beforeAll(initFastHash);

    it('in a run without the flag, a finished item keeps its entries at and below its path in every record', async () => {
      const { plan, events } = await recordedBranching(concurrency);
      const old = withoutFlag(events);
      expect(refold(compilePlan(plan), old).status).toBe('completed');
      const mid = contextOf(plan, untilNinth(old));
      expect(finished(mid).length).toBeGreaterThanOrEqual(9 - concurrency);
      for (const i of finished(mid))
        expect({ i, ...keptBy(mid, i) }).toEqual({ i, ...keptWithoutFlag(i) });
      const end = contextOf(plan, old);
      expect(finished(end)).toEqual(ALL);
      for (const i of ALL) expect({ i, ...keptBy(end, i) }).toEqual({ i, ...keptWithoutFlag(i) });
    });

    it('in a run with the flag, a finished item keeps nothing at or below its path but its own output', async () => {
      const { plan, events } = await recordedBranching(concurrency);
      const check = (ctx: Records, done: number[]) => {
        for (const i of done) {
          expect({ i, ...keptBy(ctx, i) }).toEqual({ i, ...NOTHING });
          expect(ctx.out[`body@${i}`]).toEqual(branchOutput(i - 1));
        }
      };
      // Mid-map: the items done are forgotten, the ones running still hold their input.
      const mid = contextOf(plan, untilNinth(events));
      const done = finished(mid);
      expect(done.length).toBeGreaterThanOrEqual(9 - concurrency);
      check(mid, done);
      const running = ALL.filter((i) => !done.includes(i) && i <= 9);
      expect(running.length).toBeGreaterThan(0);
      for (const i of running) expect(mid.inp[`body@${i}`]).toEqual({ n: i - 1 });
      // The map has ended: every item is forgotten, the map's own entries are left.
      const end = contextOf(plan, events);
      expect(finished(end)).toEqual(ALL);
      check(end, ALL);
      expect({ att: end.att, err: end.err, sel: end.sel }).toEqual({ att: {}, err: {}, sel: {} });
      expect(Object.keys(end.inp).sort()).toEqual(['.', '.#items']);
      expect(Object.keys(end.out).sort()).toEqual(['.', ...ALL.map((i) => `body@${i}`)].sort());
    });

    it('its snapshots hold what a refold does in every record, and nothing a finished item kept but its output', async () => {
      const { plan, events } = await recordedBranching(concurrency);
      const snaps = snapshotContexts(events);
      expect(snaps.length).toBeGreaterThan(3);
      for (const s of snaps) {
        const upto = events.filter((e) => e.seq <= s.uptoSeq);
        const ctx = contextOf(plan, upto);
        for (const r of ['inp', 'out', 'att', 'err', 'sel'] as const)
          expect(s.context[r] ?? {}).toEqual(ctx[r]);
        for (const i of finished(s.context))
          expect({ i, ...keptBy(s.context, i) }).toEqual({ i, ...NOTHING });
      }
    });
  },
);
