import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';

const plan = definePipeline(
  'approve',
  sequence(
    step('draft', (x: string) => `draft of ${x}`),
    hitl('approve', {
      message: 'approve?',
      schema: z.object({ approved: z.boolean(), note: z.unknown().optional() }),
    }),
  ),
).plan;

async function paused() {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger });
  const r = await engine.run(plan, 'memo');
  expect(r.status).toBe('paused');
  return { ledger, engine, runId: r.runId, head: (await ledger.head(r.runId))?.seq };
}

const nested = (depth: number): unknown => {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('answers a paused run cannot take', () => {
  it('an answer nested past what the ledger records breaks the schema: rejected with its reasons, nothing recorded', async () => {
    const { ledger, engine, runId, head } = await paused();
    await expect(engine.resume(plan, runId, { humanInput: nested(100_000) })).rejects.toMatchObject(
      {
        code: 'HUMAN_INPUT_REJECTED',
        details: { reasons: ['(input) must be object'] },
      },
    );
    expect((await ledger.head(runId))?.seq).toBe(head);
  });

  it('an answer the schema allows but the ledger cannot record: rejected naming where, nothing recorded', async () => {
    const { ledger, engine, runId, head } = await paused();
    const answer = { approved: true, note: nested(300) };
    await expect(engine.resume(plan, runId, { humanInput: answer })).rejects.toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      message: expect.stringMatching(/cannot be recorded: .*humanInput\.note/),
    });
    expect((await ledger.head(runId))?.seq).toBe(head);
    const done = await engine.resume(plan, runId, { humanInput: { approved: true } });
    expect(done).toMatchObject({ status: 'completed', output: { approved: true } });
  });

  it('an answer for a run that has ended is refused, not silently dropped', async () => {
    const { ledger, engine, runId } = await paused();
    await engine.resume(plan, runId, { humanInput: { approved: true } });
    const head = (await ledger.head(runId))?.seq;
    await expect(
      engine.resume(plan, runId, { humanInput: { approved: false } }),
    ).rejects.toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
      message: expect.stringContaining('is completed'),
    });
    expect((await ledger.head(runId))?.seq).toBe(head);
    // Without an answer, resuming an ended run still just reports it.
    expect(await engine.resume(plan, runId)).toMatchObject({ status: 'completed' });
  });
});
