import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  agentStep,
  definePipeline,
  hitl,
  map,
  router,
  sequence,
  step,
  type Flow,
} from '../../../src/dsl/builder.js';
import { harness, scriptedAgents, trace } from '../../support/given.js';

describe('map', () => {
  it('runs the body once per item, in order, and returns the list of outputs', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'm',
      map(
        'square',
        step('sq', (n: number) => n * n),
      ),
    );
    const r = await engine.run(p.plan, [1, 2, 3]);
    expect(r.output).toEqual([1, 4, 9]);
    const t = trace(await engine.events(r.runId));
    expect(t.filter((x) => x.startsWith('StepCompleted body@'))).toEqual([
      'StepCompleted body@1',
      'StepCompleted body@2',
      'StepCompleted body@3',
    ]);
  });

  it('takes items from the context and finalizes the list', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'm',
      sequence(
        step('seed', () => ({ urls: ['a', 'bb', 'ccc'] }), { updatesContext: true }),
        map(
          'lengths',
          step('len', (u: string) => u.length),
          {
            items: (_i: unknown, ctx) => ctx.urls as string[],
            finalize: (xs) => xs.reduce((a, b) => a + b, 0),
          },
        ),
      ),
    );
    expect((await engine.run(p.plan, null)).output).toBe(6);
  });

  it('returns an empty list for no items and fails on a non-list', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'm',
      map(
        'id',
        step('id', (x: number) => x),
      ),
    );
    expect((await engine.run(p.plan, [])).output).toEqual([]);
    expect(await engine.run(p.plan, 'nope' as never)).toMatchObject({
      status: 'failed',
      error: { code: 'MAP_NOT_A_LIST' },
    });
  });

  it('pauses once per item when its body asks a person', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'm',
      map('review', hitl('check', { message: 'ok?', schema: z.object({ ok: z.boolean() }) })),
    );
    let r = await engine.run(p.plan, ['x', 'y']);
    expect(r).toMatchObject({ status: 'paused', pause: { path: 'body@1' } });
    r = await engine.resume(p.plan, r.runId, { humanInput: { ok: true } });
    expect(r).toMatchObject({ status: 'paused', pause: { path: 'body@2' } });
    r = await engine.resume(p.plan, r.runId, { humanInput: { ok: false } });
    expect(r).toMatchObject({ status: 'completed', output: [{ ok: true }, { ok: false }] });
  });
});

describe('dynamic router', () => {
  const p = definePipeline(
    'r',
    router('triage', agentStep('pick', 'm:router') as Flow<unknown, string[]>, {
      billing: step('billing', (q: string) => `billing: ${q}`),
      tech: step('tech', (q: string) => `tech: ${q}`),
      legal: step('legal', (q: string) => `legal: ${q}`),
    }),
  );

  it('runs only the branches the router names, recording each choice', async () => {
    const { port } = scriptedAgents({ 'm:router': () => ['tech', 'billing'] });
    const { engine } = harness({ agents: port });
    const r = await engine.run(p.plan, 'refund for a crash');
    expect(r.output).toEqual({
      billing: 'billing: refund for a crash',
      tech: 'tech: refund for a crash',
    });
    const t = trace(await engine.events(r.runId));
    expect(t.filter((x) => x.startsWith('BranchSelected'))).toEqual([
      'BranchSelected . billing',
      'BranchSelected . tech',
    ]);
    expect(t).not.toContain('StepScheduled legal');
  });

  it('fails naming the valid branches when the router invents one', async () => {
    const { port } = scriptedAgents({ 'm:router': () => 'astrology' });
    const { engine } = harness({ agents: port });
    const r = await engine.run(p.plan, 'q');
    expect(r).toMatchObject({
      status: 'failed',
      error: {
        code: 'UNKNOWN_ROUTE',
        message: expect.stringContaining('["billing","tech","legal"]'),
      },
    });
  });

  it('replays identically without calling the router again', async () => {
    const live = scriptedAgents({ 'm:router': () => ['legal'] });
    const { engine, ledger } = harness({ agents: live.port });
    const r = await engine.run(p.plan, 'q');
    const offline = scriptedAgents({});
    expect(
      await harness({ ledger, agents: offline.port }).engine.replay(p.plan, r.runId),
    ).toMatchObject({ identical: true, output: { legal: 'legal: q' } });
    expect(offline.calls).toHaveLength(0);
  });
});
