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
import { definePipeline, map, sequence, step } from '../../../src/dsl/builder.js';
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
