import { describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, loop, map, stateMachine, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';

/**
 * A body that can finish without waiting for anything (a map) inside a loop. Building the
 * engine's reusable transition scope used to create an actor of the run machine itself, which
 * computed its initial state with no input and its context updates deferred: the loop's counter
 * never moved and the engine spun in the constructor until the heap ran out. Each `items` counts
 * its calls and throws past a bound, so the old behaviour fails here instead of hanging.
 */
function bounded() {
  let calls = 0;
  return (x: unknown) => {
    if (++calls > 200) throw new Error(`items evaluated ${calls} times`);
    return x as number[];
  };
}

describe('a loop or state machine around a map', () => {
  it('a loop whose body is a map runs its iterations and replays identically', async () => {
    const engine = createEngine({ ledger: createMemoryLedger() });
    const plan = definePipeline(
      'loop-of-map',
      loop(
        'L',
        map(
          'M',
          step('double', (a: number) => a * 2),
          { items: bounded() },
        ),
        {
          maxLoops: 3,
        },
      ),
    ).plan;
    const r = await engine.run(plan, [1, 2]);
    expect(r.status).toBe('completed');
    expect(r.output).toEqual([8, 16]);
    expect((await engine.replay(plan, r.runId)).identical).toBe(true);
  });

  it('a state machine that returns to a map state leaves it when its condition says so', async () => {
    const engine = createEngine({ ledger: createMemoryLedger() });
    const plan = definePipeline(
      'sm-map',
      stateMachine(
        'S',
        {
          grow: map(
            'M',
            step('double', (a: number) => a * 2),
            { items: bounded() },
          ),
          done: step('done', (x: number[]) => x.reduce((s, v) => s + v, 0)),
        },
        {
          start: 'grow',
          end: ['done'],
          transitions: [
            {
              from: 'grow',
              on: 'success',
              to: 'grow',
              when: (_c, o) => !Array.isArray(o.last_output) || (o.last_output[0] ?? 0) < 8,
            },
            { from: 'grow', on: 'success', to: 'done' },
          ],
        },
      ),
    ).plan;
    const r = await engine.run(plan, [1, 3]);
    expect(r.status).toBe('completed');
    expect(r.output).toBe(32); // [1,3] → [2,6] → [4,12] → [8,24] → 32
    expect((await engine.replay(plan, r.runId)).identical).toBe(true);
  });
});
