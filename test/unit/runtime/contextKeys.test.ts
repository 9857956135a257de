/**
 * Keys named after members of Object.prototype (`constructor`, `prototype`, `toString`) are data
 * like any other in the run context and in a parallel's outputs: kept when written, never read as
 * inherited members. Before, `updatesContext` silently dropped `constructor` and `prototype` (the
 * ledger had recorded them).
 */
import { describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, sequence, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';

const contextOf = step(
  'dump',
  (c: Record<string, unknown>) => {
    const { initial_prompt: _ignored, ...rest } = c;
    return rest;
  },
  { input: (_prev, ctx) => ctx as Record<string, unknown> },
);

describe('context keys named like Object.prototype members', () => {
  it('updatesContext keeps constructor, prototype and toString as data, and replays', async () => {
    const plan = definePipeline(
      'ctor',
      sequence(
        step('w', () => ({ constructor: 'a data key', prototype: { p: 1 }, toString: 'x', n: 1 }), {
          updatesContext: true,
        }),
        step('w2', () => ({ prototype: { q: 2 } }), { updatesContext: true }),
        contextOf,
      ),
    ).plan;
    const engine = createEngine({ ledger: createMemoryLedger() });
    const r = await engine.run(plan, 0, { runId: 'k1' });
    expect(r.status).toBe('completed');
    expect(r.output).toEqual({
      constructor: 'a data key',
      prototype: { p: 1, q: 2 }, // deep-merged like any key
      toString: 'x',
      n: 1,
    });
    expect((await engine.replay(plan, 'k1')).identical).toBe(true);
  });

  it('sinkTo writes under constructor as an own key', async () => {
    const plan = definePipeline(
      'sink',
      sequence(
        step('w', () => 42, { sinkTo: 'constructor.value' }),
        contextOf,
      ),
    ).plan;
    const r = await createEngine({ ledger: createMemoryLedger() }).run(plan, 0);
    expect(r.output).toEqual({ constructor: { value: 42 } });
  });
});
