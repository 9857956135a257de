import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import type { LedgerEvent } from '../../../src/events/envelope.js';
import { createSqliteLedger } from '../../../src/adapters/ledger/sqlite.js';
import { harness } from '../../support/given.js';

const addOne = (name: string) => step(name, (x: number) => x + 1);
const approval = () => hitl('ok', { message: 'go?', schema: z.object({ ok: z.boolean() }) });

async function collect(events: AsyncIterable<LedgerEvent>): Promise<LedgerEvent[]> {
  const out: LedgerEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** A function step that waits until released, so a test can look at a run mid-way. */
function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, step: (name: string) => step(name, async (x: number) => (await opened, x + 1)) };
}

describe('watching a run', () => {
  it("yields a finished run's events in seq order and ends after its last", async () => {
    const { engine } = harness();
    const p = definePipeline('w', sequence(addOne('a'), addOne('b')));
    const r = await engine.run(p.plan, 0);
    const seen = await collect(engine.watch(r.runId));
    expect(seen.map((e) => e.seq)).toEqual((await engine.events(r.runId)).map((e) => e.seq));
    expect(seen.at(-1)?.type).toBe('RunCompleted');
  });

  it('yields events as they are committed while the run goes on', async () => {
    const { engine } = harness();
    const g = gate();
    const p = definePipeline('w', sequence(addOne('a'), g.step('held'), addOne('c')));
    const running = engine.run(p.plan, 0, { runId: 'live-1' });
    const seen: LedgerEvent[] = [];
    let opened = false;
    for await (const e of engine.watch('live-1')) {
      seen.push(e);
      // The held step's request is committed before its function runs: open it from here.
      if (!opened && e.type === 'AgentCallRequested' && e.data.path === '1') {
        opened = true;
        expect((await engine.result('live-1')).status).toBe('running');
        g.open();
      }
    }
    expect(opened).toBe(true);
    expect(seen.at(-1)).toMatchObject({ type: 'RunCompleted', data: { output: 3 } });
    expect((await running).status).toBe('completed');
    expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1));
  });

  it('follows a paused run through its resume, or stops at the pause when asked', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'w',
      sequence(
        addOne('a'),
        approval(),
        step('b', () => 7),
      ),
    );
    const paused = await engine.run(p.plan, 0);
    const atRest = await collect(engine.watch(paused.runId, { untilRest: true }));
    // It ends with the pause's own append: RunPaused and the snapshot that closes it.
    expect(atRest.map((e) => e.type).slice(-2)).toEqual(['RunPaused', 'SnapshotTaken']);
    const following = collect(engine.watch(paused.runId, { afterSeq: atRest.at(-1)?.seq }));
    await engine.resume(p.plan, paused.runId, { humanInput: { ok: true } });
    const after = await following;
    expect(after[0]?.type).toBe('RunClaimed');
    expect(after.at(-1)).toMatchObject({ type: 'RunCompleted', data: { output: 7 } });
  });

  it('with untilRest, does not stop at a pause a resume has superseded', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'w',
      sequence(
        addOne('a'),
        approval(),
        approval(),
        step('b', () => 7),
      ),
    );
    const first = await engine.run(p.plan, 0);
    await engine.resume(p.plan, first.runId, { humanInput: { ok: true } });
    // Paused again at the second question: the watch ends there, not at the first pause.
    const atSecond = await collect(engine.watch(first.runId, { untilRest: true }));
    expect(atSecond.filter((e) => e.type === 'RunPaused')).toHaveLength(2);
    expect(atSecond.map((e) => e.seq)).toEqual(
      (await engine.events(first.runId)).map((e) => e.seq),
    );
    await engine.resume(p.plan, first.runId, { humanInput: { ok: true } });
    // Completed: every event, to RunCompleted (before, it stopped after the first pause).
    const all = await collect(engine.watch(first.runId, { untilRest: true }));
    expect(all.map((e) => e.seq)).toEqual((await engine.events(first.runId)).map((e) => e.seq));
    expect(all.at(-1)).toMatchObject({ type: 'RunCompleted', data: { output: 7 } });
  });

  it('sees a run driven by another engine on the same ledger by polling', async () => {
    const { engine, ledger } = harness();
    const other = harness({ ledger }).engine;
    const g = gate();
    const p = definePipeline('w', sequence(g.step('held'), addOne('b')));
    const running = other.run(p.plan, 0, { runId: 'elsewhere-1' });
    const types: string[] = [];
    // Watched from before the other engine's first commit: wait for it to appear.
    for await (const e of engine.watch('elsewhere-1', { pollMs: 5, waitForStart: true })) {
      types.push(e.type);
      if (e.type === 'AgentCallRequested' && e.data.path === '0') g.open();
    }
    expect(types.at(-1)).toBe('RunCompleted');
    await running;
  });

  it('follows a run another connection writes to a SQLite ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-watch-'));
    const path = join(dir, 'state.db');
    const mine = createSqliteLedger({ path, synchronous: 'NORMAL' });
    const theirs = createSqliteLedger({ path, synchronous: 'NORMAL' });
    try {
      const watcher = harness({ ledger: mine }).engine;
      const worker = harness({ ledger: theirs }).engine;
      const p = definePipeline('w', sequence(addOne('a'), addOne('b'), addOne('c')));
      const watching = collect(watcher.watch('sql-1', { pollMs: 5, waitForStart: true }));
      const r = await worker.run(p.plan, 0, { runId: 'sql-1' });
      const seen = await watching;
      expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: r.events }, (_, i) => i + 1));
      expect(seen.at(-1)).toMatchObject({ type: 'RunCompleted', data: { output: 3 } });
    } finally {
      await mine.close();
      await theirs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends when its signal aborts, even while waiting for the next event', async () => {
    const { engine } = harness();
    const g = gate();
    const p = definePipeline('w', g.step('held'));
    const running = engine.run(p.plan, 0, { runId: 'stop-1' });
    const controller = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of engine.watch('stop-1', { signal: controller.signal, pollMs: 60_000 }))
        seen.push(e.type);
    })();
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    controller.abort();
    await watching;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(seen).toContain('AgentCallRequested');
    expect(seen).not.toContain('RunCompleted');
    g.open();
    await running;
  });

  it('refuses a run the ledger does not have', async () => {
    const { engine } = harness();
    await expect(collect(engine.watch('nope'))).rejects.toThrow(/RUN_NOT_FOUND|no run nope/);
  });
});
