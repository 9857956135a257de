import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  agentStep,
  definePipeline,
  hitl,
  loop,
  map,
  sequence,
  step,
} from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { harness, trace } from '../../support/given.js';

/** A model port whose replies take `delay(input)` ms, tracking how many calls overlap. */
function slowAgents(delay: (input: unknown) => number, fail?: (input: unknown) => boolean) {
  const seen = { inFlight: 0, maxInFlight: 0, calls: 0 };
  const port: AgentPort = {
    async call(req) {
      seen.calls += 1;
      seen.inFlight += 1;
      seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
      try {
        await new Promise((r) => setTimeout(r, delay(req.input)));
        if (fail?.(req.input))
          throw Object.assign(new Error(`bad item ${String(req.input)}`), { retryable: false });
        return {
          output: `done:${String(req.input)}`,
          usage: { input: 1, output: 1 },
          costMicros: 0,
          model: req.agent,
        };
      } finally {
        seen.inFlight -= 1;
      }
    },
  };
  return { port, seen };
}

describe('map with a concurrency limit', () => {
  const pipeline = (concurrency: number) =>
    definePipeline('fan', map('each', agentStep<string>('work', 'm:work'), { concurrency }));

  it('runs at most `concurrency` items at once and keeps list order in the output', async () => {
    // Later items finish first, so completion order differs from list order.
    const { port, seen } = slowAgents((i) => 60 - 10 * Number(i));
    const { engine } = harness({ agents: port });
    const r = await engine.run(pipeline(2).plan, [1, 2, 3, 4, 5]);
    expect(r.status).toBe('completed');
    expect(r.output).toEqual(['done:1', 'done:2', 'done:3', 'done:4', 'done:5']);
    expect(seen).toMatchObject({ calls: 5, maxInFlight: 2, inFlight: 0 });
    const t = trace(await engine.events(r.runId));
    const started = t.filter((x) => x.startsWith('LoopIterationStarted'));
    expect(started).toEqual([1, 2, 3, 4, 5].map((i) => `LoopIterationStarted . #${i}`));
    // Item 2 (shorter) completes before item 1: the map really overlapped them.
    const done = t.filter((x) => x.startsWith('StepCompleted body@'));
    expect(done.indexOf('StepCompleted body@2')).toBeLessThan(done.indexOf('StepCompleted body@1'));
  });

  it('replays its ledger identically, whatever order the items finished in', async () => {
    const { port } = slowAgents((i) => (Number(i) % 3) * 7);
    const { engine } = harness({ agents: port });
    const r = await engine.run(pipeline(3).plan, [1, 2, 3, 4, 5, 6, 7]);
    expect(r.status).toBe('completed');
    const replay = await engine.replay(pipeline(3).plan, r.runId);
    expect(replay).toMatchObject({ identical: true, output: r.output });
  });

  it('handles more slots than items and an empty list', async () => {
    const { port, seen } = slowAgents(() => 1);
    const { engine } = harness({ agents: port });
    expect((await engine.run(pipeline(8).plan, ['a', 'b'])).output).toEqual(['done:a', 'done:b']);
    expect((await engine.run(pipeline(8).plan, [])).output).toEqual([]);
    expect(seen.calls).toBe(2);
  });

  it('fails the map when an item fails, naming that item', async () => {
    const { port } = slowAgents(
      () => 5,
      (i) => i === 'c',
    );
    const { engine } = harness({ agents: port });
    const r = await engine.run(pipeline(2).plan, ['a', 'b', 'c', 'd']);
    expect(r).toMatchObject({ status: 'failed' });
    const t = trace(await engine.events(r.runId));
    expect(t).toContain('StepFailed body@3');
    expect(t).not.toContain('StepCompleted .');
  });

  it('keeps nested loops of concurrent items apart', async () => {
    const p = definePipeline(
      'nested',
      map(
        'each',
        loop(
          'count',
          sequence(
            agentStep<string>('tick', 'm:work'),
            step('grow', (s: string) => s.length),
          ),
          { maxLoops: 3, iterationInput: (prev: unknown) => `again:${String(prev)}` },
        ),
        { concurrency: 3 },
      ),
    );
    const { port } = slowAgents((i) => String(i).length % 5);
    const { engine } = harness({ agents: port });
    const r = await engine.run(p.plan, ['x', 'yy', 'zzz']);
    expect(r.status).toBe('completed');
    // Each item loops three times on its own input chain.
    const len = (s: string) => `done:${s}`.length;
    const chain = (s: string) => len(`again:${len(`again:${len(s)}`)}`);
    expect(r.output).toEqual([chain('x'), chain('yy'), chain('zzz')]);
    expect((await engine.replay(p.plan, r.runId)).identical).toBe(true);
  });

  it('pauses for each item that asks a person, and resumes them one by one', async () => {
    const p = definePipeline(
      'ask',
      map('review', hitl('check', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }), {
        concurrency: 2,
      }),
    );
    const { engine } = harness();
    let r = await engine.run(p.plan, ['x', 'y', 'z']);
    expect(r).toMatchObject({ status: 'paused', pause: { path: 'body@1' } });
    r = await engine.resume(p.plan, r.runId, { humanInput: { ok: true } });
    expect(r).toMatchObject({ status: 'paused', pause: { path: 'body@2' } });
    r = await engine.resume(p.plan, r.runId, { humanInput: { ok: false } });
    expect(r).toMatchObject({ status: 'paused', pause: { path: 'body@3' } });
    r = await engine.resume(p.plan, r.runId, { humanInput: { ok: true } });
    expect(r).toMatchObject({
      status: 'completed',
      output: [{ ok: true }, { ok: false }, { ok: true }],
    });
  });
});
