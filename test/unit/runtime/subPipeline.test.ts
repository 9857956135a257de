import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { conditional, definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import { subPipeline } from '../../../src/dsl/subPipeline.js';
import { harness, trace } from '../../support/given.js';

const cleanup = definePipeline(
  'cleanup',
  sequence(
    step('trim', (s: string) => s.trim()),
    conditional('empty?', (s: string) => s.length === 0, {
      true: step('fill', () => '(empty)'),
      false: step('keep', (s: string) => s),
    }),
  ),
);

describe('a pipeline used as a step', () => {
  it('runs inline under its own path, with its functions, and hands on its output', async () => {
    const { engine } = harness();
    const outer = definePipeline(
      'outer',
      sequence(
        subPipeline('clean', cleanup),
        step('shout', (s: string) => s.toUpperCase()),
      ),
    );
    expect((await engine.run(outer.plan, '  hi  ')).output).toBe('HI');
    const r = await engine.run(outer.plan, '   ');
    expect(r.output).toBe('(EMPTY)');
    expect(trace(await engine.events(r.runId))).toEqual(
      expect.arrayContaining([
        'StepScheduled 0',
        'StepScheduled 0/0/0',
        'BranchSelected 0/0/1 true',
      ]),
    );
  });

  it('can be used twice in one pipeline, and pauses inside it resume normally', async () => {
    const { engine } = harness();
    const approve = definePipeline(
      'approve',
      hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
    );
    const outer = definePipeline(
      'outer',
      sequence(
        subPipeline('first', cleanup),
        subPipeline('second', cleanup),
        subPipeline('gate', approve),
      ),
    );
    const r = await engine.run(outer.plan, ' x ');
    expect(r).toMatchObject({ status: 'paused', pause: { path: '2/0' } });
    expect(await engine.resume(outer.plan, r.runId, { humanInput: { ok: true } })).toMatchObject({
      status: 'completed',
      output: { ok: true },
    });
  });
});
