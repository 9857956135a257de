/**
 * A run started, resumed or cancelled by a fleet message that `flujo fleet dead-letters retry`
 * published records which dead letter it was and who retried it, on the event it causes
 * (ADR 87); without it nothing changes.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import { decodeRecord } from '../../../src/events/envelope.js';
import { createEngine } from '../../../src/runtime/engine.js';

const plan = definePipeline(
  'approve',
  sequence(
    step('draft', (x: string) => `draft of ${x}`),
    hitl('approve', { message: 'approve?', schema: z.object({ approved: z.boolean() }) }),
  ),
).plan;

const retried = (seq: number, by: string) => ({ deadLetter: `FLUJO_DEAD:${seq}`, by });

describe('a retried dead letter is recorded on the event it causes', () => {
  it('RunStarted, RunResumed (with the answer) and RunCancelled carry it', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const events = async (runId: string) =>
      (await ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body));

    const started = await engine.run(plan, 'memo', { runId: 'a', retried: retried(3, 'alice') });
    expect(started.status).toBe('paused');
    expect((await events('a'))[0]).toMatchObject({
      type: 'RunStarted',
      data: { retried: { deadLetter: 'FLUJO_DEAD:3', by: 'alice' } },
    });

    const answered = await engine.resume(plan, 'a', {
      humanInput: { approved: true },
      answeredBy: 'ada',
      retried: retried(5, 'carol'),
    });
    expect(answered.status).toBe('completed');
    const resumed = (await events('a')).filter((e) => e.type === 'RunResumed');
    expect(resumed.at(-1)).toMatchObject({
      data: { reason: 'human', retried: { deadLetter: 'FLUJO_DEAD:5', by: 'carol' } },
    });
    expect((await events('a')).find((e) => e.type === 'HumanInputReceived')).toMatchObject({
      data: { by: 'ada' },
    });

    await engine.run(plan, 'memo', { runId: 'b' });
    await engine.cancel('b', 'withdrawn', undefined, retried(6, 'dave'));
    expect((await events('b')).at(-1)).toMatchObject({
      type: 'RunCancelled',
      data: { reason: 'withdrawn', retried: { deadLetter: 'FLUJO_DEAD:6', by: 'dave' } },
    });
    // Without it, nothing is added.
    expect((await events('b'))[0]!.data).not.toHaveProperty('retried');
  });
});
