import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import {
  agentStep,
  definePipeline,
  hitl,
  parallel,
  stateMachine,
} from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';

/** Fails every call, a little later: the HITL branch beside it has asked by then. */
const failing: AgentPort = {
  async call() {
    await new Promise((r) => setTimeout(r, 5));
    throw Object.assign(new Error('bad'), { code: 'BAD', retryable: false });
  },
};

/**
 * A question asked in a branch that is then abandoned (its sibling failed) is not what the run
 * rests on: the pause the caller is shown must be the one the engine validates answers against,
 * the question RunPaused names.
 */
const plan = definePipeline(
  'withdrawn',
  stateMachine(
    'sm',
    {
      fan: parallel('both', {
        ask: hitl('abandoned', {
          message: 'ABANDONED: give a colour',
          schema: z.object({ colour: z.string() }),
        }),
        bad: agentStep('bad', 'm:bad'),
      }),
      recover: hitl('real', { message: 'REAL: approve?', schema: z.object({ ok: z.boolean() }) }),
    },
    { start: 'fan', end: ['recover'], transitions: [{ from: '*', on: 'failure', to: 'recover' }] },
  ),
).plan;

describe('the pause a run reports', () => {
  for (const snapshotEvery of [0, 3])
    it(`is the question it rests on, not one its abandoned branch asked (snapshotEvery ${snapshotEvery})`, async () => {
      const ledger = createMemoryLedger();
      const engine = () => createEngine({ ledger, agents: failing, snapshotEvery });
      const r = await engine().run(plan, 'x');
      expect(r.status).toBe('paused');
      const paused = (await engine().events(r.runId)).find((e) => e.type === 'RunPaused');
      expect(r.pause).toMatchObject({ path: paused?.data.path, message: 'REAL: approve?' });
      expect((await engine().result(r.runId)).pause?.message).toBe('REAL: approve?');
      await expect(
        engine().resume(plan, r.runId, { humanInput: { colour: 'red' } }),
      ).rejects.toMatchObject({ code: 'HUMAN_INPUT_REJECTED' });
      const done = await engine().resume(plan, r.runId, { humanInput: { ok: true } });
      expect(done).toMatchObject({ status: 'completed', output: { ok: true } });
    });
});
