import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { openState } from '../../../src/adapters/ledger/state.js';
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

  it('records the abandoned question as withdrawn; the lens read model and a rebuild agree', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-withdrawn-'));
    const state = await openState(`sqlite:///${join(dir, 'state.db')}`, { projectRoot: dir });
    try {
      const engine = createEngine({ ledger: state.ledger, agents: failing });
      const r = await engine.run(plan, 'x');
      expect(r.status).toBe('paused');
      const events = await engine.events(r.runId);
      const asked = events.filter((e) => e.type === 'HumanInputRequested').map((e) => e.data.path);
      const withdrawn = events.filter((e) => e.type === 'HumanInputWithdrawn');
      expect(withdrawn.map((e) => e.data.path)).toEqual([asked[0]]);
      // Recorded with the fact that caused it (the failed sibling's reply).
      const before = events[events.indexOf(withdrawn[0]!) - 1];
      expect(before?.type).toBe('AgentFailed');
      const rows = async () =>
        (await state.readModels.hitl({ runId: r.runId })).map((h) => [h.message, h.status]);
      const expected = [
        ['ABANDONED: give a colour', 'withdrawn'],
        ['REAL: approve?', 'pending'],
      ];
      expect(await rows()).toEqual(expected);
      await state.rebuild();
      expect(await rows()).toEqual(expected);
      expect((await engine.replay(plan, r.runId)).identical).toBe(true);
      const done = await engine.resume(plan, r.runId, { humanInput: { ok: true } });
      expect(done.status).toBe('completed');
      expect((await rows()).map(([, st]) => st)).toEqual(['withdrawn', 'answered']);
    } finally {
      await state.close();
    }
  });
});
