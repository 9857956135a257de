import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';

import {
  conditional,
  definePipeline,
  hitl,
  loop,
  parallel,
  sequence,
  step,
} from '../../../src/dsl/builder.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { createFlujo } from '../../../src/runtime/flujo.js';
import { harness, trace } from '../../support/given.js';

describe('sequence of function steps', () => {
  it('records each step as scheduled, called, answered and completed, and returns the typed output', async () => {
    const { engine } = harness();
    const p = definePipeline(
      's',
      sequence(
        step('double', (x: number) => x * 2),
        step('show', (x: number) => `v=${x}`),
      ),
    );
    const flujo = createFlujo({ ledger: createMemoryLedger() });
    const typed = await flujo.run(p, 21);
    expectTypeOf(typed.output).toEqualTypeOf<string | undefined>();
    // The input is typed too: a string is refused at compile time (never executed).
    const _wrongInput = () => {
      // @ts-expect-error the pipeline takes a number
      void flujo.run(p, 'not a number');
    };
    expect(typed.output).toBe('v=42');
    const r = await engine.run(p.plan, 21);
    expect(r).toMatchObject({ status: 'completed', output: 'v=42', costMicros: 0 });
    expect(trace(await engine.events(r.runId))).toEqual([
      'RunStarted',
      'RunClaimed',
      'StepScheduled .',
      'StepScheduled 0',
      'AgentCallRequested 0',
      'AgentResponded 0',
      'StepCompleted 0',
      'StepScheduled 1',
      'AgentCallRequested 1',
      'AgentResponded 1',
      'StepCompleted 1',
      'StepCompleted .',
      'RunCompleted',
    ]);
  });

  it('chains with .then and maps a node input from the context', async () => {
    const { engine } = harness();
    const flow = step('len', (s: string) => s.length).then(
      step('plus', (n: number) => n + 100, {
        input: (_prev, ctx) => String(ctx.initial_prompt).length * 2,
      }),
    );
    const r = await engine.run(definePipeline('t', flow).plan, 'abcd');
    expect(r.output).toBe(108);
  });
});

describe('parallel', () => {
  const p = (onBranchFailure: 'propagate' | 'ignore', reduce?: 'values' | 'keys' | 'concat') =>
    definePipeline(
      'p',
      parallel(
        'fan',
        {
          a: step('a', (x: number) => [x + 1]),
          b: step('b', (x: number) => {
            if (x < 0) throw Object.assign(new Error('negative'), { retryable: false });
            return [x + 2];
          }),
        },
        { onBranchFailure, ...(reduce ? { reduce } : {}) },
      ),
    );

  it('maps branch names to outputs by default, and reduces with a preset', async () => {
    const { engine } = harness();
    expect((await engine.run(p('propagate').plan, 1)).output).toEqual({ a: [2], b: [3] });
    expect((await engine.run(p('propagate', 'concat').plan, 1)).output).toEqual([2, 3]);
    expect((await engine.run(p('propagate', 'keys').plan, 1)).output).toEqual(['a', 'b']);
  });

  it('fails the run when a branch fails under propagate, naming the error', async () => {
    const { engine } = harness();
    const r = await engine.run(p('propagate').plan, -5);
    expect(r).toMatchObject({
      status: 'failed',
      error: { code: 'STEP_ERROR', message: 'negative' },
    });
    expect(trace(await engine.events(r.runId))).toContain('StepFailed .');
  });

  it('keeps the branches that succeeded under ignore', async () => {
    const { engine } = harness();
    const r = await engine.run(p('ignore', 'values').plan, -5);
    expect(r).toMatchObject({ status: 'completed', output: [[-4]] });
  });
});

describe('conditional', () => {
  const p = definePipeline(
    'c',
    conditional(
      'route',
      (x: number) => (x > 10 ? 'big' : x > 0),
      {
        big: step('big', (x: number) => `big ${x}`),
        true: step('pos', (x: number) => `pos ${x}`),
      },
      { default: step('other', () => 'other') },
    ),
  );

  it('records the branch it took and runs it', async () => {
    const { engine } = harness();
    const r = await engine.run(p.plan, 50);
    expect(r.output).toBe('big 50');
    expect(trace(await engine.events(r.runId))).toContain('BranchSelected . big');
    expect((await engine.run(p.plan, 3)).output).toBe('pos 3');
  });

  it('takes the default branch when no key matches', async () => {
    const { engine } = harness();
    const r = await engine.run(p.plan, -1);
    expect(r.output).toBe('other');
    expect(trace(await engine.events(r.runId))).toContain('BranchSelected . default');
  });

  it('fails with NO_BRANCH when nothing matches and there is no default', async () => {
    const { engine } = harness();
    const q = definePipeline(
      'c2',
      conditional('route', () => 'zzz', { a: step('a', () => 1) }),
    );
    expect(await engine.run(q.plan, 0)).toMatchObject({
      status: 'failed',
      error: { code: 'NO_BRANCH' },
    });
  });
});

describe('loop', () => {
  it('repeats until the exit condition holds, feeding each iteration the last output', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'l',
      loop(
        'grow',
        step('add', (s: string) => s + 'a'),
        { maxLoops: 10, exit: (s) => s.length >= 3 },
      ),
    );
    const r = await engine.run(p.plan, '');
    expect(r.output).toBe('aaa');
    const t = trace(await engine.events(r.runId));
    expect(t.filter((x) => x.startsWith('LoopIterationStarted'))).toEqual([
      'LoopIterationStarted . #1',
      'LoopIterationStarted . #2',
      'LoopIterationStarted . #3',
    ]);
    expect(t).toContain('StepCompleted body@3');
  });

  it('fails when max_loops is reached without the exit condition', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'l',
      loop(
        'never',
        step('id', (x: number) => x),
        { maxLoops: 2, exit: () => false },
      ),
    );
    expect(await engine.run(p.plan, 1)).toMatchObject({
      status: 'failed',
      error: { code: 'MAX_LOOPS' },
    });
  });

  it('runs exactly max_loops times without an exit condition, with mapped input and output', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'l',
      loop(
        'count',
        step('inc', (x: number) => x + 1),
        { maxLoops: 4, iterationInput: (out, _c, i) => out * 10 + i, output: (out) => `n=${out}` },
      ),
    );
    // 0 -> 1; (1*10+2) -> 13; (13*10+3) -> 134; (134*10+4) -> 1345
    expect((await engine.run(p.plan, 0)).output).toBe('n=1345');
  });
});

describe('context', () => {
  it('deep-merges updates_context outputs and writes sink_to paths', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'ctx',
      sequence(
        step('a', () => ({ user: { name: 'ada' } }), { updatesContext: true }),
        step('b', () => ({ user: { role: 'admin' } }), { updatesContext: true }),
        step('c', () => 7, { sinkTo: 'stats.count' }),
        step('read', (_: unknown) => 0, { input: (_p, ctx) => ctx }),
      ),
    );
    const r = await engine.run(p.plan, 'go');
    const read = r.steps.find((s) => s.name === 'read');
    expect(read?.status).toBe('completed');
    const events = await engine.events(r.runId);
    const call = events.find((e) => e.type === 'AgentCallRequested' && e.data.path === '3');
    expect(call?.data).toMatchObject({
      input: { initial_prompt: 'go', user: { name: 'ada', role: 'admin' }, stats: { count: 7 } },
    });
  });
});

describe('hitl', () => {
  const schema = z.object({ approved: z.boolean(), note: z.string().optional() });

  it('pauses with the message and schema, holding nothing in memory, and continues on a valid answer', async () => {
    const { engine, ledger } = harness();
    const p = definePipeline(
      'h',
      sequence(
        step('draft', (s: string) => `draft of ${s}`),
        hitl('review', { message: 'Approve?', schema }),
        step('after', (a: { approved: boolean }) => a.approved),
      ),
    );
    const r = await engine.run(p.plan, 'x');
    expect(r).toMatchObject({
      status: 'paused',
      pause: { step: 'review', message: 'Approve?', inputSchema: { required: ['approved'] } },
    });
    // A different engine instance (a restarted process) resumes it.
    const later = harness({ ledger }).engine;
    const done = await later.resume(p.plan, r.runId, {
      humanInput: { approved: true },
      answeredBy: 'sam',
    });
    expect(done).toMatchObject({ status: 'completed', output: true });
    const received = (await later.events(r.runId)).find((e) => e.type === 'HumanInputReceived');
    expect(received?.data).toEqual({ path: '1', input: { approved: true }, by: 'sam' });
  });

  it('rejects an invalid answer with the reasons, records nothing, and stays paused', async () => {
    const { engine, ledger } = harness();
    const p = definePipeline('h', hitl('review', { message: 'Approve?', schema }));
    const r = await engine.run(p.plan, null);
    const before = (await ledger.head(r.runId))?.seq;
    await expect(
      engine.resume(p.plan, r.runId, { humanInput: { approved: 'yes' } }),
    ).rejects.toThrow(/HUMAN_INPUT_REJECTED.*\/approved must be boolean/);
    expect((await ledger.head(r.runId))?.seq).toBe(before);
    expect((await engine.result(r.runId)).status).toBe('paused');
    await expect(engine.resume(p.plan, r.runId)).rejects.toThrow(/paused for human input/);
  });

  it('pauses inside a conditional inside a loop, once per iteration', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'nested',
      loop(
        'rounds',
        conditional('ask?', (n: number) => n % 2 === 0, {
          true: hitl('confirm', { message: 'go on?', schema: z.object({ n: z.number() }) }),
          false: step('skip', (n: number) => ({ n: n + 1 })),
        }).then(step('next', (a: { n: number }) => a.n + 1)),
        { maxLoops: 3 },
      ),
    );
    let r = await engine.run(p.plan, 0);
    expect(r.status).toBe('paused');
    r = await engine.resume(p.plan, r.runId, { humanInput: { n: 10 } }); // iteration 1: 0 even -> ask -> 11
    expect(r.status).toBe('completed'); // iteration 2: 11 odd -> 13; iteration 3: 13 odd -> 15
    expect(r.output).toBe(15);
  });
});

describe('the root node', () => {
  it('applies its own input mapper to the run input', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'root-input',
      step('read', (s: string) => s.toUpperCase(), {
        input: (i: unknown, ctx) => `${String(i)}/${String(ctx.user)}`,
      }),
    );
    const r = await engine.run(p.plan, 'go', { context: { user: 'ada' } });
    expect(r.output).toBe('GO/ADA');
  });
});
