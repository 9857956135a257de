/**
 * Parallel and router branches at their edges: a branch rescued by its step's fallback, no
 * branches at all, branch names that look like the compiler's own path segments or like integers.
 */
import { describe, expect, it } from 'vitest';

import { PlanBuildError } from '../../../src/dsl/checks.js';
import {
  conditional,
  definePipeline,
  parallel,
  router,
  sequence,
  stateMachine,
  step,
} from '../../../src/dsl/builder.js';
import { harness, trace } from '../../support/given.js';

const down = (_x: number): { fromA: number } => {
  throw Object.assign(new Error('primary down'), { retryable: false });
};
/** A step that always fails and is rescued by its fallback. */
const rescued = (name: string, updatesContext = false) =>
  step(name, down, {
    fallback: step(`${name}_fb`, (x: number) => ({ fromA: x })),
    ...(updatesContext ? { updatesContext: true } : {}),
  });

describe('a branch rescued by its fallback', () => {
  it('succeeds: it is in the output and the parallel completes under propagate and ignore', async () => {
    for (const onBranchFailure of ['propagate', 'ignore'] as const) {
      const { engine } = harness();
      const p = definePipeline(
        'fb',
        parallel('fan', { a: rescued('a'), b: rescued('b') }, { onBranchFailure }),
      );
      const r = await engine.run(p.plan, 1);
      expect(r.status, onBranchFailure).toBe('completed');
      expect(r.output).toEqual({ a: { fromA: 1 }, b: { fromA: 1 } });
      const t = trace(await engine.events(r.runId));
      expect(t.filter((x) => /^Step(Completed|Failed)/.test(x))).toEqual([
        'StepCompleted a/fallback',
        'StepCompleted a',
        'StepCompleted b/fallback',
        'StepCompleted b',
        'StepCompleted .',
      ]);
      expect(t.at(-1)).toBe('RunCompleted');
    }
  });

  it('merges its updatesContext into the run context', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'fb-ctx',
      sequence(
        parallel('p', {
          a: rescued('a', true),
          b: step('b', (x: number) => ({ fromB: x }), { updatesContext: true }),
        }),
        step('read', (c: Record<string, unknown>) => [c.fromA ?? 'missing', c.fromB], {
          input: (_p, c) => c,
        }),
      ),
    );
    const r = await engine.run(p.plan, 7);
    expect(r.output).toEqual([7, 7]);
  });

  it('is a branch a router may choose alone', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'fb-router',
      router(
        'r',
        step('pick', (_x: number) => ['a']),
        { a: rescued('a'), b: step('b', (x: number) => x) },
      ),
    );
    const r = await engine.run(p.plan, 3);
    expect(r.status).toBe('completed');
    expect(r.output).toEqual({ a: { fromA: 3 } });
  });
});

describe('a parallel or router with no branches', () => {
  it('completes with the merge of no outputs, like one where no branch ran (ADR 48)', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'empty',
      sequence(
        step('a', (x: number) => x + 1),
        parallel('none', {}),
        step('after', (x: unknown) => ({ got: x })),
      ),
    );
    const r = await engine.run(p.plan, 0);
    expect(r.status).toBe('completed');
    expect(r.output).toEqual({ got: {} });
    const t = trace(await engine.events(r.runId));
    expect(t).toContain('StepScheduled 1');
    expect(t).toContain('StepCompleted 1');
    const reduced = definePipeline('empty-first', parallel('none', {}, { reduce: 'first' }));
    expect((await engine.run(reduced.plan, 0)).output).toBeNull();
  });

  it('a router with no branches completes when it chose none and fails when it chose one', async () => {
    const { engine } = harness();
    const none = definePipeline(
      'r0',
      router(
        'r',
        step('pick', (_x: number) => [] as string[]),
        {},
      ),
    );
    const r = await engine.run(none.plan, 1);
    expect(r.status).toBe('completed');
    expect(r.output).toEqual({});
    const some = definePipeline(
      'r1',
      router(
        'r',
        step('pick', (_x: number) => 'x'),
        {},
      ),
    );
    const f = await engine.run(some.plan, 1);
    expect(f.status).toBe('failed');
    expect(f.error?.code).toBe('UNKNOWN_ROUTE');
  });
});

describe("branch names that look like the compiler's own path segments", () => {
  it('a conditional branch named default runs its own code, not the default branch', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'cond-default',
      conditional(
        'c',
        (x: string) => x,
        { default: step('named', (x: string) => `named:${x}`) },
        {
          default: step('fallback', (x: string) => `dflt:${x}`),
        },
      ),
    );
    const named = await engine.run(p.plan, 'default');
    expect(named.output).toBe('named:default');
    expect(trace(await engine.events(named.runId))).toContain('StepCompleted %default');
    const other = await engine.run(p.plan, 'zzz');
    expect(other.output).toBe('dflt:zzz');
    expect(trace(await engine.events(other.runId))).toContain('StepCompleted default');
  });

  it("a router branch named router does not take the route step's place", async () => {
    const { engine } = harness();
    const p = definePipeline(
      'router-named-router',
      router(
        'r',
        step('pick', (x: string) => x.split(',')),
        {
          router: step('router_branch', (x: string) => `R:${x}`),
          b: step('b', (x: string) => `B:${x}`),
        },
      ),
    );
    expect((await engine.run(p.plan, 'b')).output).toEqual({ b: 'B:b' });
    const both = await engine.run(p.plan, 'router,b');
    expect(both.output).toEqual({ router: 'R:router,b', b: 'B:router,b' });
    const t = trace(await engine.events(both.runId));
    expect(t).toContain('StepCompleted router');
    expect(t).toContain('StepCompleted %router');
  });

  it('a name with / or @ is encoded, so it never names a path inside a sibling', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'slash',
      parallel('p', {
        a: sequence(
          step('a0', (x: number) => x + 1),
          step('a1', (x: number) => x * 10),
        ),
        'a/0': step('slash', (x: number) => -x),
        'a@1': step('at', (x: number) => x * 100),
      }),
    );
    const r = await engine.run(p.plan, 1);
    expect(r.output).toEqual({ a: 20, 'a/0': -1, 'a@1': 100 });
    const t = trace(await engine.events(r.runId));
    expect(t).toEqual(expect.arrayContaining(['StepCompleted a%2F0', 'StepCompleted a%401']));
  });

  it('a state named like a path inside another state runs its own code', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'sm-slash',
      stateMachine(
        'sm',
        {
          x: sequence(
            step('x0', (n: number) => n + 1),
            step('x1', (n: number) => n + 1),
          ),
          'x/0': step('other', (n: number) => n * 100),
        },
        {
          start: 'x',
          end: ['done'],
          transitions: [
            { from: 'x', on: 'success', to: 'x/0' },
            { from: 'x/0', on: 'success', to: 'done' },
          ],
        },
      ),
    );
    expect((await engine.run(p.plan, 1)).output).toBe(300);
  });
});

describe('branch names that look like integers', () => {
  const branches = {
    b: step('b', (_x: number) => 'B'),
    '2': step('two', (_x: number) => 'TWO'),
    '1': step('one', (_x: number) => 'ONE'),
  };

  it('are refused without an explicit order, since a JS object lists them first', () => {
    expect(() => definePipeline('o', parallel('p', branches))).toThrow(PlanBuildError);
    expect(() => definePipeline('o', parallel('p', branches))).toThrow(/p: .*\(1, 2\).*order/);
    expect(() => definePipeline('o', parallel('p', branches, { order: ['b', '2'] }))).toThrow(
      /missing \["1"\]/,
    );
  });

  it('run, reduce and merge in the given order, which the plan records', async () => {
    const { engine } = harness();
    const order = ['b', '2', '1'];
    const first = definePipeline('o', parallel('p', branches, { order, reduce: 'first' }));
    expect(first.plan.ir.root).toMatchObject({ branchOrder: order });
    const r = await engine.run(first.plan, 0);
    expect(r.output).toBe('B');
    const scheduled = trace(await engine.events(r.runId)).filter((x) =>
      x.startsWith('StepScheduled '),
    );
    expect(scheduled).toEqual([
      'StepScheduled .',
      'StepScheduled b',
      'StepScheduled 2',
      'StepScheduled 1',
    ]);
    const values = definePipeline('o', parallel('p', branches, { order, reduce: 'values' }));
    expect((await engine.run(values.plan, 0)).output).toEqual(['B', 'TWO', 'ONE']);
    const routed = definePipeline(
      'o',
      router(
        'r',
        step('pick', (_x: number) => ['1', 'b']),
        branches,
        { order, reduce: 'last' },
      ),
    );
    expect((await engine.run(routed.plan, 0)).output).toBe('ONE');
  });

  it('keep_first keeps the context write of the branch declared first', async () => {
    const { engine } = harness();
    const w = (v: string) => step(`w${v}`, (_x: number) => ({ k: v }), { updatesContext: true });
    const p = definePipeline(
      'o',
      sequence(
        parallel('p', { z: w('z'), '7': w('7') }, { order: ['z', '7'], merge: 'keep_first' }),
        step('read', (c: Record<string, unknown>) => c.k, { input: (_p, c) => c }),
      ),
    );
    expect((await engine.run(p.plan, 0)).output).toBe('z');
  });

  it("a plan whose order is the object's own records none", () => {
    const p = definePipeline('o', parallel('p', { a: branches.b, b: branches['1'] }));
    expect(p.plan.ir.root).not.toHaveProperty('branchOrder');
    const same = definePipeline('o', parallel('p', branches, { order: ['1', '2', 'b'] }));
    expect(same.plan.ir.root).not.toHaveProperty('branchOrder');
  });
});
