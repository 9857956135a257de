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
  type Flow,
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

/**
 * A model port whose calls wait until the test releases them by input, logging each start and
 * end: what overlaps is decided by the test, not by timers racing the engine's appends.
 */
function gatedAgents() {
  const seen = { inFlight: 0, maxInFlight: 0, calls: 0 };
  const log: string[] = [];
  const gates = new Map<string, () => void>();
  const waiting = new Map<string, () => void>();
  const port: AgentPort = {
    async call(req) {
      const key = String(req.input);
      seen.calls += 1;
      seen.inFlight += 1;
      seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
      log.push(`start:${key}`);
      const gate = new Promise<void>((r) => gates.set(key, r));
      waiting.get(key)?.();
      await gate;
      seen.inFlight -= 1;
      log.push(`end:${key}`);
      return {
        output: `done:${key}`,
        usage: { input: 1, output: 1 },
        costMicros: 0,
        model: req.agent,
      };
    },
  };
  /** Resolves once the call for `key` has started (at once if it has). */
  const started = (key: string) =>
    gates.has(key) ? Promise.resolve() : new Promise<void>((r) => waiting.set(key, r));
  /** Lets the engine do all it can with what it holds (no timers: the memory ledger settles in promises). */
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  const release = (key: string) => {
    const open = gates.get(key);
    if (!open) throw new Error(`no call for ${key} is waiting`);
    open();
  };
  return { port, seen, log, started, settle, release };
}

describe('map with a concurrency limit', () => {
  const pipeline = (concurrency: number) =>
    definePipeline('fan', map('each', agentStep<string>('work', 'm:work'), { concurrency }));

  it('runs at most `concurrency` items at once and keeps list order in the output', async () => {
    // Each call waits for the test: item 1 is held to the end, the others are let go in turn, so
    // completion order (2, 3, 4, 5, 1) differs from list order whatever the machine's load.
    const agents = gatedAgents();
    const { engine } = harness({ agents: agents.port });
    const running = engine.run(pipeline(2).plan, [1, 2, 3, 4, 5]);
    await agents.started('1');
    await agents.started('2');
    // With both slots held the engine has every chance to start a third item: it does not.
    await agents.settle();
    expect(agents.seen.calls).toBe(2);
    for (const [done, next] of [
      ['2', '3'],
      ['3', '4'],
      ['4', '5'],
    ] as const) {
      agents.release(done);
      // A slot freed by one item is taken by the next, and only then.
      await agents.started(next);
      await agents.settle();
      expect(agents.seen.inFlight).toBe(2);
    }
    agents.release('5');
    await agents.settle();
    expect(agents.seen.inFlight).toBe(1);
    agents.release('1');
    const r = await running;
    expect(r.status).toBe('completed');
    expect(r.output).toEqual(['done:1', 'done:2', 'done:3', 'done:4', 'done:5']);
    expect(agents.seen).toMatchObject({ calls: 5, maxInFlight: 2, inFlight: 0 });
    expect(agents.log).toEqual([
      'start:1',
      'start:2',
      'end:2',
      'start:3',
      'end:3',
      'start:4',
      'end:4',
      'start:5',
      'end:5',
      'end:1',
    ]);
    const t = trace(await engine.events(r.runId));
    const started = t.filter((x) => x.startsWith('LoopIterationStarted'));
    expect(started).toEqual([1, 2, 3, 4, 5].map((i) => `LoopIterationStarted . #${i}`));
    // The ledger records completions as they came: the map really overlapped the items.
    const done = t.filter((x) => x.startsWith('StepCompleted body@'));
    expect(done).toEqual([2, 3, 4, 5, 1].map((i) => `StepCompleted body@${i}`));
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
            agentStep('tick', 'm:work') as Flow<unknown, string>,
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
