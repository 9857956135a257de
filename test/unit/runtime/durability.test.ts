import { describe, expect, it, vi } from 'vitest';

import {
  agentStep,
  conditional,
  definePipeline,
  hitl,
  parallel,
  sequence,
  step,
  type Flow,
} from '../../../src/dsl/builder.js';
import { z } from 'zod';
import { NondeterminismError } from '../../../src/errors.js';
import type { AgentPort } from '../../../src/ports.js';
import { harness, scriptedAgents, trace } from '../../support/given.js';

const flaky = (failures: number) => {
  let n = 0;
  return (x: number) => {
    n += 1;
    if (n <= failures) throw new Error(`flake ${n}`);
    return x + 1;
  };
};

describe('retries, backoff, fallback and timeouts', () => {
  it('retries a failed attempt as a new attempt with its own idempotency key', async () => {
    const { engine } = harness();
    const p = definePipeline('r', step('flaky', flaky(2), { retries: 2 }));
    const r = await engine.run(p.plan, 1);
    expect(r).toMatchObject({ status: 'completed', output: 2, steps: [{ attempts: 3 }] });
    const keys = (await engine.events(r.runId)).flatMap((e) =>
      e.type === 'AgentCallRequested' ? [e.data.key] : [],
    );
    expect(keys).toEqual([`${r.runId}:.:1`, `${r.runId}:.:2`, `${r.runId}:.:3`]);
  });

  it('waits between attempts on a durable timer when it backs off', async () => {
    const { engine } = harness();
    const p = definePipeline('r', step('flaky', flaky(1), { retries: 1, backoffMs: 20 }));
    const started = Date.now();
    const r = await engine.run(p.plan, 1);
    expect(r.output).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(18);
    const events = await engine.events(r.runId);
    expect(trace(events)).toEqual(expect.arrayContaining(['TimerScheduled .', 'TimerFired .']));
    expect(events.find((e) => e.type === 'TimerScheduled')?.data).toMatchObject({
      timerId: 'retry-2',
      delayMs: 20,
    });
  });

  it('fails after its last attempt, or runs its fallback on the same input', async () => {
    const { engine } = harness();
    const failing = definePipeline('f', step('flaky', flaky(9), { retries: 1 }));
    expect(await engine.run(failing.plan, 1)).toMatchObject({
      status: 'failed',
      error: { message: 'flake 2' },
    });
    const rescued = definePipeline(
      'f',
      step('flaky', flaky(9), { retries: 1, fallback: step('backup', (x: number) => x * 100) }),
    );
    const r = await engine.run(rescued.plan, 3);
    expect(r).toMatchObject({ status: 'completed', output: 300 });
    expect(trace(await engine.events(r.runId))).toContain('StepCompleted fallback');
  });

  it('does not retry an error marked non-retryable', async () => {
    const { engine } = harness();
    let calls = 0;
    const p = definePipeline(
      'n',
      step(
        'fatal',
        () => {
          calls += 1;
          throw Object.assign(new Error('bad request'), { code: 'BAD_REQUEST', retryable: false });
        },
        { retries: 3 },
      ),
    );
    expect(await engine.run(p.plan, 0)).toMatchObject({
      status: 'failed',
      error: { code: 'BAD_REQUEST' },
    });
    expect(calls).toBe(1);
  });

  it('times out a slow attempt and retries it', async () => {
    const { engine } = harness();
    let n = 0;
    const p = definePipeline(
      't',
      step(
        'slow',
        async (x: number) => {
          n += 1;
          if (n === 1) await new Promise((r) => setTimeout(r, 200));
          return x;
        },
        { timeoutMs: 30, retries: 1 },
      ),
    );
    const r = await engine.run(p.plan, 5);
    expect(r.output).toBe(5);
    const failed = (await engine.events(r.runId)).find((e) => e.type === 'AgentFailed');
    expect(failed?.data).toMatchObject({ attempt: 1, error: { code: 'TIMEOUT', retryable: true } });
  });
});

/** An agent port whose calls hang until released; counts every call. */
function gate() {
  const calls: string[] = [];
  let release: (() => void) | null = null;
  const port: AgentPort = {
    call(req, signal) {
      calls.push(req.key);
      return new Promise((resolve, reject) => {
        release = () =>
          resolve({
            output: `${req.agent}(${String(req.input)})`,
            usage: { input: 3, output: 2 },
            costMicros: 700,
            model: req.agent,
          });
        signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    },
  };
  return { port, calls, release: () => release?.() };
}

describe('crash resume', () => {
  it('re-issues an in-flight call with the same idempotency key and never repeats a recorded one', async () => {
    const script = scriptedAgents({ 'm:first': (x) => `first(${String(x)})` });
    const hanging = gate();
    const p = definePipeline(
      'c',
      sequence(agentStep<string>('first', 'm:first'), agentStep<string>('second', 'm:second')),
    );
    const agents: AgentPort = {
      call: (req, signal) =>
        req.agent === 'm:first' ? script.port.call(req, signal) : hanging.port.call(req, signal),
    };
    const { engine, ledger } = harness({ agents });
    const running = engine.run(p.plan, 'in', { runId: 'crash-1' });
    await vi.waitFor(() => expect(hanging.calls).toHaveLength(1));
    // The process "dies" here: its in-flight call is abandoned and nothing more is recorded by it;
    // a second engine (a new process) resumes from the ledger alone.
    const second = scriptedAgents({
      'm:first': () => 'never',
      'm:second': (x) => `second(${String(x)})`,
    });
    const after = harness({ ledger, agents: second.port }).engine;
    const r = await after.resume(p.plan, 'crash-1');
    expect(r).toMatchObject({ status: 'completed', output: 'second(first(in))' });
    expect(second.calls.map((c) => c.key)).toEqual(['crash-1:1:1']); // only the in-flight call, same key
    expect(hanging.calls).toEqual(['crash-1:1:1']);
    hanging.release();
    await running.catch(() => {});
  });

  it('refuses to resume under a changed pipeline unless allowed', async () => {
    const { engine } = harness();
    const v1 = definePipeline(
      'v',
      sequence(
        step('mul', (x: number) => x * 2),
        hitlStep(),
      ),
    );
    const r = await engine.run(v1.plan, 1, { runId: 'v-1' });
    expect(r.status).toBe('paused');
    const v2 = definePipeline(
      'v',
      sequence(
        step('mul', (x: number) => x * 3),
        hitlStep(),
      ),
      { revision: '2' },
    );
    await expect(engine.resume(v2.plan, r.runId, { humanInput: { ok: true } })).rejects.toThrow(
      /PLAN_CHANGED.*started with pipeline [0-9a-f]{12}…, the current one is [0-9a-f]{12}…/,
    );
    expect((await engine.result(r.runId)).status).toBe('paused');
    // Allowed explicitly, the changed pipeline continues: its recorded decisions still match.
    await expect(
      engine.resume(v2.plan, r.runId, { humanInput: { ok: true }, allowChangedPlan: true }),
    ).resolves.toMatchObject({
      status: 'completed',
    });
  });
});

describe('resume under a changed pipeline, allowed', () => {
  it('a structural change to a paused run (snapshotted) raises NondeterminismError at the seq', async () => {
    const { engine, ledger } = harness();
    const v1 = definePipeline(
      'v',
      sequence(
        step('a', (x: number) => x + 1),
        hitlStep(),
      ),
    );
    const r = await engine.run(v1.plan, 1, { runId: 'ch-1' });
    expect(r.status).toBe('paused');
    // The pause closed with a snapshot of v1's machine states.
    expect(trace(await engine.events(r.runId))).toContain('SnapshotTaken');
    const head = (await ledger.head(r.runId))?.seq;
    const v2 = definePipeline(
      'v',
      sequence(
        step('a', (x: number) => x + 1),
        step('inserted', (x: number) => x),
        hitlStep(),
      ),
    );
    // Before: a bare XState error ("State 'wait' does not exist …") with no run or seq.
    await expect(
      engine.resume(v2.plan, r.runId, { humanInput: { ok: true }, allowChangedPlan: true }),
    ).rejects.toMatchObject({ name: 'NondeterminismError', code: 'NONDETERMINISM', seq: 8 });
    expect((await ledger.head(r.runId))?.seq).toBe(head); // nothing appended
    // A change that leaves the recorded decisions alone still continues.
    const v3 = definePipeline(
      'v',
      sequence(
        step('a', (x: number) => x + 1),
        hitlStep(),
        step('added', () => 'v3'),
      ),
    );
    await expect(
      engine.resume(v3.plan, r.runId, { humanInput: { ok: true }, allowChangedPlan: true }),
    ).resolves.toMatchObject({ status: 'completed', output: 'v3' });
  });
});

function hitlStep() {
  return hitl('ok?', { message: 'continue?', schema: z.object({ ok: z.boolean() }) });
}

describe('replay', () => {
  const plan = (threshold: number) =>
    definePipeline(
      'rp',
      sequence(
        agentStep('score', 'm:score') as Flow<unknown, number>,
        conditional('gate', (s: number) => s > threshold, {
          true: step('yes', () => 'accepted'),
          false: step('no', () => 'rejected'),
        }),
        parallel('fan', {
          a: step('a', (x: string) => x.length),
          b: agentStep<string>('b', 'm:echo'),
        }),
      ),
    );

  it('refolds a finished run to identical decisions without calling any agent', async () => {
    const live = scriptedAgents({ 'm:score': () => 7, 'm:echo': (x) => x });
    const { engine, ledger } = harness({ agents: live.port });
    const r = await engine.run(plan(5).plan, 'go');
    expect(r.output).toEqual({ a: 8, b: 'accepted' });
    const offline = scriptedAgents({});
    const replayed = await harness({ ledger, agents: offline.port }).engine.replay(
      plan(5).plan,
      r.runId,
    );
    expect(replayed).toEqual({
      runId: r.runId,
      identical: true,
      events: r.events,
      output: { a: 8, b: 'accepted' },
    });
    expect(offline.calls).toHaveLength(0);
  });

  it('names the first divergent seq when the pipeline now decides differently', async () => {
    const live = scriptedAgents({ 'm:score': () => 7, 'm:echo': (x) => x });
    const { engine, ledger } = harness({ agents: live.port });
    const r = await engine.run(plan(5).plan, 'go');
    const events = await engine.events(r.runId);
    const branch = events.find((e) => e.type === 'BranchSelected');
    const replayed = await harness({ ledger }).engine.replay(plan(10).plan, r.runId);
    expect(replayed).toMatchObject({
      identical: false,
      firstDivergence: {
        seq: branch?.seq,
        expected: { type: 'BranchSelected', data: { branch: 'false' } },
        recorded: { type: 'BranchSelected', data: { branch: 'true' } },
      },
    });
    // Resume refuses the same way, even when the changed plan is allowed: a typed error naming
    // the seq, not a silently different run.
    const err = await harness({ ledger })
      .engine.resume(plan(10).plan, r.runId, { allowChangedPlan: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NondeterminismError);
    expect(err).toMatchObject({ seq: branch?.seq });
    expect((err as Error).message).toMatch(
      /BranchSelected \{"branch":"false","path":"1"\} but the ledger recorded BranchSelected \{"branch":"true","path":"1"\}/,
    );
  });
});
