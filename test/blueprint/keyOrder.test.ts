/**
 * Templates list an object's keys in the ledger's order (ADR 126). A run builds its context and
 * `steps` by adding keys; a snapshot stores them in the ledger's order (shorter first, then
 * bytewise), so a run resumed from one listed `{{ context | tojson }}` otherwise than the same
 * run refolded from its events, and `lens replay` of a run that paused diverged where a template
 * listed them after the pause. Gated by the engine flag `object-keys-in-order`: a run
 * recorded before it refolds as it ran.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import type { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { NondeterminismError } from '../../src/errors.js';
import { withoutFlag } from '../support/events.js';
import { runFixture } from './support.js';

const FLAG = ENGINE_FLAGS.objectKeysInOrder;
const eventsOf = async (ledger: ReturnType<typeof createMemoryLedger>, runId: string) =>
  (await ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body));

describe("a template lists an object's keys sorted, whatever the run's history", () => {
  beforeAll(initFastHash);

  it('before and after a resume from a snapshot alike, and the run replays identically', async () => {
    const { run, engine, plan, ledger } = await runFixture(
      'fixtures/templates/key_order.yaml',
      'in',
    );
    expect(run.status).toBe('paused');
    const events = await eventsOf(ledger as never, run.runId);
    // The pause closed with a snapshot: the resume starts from it, not from the events.
    expect(events.at(-1)?.type).toBe('SnapshotTaken');
    const done = await engine.resume(plan, run.runId, { humanInput: 'yes' });
    expect(done.status).toBe('completed');
    const [context, steps, keys] = String(done.output).split(' | ');
    // Sorted; the run added initial_prompt, a and zeta (the step's output as recorded),
    // step_outputs, resume_input, and its snapshot gave them back shorter first.
    expect(Object.keys(JSON.parse(context!) as object)).toEqual([
      'a',
      'initial_prompt',
      'resume_input',
      'step_outputs',
      'zeta',
    ]);
    expect(Object.keys(JSON.parse(steps!) as object)).toEqual(['ask', 'b', 'zz_first']);
    expect(keys).toBe('ask,b,zz_first');

    const replay = await engine.replay(plan, run.runId);
    expect(replay, JSON.stringify(replay).slice(0, 600)).toMatchObject({ identical: true });
    // The same events claiming no flag list the keys as they were added, which the recorded
    // request after the pause does not: the flag decides.
    const all = await eventsOf(ledger as never, run.runId);
    let divergence: unknown;
    try {
      refold(compilePlan(plan), withoutFlag(all, FLAG));
    } catch (e) {
      divergence = e;
    }
    expect(divergence).toBeInstanceOf(NondeterminismError);
    const { expected, recorded } = divergence as NondeterminismError;
    // Without the flag (a run recorded before it), the context as built: initial_prompt first.
    expect(JSON.stringify(expected)).toContain(
      '"input":"{\\"initial_prompt\\": \\"in\\", \\"a\\": 2',
    );
    expect(JSON.stringify(recorded)).toContain(
      '"input":"{\\"a\\": 2, \\"initial_prompt\\": \\"in\\", \\"resume_input\\"',
    );
  });

  it('a run that does not pause lists them the same way', async () => {
    const { run } = await runFixture('fixtures/templates/key_order_flat.yaml', 'in');
    expect(run.status).toBe('completed');
    const [context, steps] = String(run.output).split(' | ');
    expect(Object.keys(JSON.parse(context!) as object)).toEqual([
      'a',
      'initial_prompt',
      'step_outputs',
      'zeta',
    ]);
    expect(Object.keys(JSON.parse(steps!) as object)).toEqual(['b', 'zz_first']);
  });

  it('a message given a whole context lists it sorted too, at every depth, and replays identically', async () => {
    const { run, engine, plan, ledger } = await runFixture(
      'fixtures/templates/key_order_message.yaml',
      'in',
    );
    expect(run.status).toBe('paused');
    const second = await engine.resume(plan, run.runId, { humanInput: 'yes' });
    expect(second.status).toBe('paused');
    // The message asked after the resume from the first pause's snapshot: sorted at every depth.
    const asked = (await eventsOf(ledger as never, run.runId)).findLast(
      (e) => e.type === 'HumanInputRequested',
    ) as { data: { message: string } };
    const message = JSON.parse(asked.data.message) as Record<string, unknown>;
    expect(Object.keys(message)).toEqual(['a', 'initial_prompt', 'resume_input', 'zeta']);
    // The ledger holds {b, aa} (shorter first): listed sorted below too.
    expect(Object.keys(message.a as object)).toEqual(['aa', 'b']);
    const done = await engine.resume(plan, run.runId, { humanInput: 'ok' });
    expect(done.status).toBe('completed');
    const replay = await engine.replay(plan, run.runId);
    expect(replay, JSON.stringify(replay).slice(0, 600)).toMatchObject({ identical: true });
  });
});
