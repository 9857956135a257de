/**
 * Plan code that throws (an input mapper, a condition) fails the run with the error and the
 * code's place, records only the outcomes the cut-short transition had settled (a step that
 * finished), nothing it would have started, and replays identically. Before,
 * XState's error status was not looked at: the run stopped with `running` and no error. The run
 * context is frozen (ADR 39), so plan code that writes to it fails the same way instead of
 * changing a context that snapshots record as changes.
 */
import { describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import {
  conditional,
  definePipeline,
  map,
  sequence,
  stateMachine,
  step,
} from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';

const types = async (ledger: ReturnType<typeof createMemoryLedger>, runId: string) =>
  (await ledger.read(runId)).map((r) => r.type);

describe('plan code that throws', () => {
  it('fails the run at once, naming the code, and replays identically', async () => {
    const plan = definePipeline(
      'throws',
      sequence(
        step('a', (x: number) => x + 1),
        step('b', (x: number) => x + 1, {
          input: (prev) => {
            if ((prev as number) > 0) throw new Error('no positives');
            return prev as number;
          },
        }),
      ),
    ).plan;
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const r = await engine.run(plan, 0, { runId: 'r1' });
    expect(r.status).toBe('failed');
    expect(r.error).toEqual({
      code: 'PLAN_CODE_FAILED',
      message: expect.stringMatching(/^pipeline code threw: .*b\.input: no positives$/),
      retryable: false,
    });
    // Step a's reply is recorded; the transition it caused (complete a, start b's input) threw:
    // what it had settled stands (a completed), nothing it would have started (b) is recorded.
    expect((await types(ledger, 'r1')).slice(-3)).toEqual([
      'AgentResponded',
      'StepCompleted',
      'RunFailed',
    ]);
    expect(r.steps.map((st) => [st.name, st.status])).toEqual([['a', 'completed']]);
    expect((await engine.replay(plan, 'r1')).identical).toBe(true);
  });

  it('fails a conditional whose condition throws inside a map, the same on every attempt', async () => {
    const plan = definePipeline(
      'cond',
      map(
        'each',
        conditional(
          'pick',
          (x: number) => {
            if (x === 2) throw new TypeError(`cannot pick ${x}`);
            return x % 2 === 0;
          },
          { true: step('even', (x: number) => x), false: step('odd', (x: number) => -x) },
        ),
      ),
    ).plan;
    for (const id of ['c1', 'c2']) {
      const r = await createEngine({ ledger: createMemoryLedger() }).run(plan, [1, 2, 3], {
        runId: id,
      });
      expect(r.status).toBe('failed');
      expect(r.error?.message).toMatch(/pick\.condition: cannot pick 2$/);
    }
  });

  it('refuses writes to the run context: the run fails instead of diverging on resume', async () => {
    const plan = definePipeline(
      'writes',
      step('a', (x: number) => x + 1, {
        input: (prev, ctx) => {
          (ctx as Record<string, unknown>).seen = true;
          return prev as number;
        },
      }),
    ).plan;
    const r = await createEngine({ ledger: createMemoryLedger() }).run(plan, 0);
    expect(r.status).toBe('failed');
    expect(r.error?.message).toMatch(/a\.input: .*not extensible/);
  });

  it('a state machine condition that throws after a state finished: the state is completed, then the run fails', async () => {
    const plan = definePipeline(
      'sm-throws',
      stateMachine(
        'sm',
        { first: step('first', (x: number) => x + 1), last: step('last', (x: number) => x) },
        {
          start: 'first',
          end: ['last'],
          transitions: [
            {
              from: 'first',
              on: 'success',
              to: 'last',
              when: () => {
                throw new Error('cannot decide');
              },
            },
          ],
        },
      ),
    ).plan;
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const r = await engine.run(plan, 1, { runId: 's1' });
    expect(r.status).toBe('failed');
    expect(r.error?.message).toMatch(/cannot decide$/);
    const recorded = await types(ledger, 's1');
    // first's reply, first completed, then the failure: 'last' is never scheduled.
    expect(recorded.slice(-3)).toEqual(['AgentResponded', 'StepCompleted', 'RunFailed']);
    expect(r.steps.map((st) => st.name)).not.toContain('last');
    expect(r.steps.find((st) => st.name === 'first')?.status).toBe('completed');
    expect((await engine.replay(plan, 's1')).identical).toBe(true);
  });

  it('records no outcome for a step the failing transition itself started (an empty map)', async () => {
    const plan = definePipeline(
      'empty-map',
      sequence(
        step('a', (x: number) => x),
        map(
          'm',
          step('each', (x: number) => x),
          { items: () => [] },
        ),
        step('b', (x: unknown) => x, {
          input: () => {
            throw new Error('boom');
          },
        }),
      ),
    ).plan;
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const r = await engine.run(plan, 1, { runId: 'e1' });
    expect(r.status).toBe('failed');
    const events = await engine.events('e1');
    const completed = events.filter((e) => e.type === 'StepCompleted').map((e) => e.data.path);
    const scheduled = events.filter((e) => e.type === 'StepScheduled').map((e) => e.data.path);
    // a completed; the map was scheduled and finished in the failing transition: not recorded.
    expect(completed).toEqual(['0']);
    for (const path of completed) expect(scheduled).toContain(path);
    expect((await engine.replay(plan, 'e1')).identical).toBe(true);
  });
});

describe('plan code that returns a value the ledger cannot record', () => {
  const cases: [string, () => ReturnType<typeof definePipeline>['plan'], RegExp][] = [
    [
      'an input mapper returning a Date',
      () =>
        definePipeline(
          'in-date',
          sequence(
            step('a', (x: number) => x + 1),
            step('b', (x: unknown) => String(x), { input: () => new Date(0) as unknown }),
          ),
        ).plan,
      /b\.input returned a value the ledger cannot record: .*Date is not plain data/,
    ],
    [
      "a map's items holding NaN",
      () =>
        definePipeline(
          'items-nan',
          sequence(
            step('a', (x: number) => x + 1),
            map(
              'm',
              step('each', (x: number) => x),
              { items: () => [1, Number.NaN] },
            ),
          ),
        ).plan,
      /m\.items returned a value the ledger cannot record: .*\[1\].*NaN/,
    ],
  ];
  for (const [name, plan, message] of cases)
    it(`fails the run with PLAN_CODE_FAILED, keeps the finished step, and stays failed: ${name}`, async () => {
      const ledger = createMemoryLedger();
      const engine = createEngine({ ledger });
      const r = await engine.run(plan(), 0, { runId: 'nv' });
      // Before: run() threw LedgerEncodeError with the run left running (no RunFailed), and
      // every resume ran step a again and threw again.
      expect(r.status).toBe('failed');
      expect(r.error?.code).toBe('PLAN_CODE_FAILED');
      expect(r.error?.message).toMatch(message);
      const recorded = await types(ledger, 'nv');
      expect(recorded.slice(-3)).toEqual(['AgentResponded', 'StepCompleted', 'RunFailed']);
      expect((await engine.resume(plan(), 'nv')).status).toBe('failed');
      expect(await types(ledger, 'nv')).toEqual(recorded); // nothing ran again
      expect((await engine.replay(plan(), 'nv')).identical).toBe(true);
    });
});
