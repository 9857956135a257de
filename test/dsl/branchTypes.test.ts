/**
 * The input type of branches (parallel, router): a branch of no argument takes anything, and
 * branches that all run on one value take what every one of them takes (ADR 90). The
 * `expectTypeOf` and `@ts-expect-error` lines are checked by `tsc -p tsconfig.json`; the runs
 * check that the values the types admit run.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import {
  conditional,
  definePipeline,
  parallel,
  router,
  sequence,
  step,
  type Flow,
} from '../../src/dsl/builder.js';
import { createFlujo } from '../../src/runtime/flujo.js';

const flujo = () => createFlujo({ ledger: createMemoryLedger() });

describe('branch input types', () => {
  it('a parallel of steps of no argument takes any input (was never)', async () => {
    const p = parallel('p', { a: step('a', () => 1), b: step('b', () => 'two') });
    expectTypeOf(p).toEqualTypeOf<Flow<unknown, { readonly a: number; readonly b: string }>>();
    expectTypeOf(parallel('none', {})).toEqualTypeOf<Flow<unknown, Record<never, never>>>();
    const pipeline = definePipeline('p', p);
    const r = await flujo().run(pipeline, 'any input');
    expectTypeOf(r.output).toEqualTypeOf<{ readonly a: number; readonly b: string } | undefined>();
    expect(r.output).toEqual({ a: 1, b: 'two' });
  });

  it('a branch of no argument beside a typed one takes the typed input', () => {
    const p = parallel('p', { a: step('a', (x: number) => x + 1), b: step('b', () => 0) });
    expectTypeOf(p).toEqualTypeOf<Flow<number, { readonly a: number; readonly b: number }>>();
  });

  it('branches on one value take what every one of them takes (was either)', async () => {
    const p = definePipeline(
      'both',
      parallel('p', {
        n: step('n', (x: { n: number }) => x.n * 2),
        s: step('s', (x: { s: string }) => x.s.toUpperCase()),
      }),
    );
    expectTypeOf(p.__in).toEqualTypeOf<((i: { n: number } & { s: string }) => void) | undefined>();
    const _either = () => {
      // @ts-expect-error branch s would read .s of { n: 1 }
      void flujo().run(p, { n: 1 });
    };
    const r = await flujo().run(p, { n: 2, s: 'x' });
    expect(r.output).toEqual({ n: 4, s: 'X' });
  });

  it('a parallel of no-argument steps is a branch of a typed conditional and a step of a sequence', async () => {
    const c = conditional('c', (x: number) => x > 0, {
      true: parallel('yes', { a: step('a', () => 'positive') }),
      false: parallel('no', { a: step('a', () => 'not positive') }),
    });
    expectTypeOf(c).toEqualTypeOf<Flow<number, { readonly a: string }>>();
    const p = definePipeline(
      's',
      sequence(
        step('parse', (s: string) => Number(s)),
        c,
      ),
    );
    expectTypeOf(p.__in).toEqualTypeOf<((i: string) => void) | undefined>();
    const r = await flujo().run(p, '-3');
    expect(r.output).toEqual({ a: 'not positive' });
  });

  it("a router's input is its route's and its branches'", async () => {
    const open = router(
      'r',
      step('pick', () => 'a'),
      { a: step('a', () => 1) },
    );
    expectTypeOf(open).toEqualTypeOf<Flow<unknown, Partial<{ readonly a: number }>>>();
    const typed = router(
      'r',
      step('pick', (n: number) => (n > 0 ? 'a' : 'b')),
      {
        a: step('a', () => 'a'),
        b: step('b', (n: number) => n),
      },
    );
    expectTypeOf(typed).toEqualTypeOf<
      Flow<number, Partial<{ readonly a: string; readonly b: number }>>
    >();
    expectTypeOf(
      router(
        'r',
        step('pick', (_n: number) => 'x'),
        {},
      ),
    ).toEqualTypeOf<Flow<number, Partial<Record<never, never>>>>();
    const r = await flujo().run(definePipeline('r', open), { anything: true });
    expect(r.output).toEqual({ a: 1 });
  });
});
