import { describe, expect, it } from 'vitest';

import { compilePlan } from '../../../src/actors/compile.js';
import { refold } from '../../../src/actors/fold.js';
import {
  agentStep,
  loop,
  definePipeline,
  map,
  parallel,
  stateMachine,
  step,
} from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { harness, trace } from '../../support/given.js';

/** `m:slow` waits until aborted (or 5 s); `m:bad` fails at once and is not retryable. */
function portWithAborts() {
  const aborted: string[] = [];
  const port: AgentPort = {
    async call(req, signal) {
      if (req.agent === 'm:bad')
        throw Object.assign(new Error('bad branch'), { code: 'BAD', retryable: false });
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, 5000);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          aborted.push(req.key);
          reject(Object.assign(new Error('aborted'), { code: 'ABORTED' }));
        });
      });
      return { output: 'slow', usage: { input: 1, output: 1 }, costMicros: 0, model: req.agent };
    },
  };
  return { port, aborted };
}

describe('abandoned work', () => {
  const p = definePipeline(
    'abandon',
    parallel('both', {
      slow: agentStep<string>('slow', 'm:slow'),
      bad: agentStep<string>('bad', 'm:bad'),
    }),
  );

  it('aborts the in-flight call of a branch that a failing sibling abandons, while the run goes on', async () => {
    const { port, aborted } = portWithAborts();
    const { engine } = harness({ agents: port });
    // The failed parallel is recovered by the state machine, so the run outlives the branch:
    // the slow call must be aborted then, not only when the run ends.
    const recovering = definePipeline(
      'recover',
      stateMachine(
        'sm',
        {
          fan: parallel('both', {
            slow: agentStep<string>('slow', 'm:slow'),
            bad: agentStep<string>('bad', 'm:bad'),
          }),
          after: step('after', async () => {
            await new Promise((r) => setTimeout(r, 200));
            return 'recovered';
          }),
        },
        { start: 'fan', end: ['after'], transitions: [{ from: '*', on: 'failure', to: 'after' }] },
      ),
    );
    const started = Date.now();
    const r = await engine.run(recovering.plan, 'x');
    expect(r).toMatchObject({ status: 'completed', output: 'recovered' });
    expect(Date.now() - started).toBeLessThan(2000); // did not wait for the slow branch
    expect(aborted).toHaveLength(1);
    const t = trace(await engine.events(r.runId));
    // The abort was recorded as the slow call's failure before the recovery step finished.
    const abortedAt = t.findIndex((x) => x.startsWith('AgentFailed') && x.includes('slow'));
    expect(abortedAt).toBeGreaterThan(-1);
    expect(abortedAt).toBeLessThan(
      t.findIndex((x) => x.startsWith('StepCompleted') && x.includes('after')),
    );
    expect((await engine.replay(recovering.plan, r.runId)).identical).toBe(true);
  });

  it('no longer counts an abandoned call as outstanding, so resume will not re-issue it', async () => {
    const { port } = portWithAborts();
    const { engine } = harness({ agents: port });
    const r = await engine.run(p.plan, 'x');
    const events = await engine.events(r.runId);
    // Refold up to the fact that failed the sibling: the slow call was asked for, never answered.
    const cut = events.findIndex((e) => e.type === 'AgentFailed' && e.data.path === 'bad');
    const upTo = events.slice(0, cut + 1);
    const t = trace(upTo);
    expect(t).toContain('AgentCallRequested slow');
    expect(t).not.toContain('AgentResponded slow');
    const state = refold(
      compilePlan(p.plan),
      events.slice(0, events.findIndex((e) => e.type === 'RunFailed') + 1),
    );
    expect([...state.outstanding.calls.keys()]).toEqual([]);
    expect(state.released).toBeGreaterThan(0);
  });

  it('stops other items of a concurrent map when one item fails', async () => {
    const { port, aborted } = portWithAborts();
    const m = definePipeline(
      'items',
      map('each', agentStep<string>('work', 'm:pick'), { concurrency: 3 }),
    );
    const picking: AgentPort = {
      call: (req, signal) =>
        port.call({ ...req, agent: req.input === 'b' ? 'm:bad' : 'm:slow' }, signal),
    };
    const { engine } = harness({ agents: picking });
    const r = await engine.run(m.plan, ['a', 'b', 'c']);
    expect(r.status).toBe('failed');
    expect(aborted.sort()).toEqual([`${r.runId}:body@1:1`, `${r.runId}:body@3:1`]);
    expect((await engine.replay(m.plan, r.runId)).identical).toBe(true);
  });

  it('a step that merely finished releases nothing', async () => {
    const { engine } = harness();
    const q = definePipeline(
      'plain',
      step('one', (x: string) => `${x}!`),
    );
    const r = await engine.run(q.plan, 'x');
    const state = refold(compilePlan(q.plan), await engine.events(r.runId));
    expect(state.released).toBe(0);
  });
});

describe('branch contexts', () => {
  it('are dropped once their parallel node is left, in every loop iteration', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'scopes',
      loop(
        'again',
        parallel('fan', {
          a: step('a', (n: number) => n + 1, { updatesContext: false }),
          b: step('b', (n: number) => n + 2),
        }),
        { maxLoops: 3, iterationInput: (prev: unknown) => (prev as { a: number }).a },
      ),
    );
    const r = await engine.run(p.plan, 0);
    expect(r).toMatchObject({ status: 'completed', output: { a: 3, b: 4 } });
    const state = refold(compilePlan(p.plan), await engine.events(r.runId));
    const ctx = state.snapshot.context as { bctx: Record<string, unknown> };
    expect(ctx.bctx).toEqual({});
  });
});
