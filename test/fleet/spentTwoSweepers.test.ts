/**
 * ADR 86, "Settled as it was swept": two workers sweeping the same spent record at once. The
 * record's holder is gone and its run is running but nobody drives it (no reconciler): each
 * sweep's look keeps the message as a dead letter. The first stores it and removes the work
 * message; the second, finding the work message gone, must not take that for a handling that
 * settled it: the dead letter stays. Deterministic: the first sweep runs whole inside the second's
 * read of the run (after its look, before its store). And a holder that only stalled (it did not
 * answer) and took the message out itself once its run was recorded: the sweep keeps the dead
 * letter, and the handling's own settle of the run removes it. Real NATS, a real in-memory ledger.
 */
import { describe, expect, it } from 'vitest';

import { parseWorkMessage } from '../../src/adapters/nats/work.js';
import { definePipeline, step } from '../../src/dsl/builder.js';
import { sweep } from '../../src/fleet/sweep.js';
import { natsReachable } from '../support/services.js';
import { spentHarness } from './spentHarness.js';

const up = await natsReachable();

describe.skipIf(!up)('two sweeps of one spent record (ADR 86)', () => {
  // Each run's step waits until the test lets its input go.
  const let_go = new Map<string, () => void>();
  const release = () => [...let_go.values()].forEach((f) => f());
  const h = spentHarness({
    namespace: 'spent2sw',
    dirPrefix: 'flujo-spent-two-',
    beforeClose: release,
  });
  const plan = definePipeline(
    'hangs',
    step('hang', async (x: string) => {
      await new Promise<void>((r) => let_go.set(x, r));
      return x;
    }),
  ).plan;

  const startRunning = (runId: string) => h.engine('w-gone').run(plan, runId, { runId });
  async function untilRunning(runId: string) {
    for (let i = 0; i < 100 && !let_go.has(runId); i++) await new Promise((r) => setTimeout(r, 20));
    expect((await h.state.readModels.getRun(runId))?.status).toBe('running');
  }

  it('the second sweep finds the message gone: the dead letter the first kept stays', async () => {
    const runId = 'quiet-run';
    const seq = await h.spentStart(runId);
    // Its run was started (RunStarted recorded) and is left running: its driver is gone.
    void startRunning(runId);
    await untilRunning(runId);

    const first = () => sweep(h.sweepDeps(h.state.readModels, 'sweeper-a'));
    await sweep(h.sweepDeps(h.gated(first), 'sweeper-b'));

    const dead = await h.deadLetters(runId);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: 'start', code: 'MAX_DELIVERIES', work_seq: seq });
    expect(h.messages()).not.toContain(
      'work message held past the bound was settled by its handling while it was kept as a dead letter; the dead letter is removed',
    );
    expect(await h.workMessage(seq)).toBe(null);
  }, 30_000);

  it('a stalled holder took the message out as the sweep kept it: its settle removes the dead letter', async () => {
    const runId = 'stalled-holder';
    // The handling holds a real delivery of it (JetStream has given up on it: spent).
    const msg = await h.deliverStart(runId);
    expect(msg).not.toBeNull();
    const work = parseWorkMessage(h.names, msg!.subject, msg!.data);
    expect(work.runId).toBe(runId);
    await h.markSpent(msg!.seq, runId, 'w-stalled');
    const done = startRunning(runId);
    await untilRunning(runId);
    // After the sweep's look, the holder (too slow to answer) takes its message out: its run is
    // recorded (adopt). The sweep cannot tell that from another sweeper: the dead letter stays.
    const adopted = () =>
      h.jsm.streams.deleteMessage(h.names.stream, msg!.seq, false).then(() => {});
    await sweep(h.sweepDeps(h.gated(adopted), 'sweeper-c'));
    expect(await h.deadLetters(runId)).toHaveLength(1);
    // The handling completes the run and settles the message it took out itself.
    let_go.get(runId)!();
    expect((await done).status).toBe('completed');
    const counts = await h.settleSpent(msg!, runId, work, true);
    expect(counts.acked).toBe(1);
    expect(await h.deadLetters(runId)).toEqual([]);
  }, 30_000);
});
