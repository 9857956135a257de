import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, hitl, loop, sequence, step } from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { verifyStoredRun } from '../../../src/runtime/verifyLedger.js';

const long = definePipeline(
  'long',
  sequence(
    loop(
      'count',
      step('inc', (x: number) => x + 1),
      { maxLoops: 300 },
    ),
    hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
    step('end', (a: { ok: boolean }) => (a.ok ? 'yes' : 'no')),
  ),
);

/** A memory ledger that counts the rows handed out by read(). */
function countingLedger() {
  const ledger = createMemoryLedger();
  let rows = 0;
  const read = ledger.read.bind(ledger);
  ledger.read = async (runId, opts) => {
    const out = await read(runId, opts);
    rows += out.length;
    return out;
  };
  return { ledger, rowsRead: () => rows, reset: () => (rows = 0) };
}

describe('snapshots', () => {
  it('resume starts from the latest snapshot instead of refolding from zero, with the same result', async () => {
    const { ledger, rowsRead, reset } = countingLedger();
    const engine = createEngine({ ledger, snapshotEvery: 100, newRunId: () => 'snap-1' });
    const paused = await engine.run(long.plan, 0);
    expect(paused.status).toBe('paused');
    const events = await engine.events('snap-1');
    const snaps = events.filter((e) => e.type === 'SnapshotTaken');
    expect(snaps.length).toBeGreaterThanOrEqual(events.length / 110);
    reset();
    const done = await createEngine({ ledger, snapshotEvery: 100 }).resume(long.plan, 'snap-1', {
      humanInput: { ok: true },
    });
    expect(rowsRead()).toBeLessThan(250); // the tail window and seq 1, not ~1,500 events
    expect(done).toMatchObject({ status: 'completed', output: 'yes' });
    expect(done).toEqual(await engine.result('snap-1'));
    expect(await createEngine({ ledger }).replay(long.plan, 'snap-1')).toMatchObject({
      identical: true,
      output: 'yes',
    });
    expect((await verifyStoredRun(ledger, 'snap-1')).ok).toBe(true);
  });

  it('restores outstanding calls and budgets: an in-flight call after a snapshot is re-issued once', async () => {
    const ledger = createMemoryLedger();
    const calls: string[] = [];
    let hang = true;
    const agents: AgentPort = {
      estimate: () => ({ costMicros: 10, tokens: 1 }),
      call(req) {
        calls.push(req.key);
        if (req.agent === 'm:last' && hang) return new Promise(() => {});
        return Promise.resolve({
          output: 1,
          usage: { input: 1, output: 0 },
          costMicros: 10,
          model: req.agent,
        });
      },
    };
    const p = definePipeline(
      'b',
      sequence(
        loop('many', agentStep<number>('m', 'm:many'), { maxLoops: 60 }),
        agentStep('last', 'm:last'),
      ),
    );
    const first = createEngine({ ledger, agents, snapshotEvery: 50, newRunId: () => 'snap-2' });
    void first.run(p.plan, 0, { budget: { costMicros: 100_000 } });
    await vi.waitFor(() => expect(calls.at(-1)).toBe('snap-2:1:1'));
    hang = false;
    const done = await createEngine({ ledger, agents, snapshotEvery: 50 }).resume(p.plan, 'snap-2');
    expect(done).toMatchObject({ status: 'completed', output: 1, costMicros: 610 });
    expect(calls.filter((k) => k === 'snap-2:1:1')).toHaveLength(2); // in flight at the "crash", re-issued once
    expect(calls).toHaveLength(62);
  });
});
