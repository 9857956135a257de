/**
 * ADR 86's residual race, made deterministic: a spent message whose handling settles just as the
 * sweep keeps it as a dead letter. In process, on the real NATS (a namespace of its own) and a
 * real in-memory ledger driven by the engine; the "handling" settles at a gate (a promise run
 * inside the sweep's read of the run, after its look and before it stores the dead letter), or
 * after the sweep, through the worker's own settle. Either way no dead letter is left for work
 * that is done; a message whose run never ran is still kept as one.
 */
import { describe, expect, it } from 'vitest';

import { parseWorkMessage } from '../../src/adapters/nats/work.js';
import { definePipeline, step } from '../../src/dsl/builder.js';
import { listSpent } from '../../src/fleet/spent.js';
import { sweep } from '../../src/fleet/sweep.js';
import { natsReachable } from '../support/services.js';
import { spentHarness } from './spentHarness.js';

const up = await natsReachable();

describe.skipIf(!up)('a spent message settled as the sweep keeps it (ADR 86)', () => {
  const h = spentHarness({ namespace: 'spentrace', dirPrefix: 'flujo-spent-race-' });
  const plan = definePipeline(
    'echo',
    step('echo', (x: string) => `${x}!`),
  ).plan;

  const run = (runId: string) => h.engine('test').run(plan, 'x', { runId });

  it('control: a spent start whose run never ran is kept as a dead letter naming its holder', async () => {
    const seq = await h.spentStart('never-ran');
    await sweep(h.sweepDeps(h.state.readModels));
    const dead = await h.deadLetters('never-ran');
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: 'start', code: 'MAX_DELIVERIES', work_seq: seq });
    expect(dead[0]!.reason).toContain('held by worker w-gone');
    expect(await h.workMessage(seq)).toBeNull();
  }, 30_000);

  it('its handling settles after the sweep looked and before it stored the dead letter: the dead letter is removed', async () => {
    const seq = await h.spentStart('settles-in-the-gap');
    let settled = false;
    // The handling's settle: the run recorded to its end, then its message acked out of the queue.
    const handling = async () => {
      expect((await run('settles-in-the-gap')).status).toBe('completed');
      await h.jsm.streams.deleteMessage(h.names.stream, seq, false);
      settled = true;
    };
    await sweep(h.sweepDeps(h.gated(handling)));
    expect(settled).toBe(true);
    const dead = await h.deadLetters('settles-in-the-gap');
    expect(dead).toEqual([]);
    expect(h.messages()).toContain(
      'work message held past the bound was settled by its handling while it was kept as a dead letter; the dead letter is removed',
    );
    expect((await listSpent(h.jsm, h.names)).map((r) => r.seq)).not.toContain(seq);
  }, 30_000);

  it('its handling settles after the sweep kept it: the handling removes the dead letter', async () => {
    const runId = 'settles-after';
    // The handling holds a real delivery of it (JetStream has given up on it: spent).
    const msg = await h.deliverStart(runId);
    expect(msg).not.toBeNull();
    const work = parseWorkMessage(h.names, msg!.subject, msg!.data);
    expect(work.runId).toBe(runId);
    await h.markSpent(msg!.seq, runId, 'w-wedged');
    // The sweep finds no run and nobody answering: a dead letter, the message out of the queue.
    await sweep(h.sweepDeps(h.state.readModels));
    expect(await h.deadLetters(runId)).toHaveLength(1);
    // Then the handling completes the run and settles the message by hand, as the worker does.
    expect((await run(runId)).status).toBe('completed');
    const counts = await h.settleSpent(msg!, runId, work, false);
    expect(counts.acked).toBe(1);
    expect(await h.deadLetters(runId)).toEqual([]);
    expect(h.messages()).toContain(
      'work message kept as a dead letter while its handling settled it; the dead letter is removed',
    );
  }, 30_000);
});
