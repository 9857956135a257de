import { describe, expect, it } from 'vitest';

import { definePipeline, parallel, sequence, step } from '../../../src/dsl/builder.js';
import type { MergeStrategy } from '../../../src/dsl/ir.js';
import { harness } from '../../support/given.js';

/** Two branches that write the context; then a step that reports what the context holds. */
const pipeline = (merge: MergeStrategy, bValue = 'from-b') =>
  definePipeline(
    `merge-${merge}`,
    sequence(
      step('seed', () => ({ shared: 'base', nested: { keep: 1 } }), { updatesContext: true }),
      parallel(
        'fan',
        {
          a: sequence(
            step('a-write', () => ({ shared: 'from-a', onlyA: true, nested: { a: 1 } }), {
              updatesContext: true,
            }),
            // A branch sees its own writes, never the other branch's.
            step('a-look', (_: unknown) => 0, {
              input: (_p, ctx) => ({ sawB: 'onlyB' in ctx, shared: ctx.shared }),
            }),
          ),
          b: step('b-write', () => ({ shared: bValue, onlyB: true, nested: { b: 2 } }), {
            updatesContext: true,
          }),
        },
        { merge },
      ),
      step('report', (_: unknown) => 0, { input: (_p, ctx) => ctx }),
    ),
  );

async function contextAfter(merge: MergeStrategy, bValue?: string) {
  const { engine } = harness();
  const r = await engine.run(pipeline(merge, bValue).plan, 'go');
  const events = await engine.events(r.runId);
  const input = (path: string) => {
    const e = events.find((x) => x.type === 'AgentCallRequested' && x.data.path === path);
    return e?.type === 'AgentCallRequested' ? e.data.input : undefined;
  };
  return {
    r,
    engine,
    report: input('2') as Record<string, unknown> | undefined,
    aLook: input('1/a/1'),
  };
}

describe('parallel branch contexts', () => {
  it('isolates branches from each other while they run', async () => {
    const { aLook } = await contextAfter('overwrite');
    expect(aLook).toEqual({ sawB: false, shared: 'from-a' });
  });

  it('overwrite: later branches win', async () => {
    const { report } = await contextAfter('overwrite');
    expect(report).toMatchObject({
      shared: 'from-b',
      onlyA: true,
      onlyB: true,
      nested: { keep: 1, b: 2 },
    });
  });

  it('keep_first: earlier branches win', async () => {
    const { report } = await contextAfter('keep_first');
    expect(report).toMatchObject({
      shared: 'from-a',
      onlyA: true,
      onlyB: true,
      nested: { keep: 1, a: 1 },
    });
  });

  it('no_merge: branch writes are discarded', async () => {
    const { report } = await contextAfter('no_merge');
    expect(report).toMatchObject({ shared: 'base', nested: { keep: 1 } });
    expect(report).not.toHaveProperty('onlyA');
  });

  it('context_update: deep-merges, and fails on different values for the same leaf', async () => {
    const agreed = await contextAfter('context_update', 'from-a');
    expect(agreed.report).toMatchObject({
      shared: 'from-a',
      onlyA: true,
      onlyB: true,
      nested: { keep: 1, a: 1, b: 2 },
    });
    const clash = await contextAfter('context_update');
    expect(clash.r).toMatchObject({
      status: 'failed',
      error: { code: 'MERGE_CONFLICT', message: expect.stringContaining('context.shared') },
    });
  });

  it('error_on_conflict: fails when two branches touched the same key at all', async () => {
    const { r } = await contextAfter('error_on_conflict', 'from-a');
    expect(r).toMatchObject({ status: 'failed', error: { code: 'MERGE_CONFLICT' } });
  });

  it('error_on_conflict: the failure names the key written twice, not "different values"', async () => {
    const { r, engine } = await contextAfter('error_on_conflict', 'from-a');
    const failed = (await engine.events(r.runId)).find(
      (e) => e.type === 'StepFailed' && e.data.path === '1',
    );
    expect(failed?.data).toMatchObject({ error: { message: r.error?.message } });
    expect(r.error?.message).toMatch(/more than one branch of .* wrote context\.(shared|nested) /);
    expect(r.error?.message).not.toMatch(/different values/);
  });
});
