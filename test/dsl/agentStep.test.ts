/**
 * agentStep's output type is what the run gives (ADR 90): the reply text without `output`, the
 * schema's type with it. The `expectTypeOf` and `@ts-expect-error` lines are checked by
 * `tsc -p tsconfig.json` (npm run typecheck), which compiles test/; the runs check the values.
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, sequence, step, type Flow } from '../../src/dsl/builder.js';
import { createFlujo } from '../../src/runtime/flujo.js';
import { agentsOn } from '../support/agentFixtures.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';

describe('agentStep types', () => {
  it('without output a model step gives a string; with output the schema type', () => {
    expectTypeOf(agentStep('a', 'openai:gpt-4o-mini')).toEqualTypeOf<Flow<unknown, string>>();
    expectTypeOf(agentStep('a', 'anthropic:claude-haiku-4-5', { retries: 1 })).toEqualTypeOf<
      Flow<unknown, string>
    >();
    const typed = agentStep('a', 'openai:gpt-4o-mini', {
      output: z.object({ label: z.enum(['spam', 'ham']), score: z.number() }),
    });
    expectTypeOf(typed).toEqualTypeOf<Flow<unknown, { label: 'spam' | 'ham'; score: number }>>();
    // The old spelling with the type beside its schema still compiles.
    expectTypeOf(
      agentStep<{ n: number }>('a', 'openai:m', { output: z.object({ n: z.number() }) }),
    ).toEqualTypeOf<Flow<unknown, { n: number }>>();
  });

  it('a skill, a port of your own or an id known only at run time gives unknown', () => {
    expectTypeOf(agentStep('g', 'skill:flujo.builtins.context_get')).toEqualTypeOf<
      Flow<unknown, unknown>
    >();
    expectTypeOf(agentStep('g', 'golden:extract')).toEqualTypeOf<Flow<unknown, unknown>>();
    const model: string = process.env.MODEL ?? 'openai:gpt-4o';
    expectTypeOf(agentStep('g', model)).toEqualTypeOf<Flow<unknown, unknown>>();
    // A raw JSON Schema in config makes the reply JSON: not a string, of no known type.
    expectTypeOf(
      agentStep('j', 'openai:m', { config: { outputSchema: { type: 'object' } } }),
    ).toEqualTypeOf<Flow<unknown, unknown>>();
  });

  it('refuses an output type the run would not give', () => {
    // @ts-expect-error without `output` the reply is text, not { n: number }
    agentStep<{ n: number }>('a', 'openai:m');
    // @ts-expect-error the schema gives a string, not a number
    agentStep<number>('a', 'openai:m', { output: z.string() });
    // A step after a model step without `output` takes a string.
    const next = step('len', (s: string) => s.length);
    expectTypeOf(agentStep('a', 'openai:m').then(next)).toEqualTypeOf<Flow<unknown, number>>();
    // @ts-expect-error a step expecting an object cannot follow the reply text
    agentStep('a', 'openai:m').then(step('n', (o: { n: number }) => o.n));
  });
});

describe('agentStep outputs at run time', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm();
  });
  afterAll(() => fake.close());

  it('a reply that looks like JSON is still text without output, and an object with it', async () => {
    const flujo = createFlujo({ ledger: createMemoryLedger(), agents: agentsOn(fake) });
    const untyped = definePipeline('untyped', agentStep('a', 'openai:gpt-4o-mini'));
    const typed = definePipeline(
      'typed',
      agentStep('a', 'openai:gpt-4o-mini', { output: z.object({ n: z.number() }) }),
    );
    fake.script({ text: '{"n":1}' }, { text: '{"n":1}' });

    const u = await flujo.run(untyped, 'x');
    expectTypeOf(u.output).toEqualTypeOf<string | undefined>();
    expect(u.status).toBe('completed');
    expect(u.output).toBe('{"n":1}');
    expect(typeof u.output).toBe('string');

    const t = await flujo.run(typed, 'x');
    expectTypeOf(t.output).toEqualTypeOf<{ n: number } | undefined>();
    expect(t.output).toEqual({ n: 1 });
  });

  it('the text flows into a typed step after it', async () => {
    const flujo = createFlujo({ ledger: createMemoryLedger(), agents: agentsOn(fake) });
    const p = definePipeline(
      'len',
      sequence(
        agentStep('a', 'anthropic:claude-haiku-4-5'),
        step('len', (s: string) => s.length),
      ),
    );
    fake.script({ text: 'four' });
    const r = await flujo.run(p, 'x');
    expectTypeOf(r.output).toEqualTypeOf<number | undefined>();
    expect(r.output).toBe(4);
  });
});
