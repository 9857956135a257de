/**
 * The values a run holds are its own and read-only (ADR 40). A step function that changes its
 * input, or keeps and later changes what it returned, cannot steer the live run away from its
 * replay and its resume; plan code that writes to a held value fails the run; a reply that cannot
 * be recorded fails its step with the path of the bad value; callers keep their own objects.
 * Before, the first two diverged: the live run took a branch its replay did not.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { asRecorded, freezeDeep, ownCopy } from '../../../src/actors/frozen.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import {
  agentStep,
  conditional,
  definePipeline,
  hitl,
  sequence,
  step,
} from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';

const fresh = () => {
  const ledger = createMemoryLedger();
  return { ledger, engine: createEngine({ ledger, snapshotEvery: 1 }) };
};

type Cfg = { cfg: { n: number; list: number[] } };

/** Step `b` is handed a part of the run context and changes it; `pick` then reads the context. */
const mutatesInput = (mutate: (x: { n: number; list: number[] }) => void) =>
  definePipeline(
    'mutates-input',
    sequence(
      step('a', (): Cfg => ({ cfg: { n: 1, list: [1] } }), { updatesContext: true }),
      step(
        'b',
        (x: { n: number; list: number[] }) => {
          mutate(x);
          return x.list.length;
        },
        { input: (_prev, ctx) => (ctx as Cfg).cfg },
      ),
      hitl('ask', { message: 'go on?', schema: z.object({ go: z.boolean() }) }),
      conditional('pick', (_x: unknown, ctx) => ((ctx as Cfg).cfg.n === 1 ? 'one' : 'other'), {
        one: step('one', () => 'one'),
        other: step('other', () => 'other'),
      }),
    ),
  ).plan;

describe('values a run holds', () => {
  it('are copies to a step function: changing its input changes nothing the run decides on', async () => {
    const plan = mutatesInput((x) => {
      x.n = 99;
      x.list.push(2);
    });
    const { engine } = fresh();
    const paused = await engine.run(plan, 'go', { runId: 'r1' });
    expect(paused.status).toBe('paused');
    // The function saw its own copy, changed it, and returned what it made of it.
    expect(paused.steps.find((s) => s.name === 'b')?.output).toBe(2);
    const done = await engine.resume(plan, 'r1', { humanInput: { go: true } });
    expect(done).toMatchObject({ status: 'completed', output: 'one' });
    const replay = await engine.replay(plan, 'r1');
    expect(replay).toMatchObject({ identical: true, output: 'one' });
  });

  it('are copies of what a step returned: changing it afterwards changes nothing', async () => {
    const kept: { n: number }[] = [];
    const plan = definePipeline(
      'keeps-output',
      sequence(
        step('a', () => {
          const o = { n: 1 };
          kept.push(o);
          return o;
        }),
        step('b', (x: { n: number }) => {
          (kept[0] as { n: number }).n = 42; // the function's own object, not the run's
          return x.n;
        }),
      ),
    ).plan;
    const { engine } = fresh();
    const r = await engine.run(plan, null, { runId: 'r2' });
    expect(r).toMatchObject({ status: 'completed', output: 1 });
    expect(Object.isFrozen(kept[0])).toBe(false);
    expect((await engine.replay(plan, 'r2')).identical).toBe(true);
  });

  it('are read-only to plan code: a mapper writing into a held output fails the run', async () => {
    const plan = definePipeline(
      'mapper-writes',
      sequence(
        step('a', () => ({ deep: { n: 1 } })),
        step('b', (x: number) => x, {
          input: (prev) => {
            (prev as { deep: { n: number } }).deep.n = 2;
            return 1;
          },
        }),
      ),
    ).plan;
    const { engine } = fresh();
    const r = await engine.run(plan, null, { runId: 'r3' });
    expect(r.status).toBe('failed');
    expect(r.error).toMatchObject({
      code: 'PLAN_CODE_FAILED',
      message: expect.stringMatching(/b\.input: .*read only property 'n'/),
    });
    expect((await engine.replay(plan, 'r3')).identical).toBe(true);
  });

  it('hold what the ledger reads back: a bigint that fits is a number live and on replay', async () => {
    const plan = definePipeline(
      'bigint',
      sequence(
        step('a', () => ({ n: 7n })),
        conditional('kind', (x: { n: unknown }) => typeof x.n, {
          number: step('num', () => 'number'),
          bigint: step('big', () => 'bigint'),
        }),
      ),
    ).plan;
    const { engine } = fresh();
    const r = await engine.run(plan, null, { runId: 'r4' });
    expect(r).toMatchObject({ status: 'completed', output: 'number' });
    expect((await engine.replay(plan, 'r4')).identical).toBe(true);
  });

  it('must be recordable: a reply that is not fails its step, naming where, and the run goes on to its fallback', async () => {
    class Money {
      readonly cents: number;
      constructor(cents: number) {
        this.cents = cents;
      }
    }
    const plan = definePipeline(
      'not-recordable',
      sequence(
        step('price', () => ({ total: new Money(5) as unknown as number, at: 'now' }), {
          retries: 2,
          fallback: step('price-plain', () => ({ total: 5, at: 'now' })),
        }),
        step('show', (x: { total: number }) => `total ${x.total}`),
      ),
    ).plan;
    const { engine, ledger } = fresh();
    const r = await engine.run(plan, null, { runId: 'r5' });
    expect(r).toMatchObject({ status: 'completed', output: 'total 5' });
    const events = (await engine.events('r5')).filter((e) => e.type === 'AgentFailed');
    // Not retried: the same code would return the same value.
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toMatchObject({
      error: {
        code: 'OUTPUT_NOT_RECORDABLE',
        message: expect.stringContaining('output.total: Money is not plain data'),
        retryable: false,
      },
    });
    expect((await ledger.read('r5')).length).toBeGreaterThan(0);
    expect((await engine.replay(plan, 'r5')).identical).toBe(true);
  });

  it("leave the caller's objects alone: input, context, answer and output are not frozen or shared", async () => {
    const plan = definePipeline(
      'caller',
      sequence(
        step('slow', async (x: { items: string[] }) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return x;
        }),
        hitl('ask', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
        step('out', (_a: unknown) => ({ items: ['x'] }), {
          input: (_prev, ctx) => (ctx as { initial_prompt: unknown }).initial_prompt,
        }),
        step('echo', (x: { items: string[] }) => ({ items: x.items, n: x.items.length })),
      ),
    ).plan;
    const { engine } = fresh();
    const input = { items: ['a'] };
    const context = { tenant: { id: 't1' } };
    const running = engine.run(plan, input, { runId: 'r6', context });
    input.items.push('changed while running');
    const paused = await running;
    expect(paused.status).toBe('paused');
    expect(paused.steps.find((s) => s.name === 'slow')?.output).toEqual({ items: ['a'] });
    expect(Object.isFrozen(input) || Object.isFrozen(context.tenant)).toBe(false);
    const answer = { ok: true };
    const done = await engine.resume(plan, 'r6', { humanInput: answer });
    expect(Object.isFrozen(answer)).toBe(false);
    expect(done).toMatchObject({ status: 'completed', output: { items: ['x'], n: 1 } });
    // The caller's own copy of the output: changing it leaves the run's alone.
    (done.output as { items: string[] }).items.push('mine');
    expect((await engine.result('r6')).output).toEqual({ items: ['x'], n: 1 });
    expect((await engine.replay(plan, 'r6')).identical).toBe(true);
  });

  it('refuses a run input that cannot be recorded before anything is recorded', async () => {
    const plan = definePipeline(
      'in',
      step('a', (x: unknown) => x),
    ).plan;
    const { engine, ledger } = fresh();
    await expect(engine.run(plan, { when: new Date(0) }, { runId: 'r7' })).rejects.toMatchObject({
      code: 'LEDGER_ENCODE',
      message: expect.stringContaining('input.when: Date is not plain data'),
    });
    expect(await ledger.head('r7')).toBeNull();
  });
});

describe('values at the edges of a run', () => {
  it('keep what an unrecordable model reply cost: the call was made and is billed', async () => {
    const agents: AgentPort = {
      estimate: () => ({ costMicros: 1_000, tokens: 20 }),
      call: async () => ({
        output: { text: 'cut \uD83D' }, // a lone surrogate, as JSON.parse of "\ud83d" gives
        usage: { input: 10, output: 5 },
        costMicros: 700,
        model: 'm',
      }),
    };
    const plan = definePipeline('bill', agentStep('say', 'openai:m')).plan;
    const engine = createEngine({ ledger: createMemoryLedger(), agents });
    const r = await engine.run(plan, 'x', { runId: 'b1', budget: { costMicros: 1_000_000 } });
    expect(r).toMatchObject({
      status: 'failed',
      costMicros: 700,
      tokens: { input: 10, output: 5 },
      error: { code: 'OUTPUT_NOT_RECORDABLE' },
    });
    expect(r.error?.message).toMatch(/^the reply cannot be recorded: output\.text: /);
  });

  it('take a run started with no input as null', async () => {
    const plan = definePipeline(
      'none',
      step('a', (x: unknown) => (x === null ? 'null' : typeof x)),
    ).plan;
    const r = await createEngine({ ledger: createMemoryLedger() }).run(plan, undefined);
    expect(r).toMatchObject({ status: 'completed', output: 'null' });
  });

  it('name an array element as output[1], and record a failure whose message is ill-formed', async () => {
    const plan = definePipeline(
      'edges',
      sequence(
        step('list', () => [1, new Date(0)] as unknown as number[], {
          fallback: step('plain', () => [1, 2]),
        }),
        step('boom', () => {
          throw new Error('bad \uD800 text');
        }),
      ),
    ).plan;
    const engine = createEngine({ ledger: createMemoryLedger() });
    const r = await engine.run(plan, null, { runId: 'e1' });
    expect(r.status).toBe('failed');
    expect(r.error?.message).toBe('bad \uFFFD text');
    const failures = (await engine.events('e1')).filter((e) => e.type === 'AgentFailed');
    expect(failures[0]?.data).toMatchObject({
      error: { message: expect.stringContaining('output[1]: Date is not plain data') },
    });
    expect((await engine.replay(plan, 'e1')).identical).toBe(true);
  });

  it('hand a step function its input as recorded, whatever plan code made of it', async () => {
    const plan = definePipeline(
      'mapped',
      step('a', (x: { n: unknown; u?: unknown }) => `${typeof x.n} ${'u' in x}`, {
        input: () => ({ n: 5n, u: undefined }),
      }),
    ).plan;
    const r = await createEngine({ ledger: createMemoryLedger() }).run(plan, null);
    expect(r).toMatchObject({ status: 'completed', output: 'number false' });
  });
});

describe('freezeDeep, ownCopy and asRecorded', () => {
  it('freeze every level, end on cycles and leave bytes as they are', () => {
    const a: Record<string, unknown> = { list: [{ n: 1 }], bytes: new Uint8Array([1]) };
    a.self = a;
    freezeDeep(a);
    expect(Object.isFrozen(a) && Object.isFrozen(a.list)).toBe(true);
    expect(Object.isFrozen((a.list as object[])[0])).toBe(true);
    expect(Object.isFrozen(a.bytes)).toBe(false);
  });

  it('copy plain data without sharing, keep a __proto__ key a key, pass other objects through', () => {
    const src = JSON.parse('{"__proto__": {"polluted": true}, "list": [[1]], "b": null}') as Record<
      string,
      unknown
    >;
    const when = new Date(0);
    const copy: Record<string, unknown> = ownCopy({ ...src, when, bytes: new Uint8Array([7]) });
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(copy.list).toEqual([[1]]);
    expect(copy.list).not.toBe(src.list);
    expect(copy.when).toBe(when);
    expect(copy.bytes).toEqual(new Uint8Array([7]));
  });

  it('read values back as recorded, or name the path that cannot be', () => {
    expect(asRecorded({ a: undefined, n: 5n, s: 's' }, 'output')).toEqual({ n: 5, s: 's' });
    expect(() => asRecorded({ list: [1, () => 2] }, 'output')).toThrow(
      /cannot record value at output\.list\[1\]: function cannot be recorded/,
    );
  });
});
