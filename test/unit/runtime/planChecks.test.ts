/**
 * Fields that cannot mean what they say are refused when the plan is built, naming the step:
 * a loop's maxLoops under 1 or not a whole number, a sinkTo that names no context key.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { PlanCompileError, compilePlan } from '../../../src/actors/compile.js';
import { PlanBuildError } from '../../../src/dsl/checks.js';
import {
  agentStep,
  definePipeline,
  hitl,
  loop,
  map,
  router,
  sequence,
  stateMachine,
  step,
} from '../../../src/dsl/builder.js';
import type { Plan } from '../../../src/dsl/ir.js';
import { harness } from '../../support/given.js';

const inc = step('inc', (n: number) => n + 1);

describe('maxLoops', () => {
  it.each([0, -1, Number.NaN, 1.5, Number.POSITIVE_INFINITY])(
    'rejects %s when the loop is built, naming the loop',
    (maxLoops) => {
      expect(() => loop('spin', inc, { maxLoops })).toThrow(PlanBuildError);
      expect(() => loop('spin', inc, { maxLoops })).toThrow(
        /^spin: maxLoops must be a whole number of at least 1/,
      );
    },
  );

  it('runs exactly once with maxLoops 1', async () => {
    const { engine } = harness();
    const p = definePipeline('once', loop('spin', inc, { maxLoops: 1 }));
    const r = await engine.run(p.plan, 0);
    expect(r.output).toBe(1);
    const starts = (await engine.events(r.runId)).filter((e) => e.type === 'LoopIterationStarted');
    expect(starts).toHaveLength(1);
  });

  it('is refused by the compiler too, for a plan not made by a builder', () => {
    const p = definePipeline('ok', loop('spin', inc, { maxLoops: 2 })).plan;
    const bad: Plan = { ...p, ir: { ...p.ir, root: { ...p.ir.root, maxLoops: 0 } as never } };
    expect(() => compilePlan(bad)).toThrow(PlanCompileError);
    expect(() => compilePlan(bad)).toThrow(/spin: maxLoops must be a whole number/);
  });
});

describe('sinkTo', () => {
  it.each(['', 'context.', 'a..b', '.a', 'a.', '__proto__.z', 'a.__proto__'])(
    'rejects %j when the pipeline is defined, naming the step',
    (sinkTo) => {
      const flow = step('w', (_x: number) => 42, { sinkTo });
      expect(() => definePipeline('sink', flow)).toThrow(PlanBuildError);
      expect(() => definePipeline('sink', flow)).toThrow(/^w: sinkTo /);
    },
  );

  it('is refused by the compiler too, for a plan not made by a builder', () => {
    const p = definePipeline(
      'ok',
      step('w', (_x: number) => 42, { sinkTo: 'a' }),
    ).plan;
    const bad: Plan = { ...p, ir: { ...p.ir, root: { ...p.ir.root, sinkTo: 'a..b' } as never } };
    expect(() => compilePlan(bad)).toThrow(PlanCompileError);
    expect(() => compilePlan(bad)).toThrow(/^w: sinkTo /);
  });

  it('writes valid paths, constructor and a context. prefix included', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'sink',
      sequence(
        step('w1', (_x: number) => 1, { sinkTo: 'constructor' }),
        step('w2', (_x: number) => 2, { sinkTo: 'context.a.b' }),
        step('read', (c: Record<string, unknown>) => [c.constructor, c.a], {
          input: (_p, c) => c,
        }),
      ),
    );
    expect((await engine.run(p.plan, 0)).output).toEqual([1, { b: 2 }]);
  });
});

/**
 * Counts and milliseconds given to the builder (ADR 116): a whole number of at least 0 (retries,
 * backoffMs, timeoutMs, where a timeout of 0 is none) or 1 (a map's concurrency, a state
 * machine's maxVisits). Before: -1 retries ran none, 1.5 ran one more; a timeout of -5 ms failed
 * every attempt at once and NaN was no timeout; concurrency 0 or 1.5 ran one item at a time;
 * NaN and Infinity were refused by the ledger naming no step.
 */
describe('whole numbers', () => {
  const bad = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53];
  const build = {
    retries: (v: number) =>
      definePipeline(
        'p',
        step('s', () => 1, { retries: v }),
      ),
    backoffMs: (v: number) =>
      definePipeline(
        'p',
        step('s', () => 1, { retries: 1, backoffMs: v }),
      ),
    timeoutMs: (v: number) =>
      definePipeline(
        'p',
        step('s', () => 1, { timeoutMs: v }),
      ),
    concurrency: (v: number) =>
      definePipeline('p', map('s', inc, { items: () => [1], concurrency: v })),
    maxVisits: (v: number) =>
      definePipeline(
        'p',
        stateMachine('s', { a: inc }, { start: 'a', end: ['a'], transitions: [], maxVisits: v }),
      ),
  };
  for (const [field, make] of Object.entries(build)) {
    const min = field === 'concurrency' || field === 'maxVisits' ? 1 : 0;
    // A map runs at most 64 items at once (each slot is compiled into the machine).
    const max = field === 'concurrency' ? '64' : '2\\^53 - 1';
    const refused = [...(min === 1 ? [0] : []), ...bad, ...(field === 'concurrency' ? [65] : [])];
    it.each(refused)(`${field}: refuses %s, naming the step`, (v) => {
      expect(() => make(v)).toThrow(PlanBuildError);
      expect(() => make(v)).toThrow(
        new RegExp(`^s: ${field} must be a whole number from ${min} to ${max}, got `),
      );
    });
    it(`${field}: takes ${min} and a whole number above it`, () => {
      expect(() => make(min)).not.toThrow();
      expect(() => make(3)).not.toThrow();
    });
  }

  it('a map takes a concurrency of 64 (before: 65 was taken here and refused at run)', () => {
    expect(() =>
      compilePlan(definePipeline('p', map('s', inc, { items: () => [1], concurrency: 64 })).plan),
    ).not.toThrow();
  });

  it('an agent step is checked as a function step is', () => {
    expect(() => definePipeline('p', agentStep('ask', 'openai:gpt-4o', { retries: -1 }))).toThrow(
      /^ask: retries must be a whole number from 0 to 2\^53 - 1, got -1$/,
    );
  });
});

describe('shapes the builder cannot use are PlanBuildError, naming the step', () => {
  it('a fallback or a router that is not a single step (was a plain Error)', () => {
    expect(() =>
      definePipeline(
        'p',
        step('s', () => 1, { fallback: sequence(inc, inc) as never }),
      ),
    ).toThrow(new PlanBuildError('s: a fallback must be a single step'));
    expect(() =>
      definePipeline('p', router('r', sequence(step('a', () => 'x')), { x: inc })),
    ).toThrow(new PlanBuildError('r: the router must be a single step'));
  });

  it('a hitl answer or an agent output schema with no JSON Schema form (was a plain Error)', () => {
    expect(() => definePipeline('p', hitl('ask', { message: 'When?', schema: z.date() }))).toThrow(
      PlanBuildError,
    );
    expect(() => definePipeline('p', hitl('ask', { message: 'When?', schema: z.date() }))).toThrow(
      /^ask: the answer schema cannot be given to a person as JSON Schema \(/,
    );
    expect(() =>
      definePipeline(
        'p',
        agentStep('ask', 'openai:gpt-4o', { output: z.string().transform((s) => s.length) }),
      ),
    ).toThrow(/^ask: the output schema cannot be sent to a model as JSON Schema \(/);
  });
});
