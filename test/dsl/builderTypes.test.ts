/**
 * The types of `sequence`, `parallel` and `router` against docs/dsl.md: a sequence's part takes
 * the previous part's output (as `a.then(b)` must), a node with `input` takes anything, and a
 * parallel's or router's output type follows its `reduce` preset and `onBranchFailure`. The
 * `expectTypeOf` and `@ts-expect-error` lines are checked by `tsc -p tsconfig.json`; the runs
 * check that each reduce preset gives a value of the shape its type says.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import {
  agentStep,
  definePipeline,
  loop,
  map,
  parallel,
  router,
  sequence,
  step,
  type Flow,
  type ParallelOptions,
  type Pipeline,
} from '../../src/dsl/builder.js';
import { subPipeline } from '../../src/dsl/subPipeline.js';
import { createEngine } from '../../src/runtime/engine.js';

/** Runs a pipeline on a fresh memory ledger; the output typed as the pipeline's (as createFlujo). */
async function run<I, O>(pipeline: Pipeline<I, O>, input: I) {
  const r = await createEngine({ ledger: createMemoryLedger() }).run(pipeline.plan, input);
  expect(r.status, JSON.stringify(r.error)).toBe('completed');
  return r.output as O;
}

/** A step of the given output type that always fails (not retried). */
const fails = <O>(name: string) =>
  step(name, (): O => {
    throw Object.assign(new Error(`${name} fails`), { retryable: false });
  });

describe('sequence: each part takes the previous output', () => {
  it("refuses a part that does not take the previous part's output, as .then does", () => {
    const a = step('a', (x: { a: number }) => x.a);
    const b = step('b', (x: { zzz: string }) => x.zzz.length);
    // @ts-expect-error b takes { zzz: string }, a gives number
    void a.then(b);
    void sequence(
      a,
      // @ts-expect-error b takes { zzz: string }, a gives number (was Flow<{ a: number }, number>)
      b,
    );
    void sequence(
      step('p', (s: string) => s.length),
      step('q', (n: number) => `${n}`),
      step('r', () => true),
      // @ts-expect-error r gives boolean: a part of no argument passes anything on, but its own
      step('s', (n: number) => n),
    );
  });

  it('types a sequence that fits as its first input and its last output', async () => {
    const s = sequence(
      step('parse', (x: string) => Number(x)),
      step('double', (n: number) => n * 2),
      step('show', (n: number) => ({ n })),
    );
    expectTypeOf(s).toEqualTypeOf<Flow<string, { n: number }>>();
    expect(await run(definePipeline('s', s), '21')).toEqual({ n: 42 });
    // A part may take more than it is given (number into number | string), not less.
    expectTypeOf(
      sequence(
        step('n', (x: number) => x),
        step('u', (x: number | string) => String(x)),
      ),
    ).toEqualTypeOf<Flow<number, string>>();
    void sequence(
      step('u', (x: number | string) => x),
      // @ts-expect-error n takes number only, u gives number | string
      step('n', (x: number) => x),
    );
  });

  it('lets a part of no argument follow anything and take anything first', () => {
    expectTypeOf(
      sequence(
        step('a', () => 1),
        step('b', () => 'x'),
      ),
    ).toEqualTypeOf<Flow<unknown, string>>();
    expectTypeOf(
      sequence(
        step('a', (x: { a: number }) => x.a),
        step('b', () => 'x'),
        step('c', (s: string) => s.length),
      ),
    ).toEqualTypeOf<Flow<{ a: number }, number>>();
  });

  it('keeps zero and one part as they were; a spread array ends in any of its parts', () => {
    expectTypeOf(sequence()).toEqualTypeOf<Flow<never, never>>();
    expectTypeOf(sequence(step('a', () => 1))).toEqualTypeOf<Flow<unknown, number>>();
    expectTypeOf(sequence(step('a', (s: string) => s.length))).toEqualTypeOf<
      Flow<string, number>
    >();
    const parts = ['a', 'b'].map((n) => step(n, (x: number) => x + 1));
    // Was Flow<number, never>: an array has no known last part, so its output is any part's.
    expectTypeOf(sequence(...parts)).toEqualTypeOf<Flow<number, number>>();
  });

  it('lets a node whose input option computes its input follow anything', async () => {
    const read = step('read', (c: Record<string, unknown>) => Object.keys(c).length, {
      input: (_previous, context) => context,
    });
    expectTypeOf(read).toEqualTypeOf<Flow<unknown, number>>();
    const s = sequence(
      step('a', (x: number) => x + 1),
      read,
      map(
        'm',
        step('each', (x: number) => x * 2),
        { items: () => [1, 2] },
      ),
      loop(
        'l',
        step('inc', (x: number) => x + 1),
        { maxLoops: 2, input: () => 0 },
      ),
      parallel('p', { n: step('n', (x: number) => x) }, { input: () => 5 }),
    );
    expectTypeOf(s).toEqualTypeOf<Flow<number, { readonly n: number }>>();
    expect(await run(definePipeline('in', s), 1)).toEqual({ n: 5 });
    // Without `input` a node still takes only its input type.
    void sequence(
      step('a', (x: number) => `${x}`),
      // @ts-expect-error the map takes a list; a gives a string
      map(
        'm',
        step('each', (x: number) => x),
      ),
    );
    // `input` must give what the node takes.
    // @ts-expect-error the input option gives a string, the step takes a number
    void step('n', (x: number) => x, { input: () => 'x' });
  });
});

describe('parallel and router: the output type follows reduce and onBranchFailure', () => {
  const two = { a: step('a', () => 1), b: step('b', () => 'x') };

  it('without options, or with propagate, maps every branch name to its output (as before)', () => {
    type Both = { readonly a: number; readonly b: string };
    expectTypeOf(parallel('p', { a: step('a', () => 1), b: step('b', () => 'x') })).toEqualTypeOf<
      Flow<unknown, Both>
    >();
    expectTypeOf(
      parallel(
        'p',
        { a: step('a', () => 1), b: step('b', () => 'x') },
        { onBranchFailure: 'propagate', merge: 'overwrite' },
      ),
    ).toEqualTypeOf<Flow<unknown, Both>>();
    // A branch record declared apart is not made readonly by the call.
    expectTypeOf(parallel('p', two)).toEqualTypeOf<Flow<unknown, { a: number; b: string }>>();
  });

  it("with onBranchFailure: 'ignore' every branch is optional: a failed one is not there", async () => {
    const p = parallel(
      'p',
      { a: step('a', () => 1), b: fails<string>('b') },
      {
        onBranchFailure: 'ignore',
      },
    );
    expectTypeOf(p).toEqualTypeOf<
      Flow<unknown, Partial<{ readonly a: number; readonly b: string }>>
    >();
    const out = await run(definePipeline('ignore', p), null);
    expect(out).toEqual({ a: 1 });
    expect(Object.hasOwn(out as object, 'b')).toBe(false);
  });

  it('keys: the names of the branches that gave an output', async () => {
    const p = parallel(
      'p',
      { a: step('a', () => 1), 2: step('two', () => 'x') },
      {
        reduce: 'keys',
        order: ['a', '2'],
      },
    );
    expectTypeOf(p).toEqualTypeOf<Flow<unknown, ('a' | '2')[]>>();
    const out = await run(definePipeline('keys', p), null);
    expect(out).toEqual(['a', '2']);
    expect(out.every((k) => typeof k === 'string')).toBe(true);
  });

  it('values: the outputs in branch order, an array of their union', async () => {
    const p = parallel('p', two, { reduce: 'values' });
    expectTypeOf(p).toEqualTypeOf<Flow<unknown, (number | string)[]>>();
    expect(await run(definePipeline('values', p), null)).toEqual([1, 'x']);
  });

  it("concat: array outputs' items and other outputs, in one array", async () => {
    const p = parallel(
      'p',
      { a: step('a', () => [1, 2]), b: step('b', () => 'x'), c: step('c', () => [true]) },
      { reduce: 'concat' },
    );
    expectTypeOf(p).toEqualTypeOf<Flow<unknown, (number | string | boolean)[]>>();
    expect(await run(definePipeline('concat', p), null)).toEqual([1, 2, 'x', true]);
  });

  it("union: the record outputs merged, a later branch's key winning; other outputs left out", async () => {
    const p = parallel(
      'p',
      {
        a: step('a', () => ({ x: 1, y: 'a' })),
        b: step('b', () => ({ y: 2 })),
        c: step('c', () => 5),
        d: step('d', (): { z?: boolean } => ({})),
      },
      { reduce: 'union' },
    );
    expectTypeOf(p).toEqualTypeOf<
      Flow<unknown, { x: number; y: string | number; z?: boolean | undefined }>
    >();
    expect(await run(definePipeline('union', p), null)).toEqual({ x: 1, y: 2 });
    // Under ignore one branch at least is there (else the parallel fails): a key is sure when
    // every branch surely gives it.
    const ignored = parallel(
      'p',
      { a: step('a', () => ({ x: 1 })), b: fails<{ y: number }>('b') },
      {
        reduce: 'union',
        onBranchFailure: 'ignore',
      },
    );
    expectTypeOf(ignored).toEqualTypeOf<
      Flow<unknown, { x?: number | undefined; y?: number | undefined }>
    >();
    expect(await run(definePipeline('union-ignore', ignored), null)).toEqual({ x: 1 });
    const common = parallel(
      'p',
      { a: step('a', () => ({ x: 1, y: 'y' })), b: fails<{ x: number }>('b') },
      { reduce: 'union', onBranchFailure: 'ignore' },
    );
    expectTypeOf(common).toEqualTypeOf<Flow<unknown, { x: number; y?: string | undefined }>>();
    expect(await run(definePipeline('union-common', common), null)).toEqual({ x: 1, y: 'y' });
    // A router may choose none, so no key is sure.
    const routed = router(
      'r',
      step('pick', () => ['a', 'b']),
      {
        a: step('a', () => ({ x: 1 })),
        b: step('b', () => ({ x: 2 })),
      },
      { reduce: 'union' },
    );
    expectTypeOf(routed).toEqualTypeOf<Flow<unknown, { x?: number | undefined }>>();
    expect(await run(definePipeline('union-router', routed), null)).toEqual({ x: 2 });
    // An output of unknown type may be any record.
    expectTypeOf(
      parallel('p', { a: step('a', (): unknown => ({})) }, { reduce: 'union' }),
    ).toEqualTypeOf<Flow<unknown, Record<string, unknown>>>();
  });

  it('first: the first output; null when there is none', async () => {
    const p = parallel('p', two, { reduce: 'first' });
    expectTypeOf(p).toEqualTypeOf<Flow<unknown, number | string>>();
    expect(await run(definePipeline('first', p), null)).toBe(1);
    const none = parallel('p', {}, { reduce: 'first' });
    expectTypeOf(none).toEqualTypeOf<Flow<unknown, null>>();
    expect(await run(definePipeline('first-none', none), null)).toBeNull();
    // Under ignore the first output is the first branch that did not fail. It is never null:
    // when every branch fails, the parallel fails (ALL_BRANCHES_FAILED).
    const ignored = parallel(
      'p',
      { a: fails<string>('a'), b: step('b', () => 2) },
      {
        reduce: 'first',
        onBranchFailure: 'ignore',
      },
    );
    expectTypeOf(ignored).toEqualTypeOf<Flow<unknown, string | number>>();
    expect(await run(definePipeline('first-ignore', ignored), null)).toBe(2);
    const allFail = parallel(
      'p',
      { a: fails<number>('a') },
      {
        reduce: 'first',
        onBranchFailure: 'ignore',
      },
    );
    const r = await createEngine({ ledger: createMemoryLedger() }).run(
      definePipeline('first-all-fail', allFail).plan,
      null,
    );
    expect(r).toMatchObject({ status: 'failed', error: { code: 'ALL_BRANCHES_FAILED' } });
  });

  it('last: the last output; null when there is none', async () => {
    const p = parallel('p', two, { reduce: 'last' });
    expectTypeOf(p).toEqualTypeOf<Flow<unknown, number | string>>();
    expect(await run(definePipeline('last', p), null)).toBe('x');
    const none = parallel('p', {}, { reduce: 'last' });
    expectTypeOf(none).toEqualTypeOf<Flow<unknown, null>>();
    expect(await run(definePipeline('last-none', none), null)).toBeNull();
  });

  it('options typed only as ParallelOptions may give any of the shapes', () => {
    const wide: ParallelOptions<unknown> = {};
    const _p = parallel('p', { a: step('a', () => 1) }, wide);
    type Output = Exclude<typeof _p.__out, undefined>;
    // No preset, under propagate or ignore.
    expectTypeOf<{ readonly a: number }>().toExtend<Output>();
    expectTypeOf<Partial<{ readonly a: number }>>().toExtend<Output>();
    // keys, values or concat; first or last.
    expectTypeOf<'a'[]>().toExtend<Output>();
    expectTypeOf<number[]>().toExtend<Output>();
    expectTypeOf<number>().toExtend<Output>();
  });

  it('still refuses an unknown option or preset', () => {
    // @ts-expect-error no such option
    void parallel('p', two, { reduce: 'values', merj: 'overwrite' });
    // @ts-expect-error no such preset
    void parallel('p', two, { reduce: 'valuez' });
  });

  it("a router's output: optional fields, or the preset's, null when it chose none", async () => {
    const pick = step('pick', (n: number) => (n > 0 ? 'a' : []));
    const branches = { a: step('a', () => 1), b: step('b', () => 'x') };
    expectTypeOf(router('r', pick, branches)).toEqualTypeOf<
      Flow<number, Partial<{ a: number; b: string }>>
    >();
    const first = router('r', pick, branches, { reduce: 'first' });
    expectTypeOf(first).toEqualTypeOf<Flow<number, number | string | null>>();
    expect(await run(definePipeline('r-first', first), 1)).toBe(1);
    expect(await run(definePipeline('r-first', first), 0)).toBeNull();
    const values = router('r', pick, branches, { reduce: 'values' });
    expectTypeOf(values).toEqualTypeOf<Flow<number, (number | string)[]>>();
    expect(await run(definePipeline('r-values', values), 0)).toEqual([]);
    const keys = router('r', pick, branches, { reduce: 'keys' });
    expectTypeOf(keys).toEqualTypeOf<Flow<number, ('a' | 'b')[]>>();
    expect(await run(definePipeline('r-keys', keys), 1)).toEqual(['a']);
  });
});

describe('agentStep with input takes anything, as step does', () => {
  it("is typed by its reply, not by what its input function returns (docs/dsl.md's userName)", () => {
    const withInput = agentStep('get', 'skill:flujo.builtins.context_get', {
      input: (previous, context) => ({ input: previous, context }),
    });
    // Before: Flow<{ input: unknown; context: unknown }, unknown>, so a pipeline of it could not
    // be run on a string, and a sequence could not put it after a step.
    expectTypeOf(withInput).toEqualTypeOf<Flow<unknown, unknown>>();
    expectTypeOf(
      sequence(
        step('a', (s: string) => s.length),
        withInput,
      ),
    ).toEqualTypeOf<Flow<string, unknown>>();
    expectTypeOf(agentStep('m', 'openai:gpt-4o-mini')).toEqualTypeOf<Flow<unknown, string>>();
  });

  it('so does a subPipeline with input (review)', () => {
    const inner = definePipeline(
      'inner',
      step('len', (s: string) => s.length),
    );
    expectTypeOf(subPipeline('sub', inner)).toEqualTypeOf<Flow<string, number>>();
    expectTypeOf(subPipeline('sub', inner, { input: () => 'fixed' })).toEqualTypeOf<
      Flow<unknown, number>
    >();
  });
});
