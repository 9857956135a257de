import { describe, expect, it, vi } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, sequence, step } from '../../../src/dsl/builder.js';
import type { AgentPort, AppendRequest, LedgerStore } from '../../../src/ports.js';
import { harness, trace } from '../../support/given.js';

describe('cancel', () => {
  it('aborts the in-flight call, records RunCancelled last, and leaves a run that stays cancelled', async () => {
    const aborted: string[] = [];
    let calls = 0;
    const agents: AgentPort = {
      call(req, signal) {
        calls += 1;
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted.push(req.key);
            reject(new Error('aborted'));
          }),
        );
      },
    };
    const { engine, ledger } = harness({ agents });
    const p = definePipeline(
      'c',
      sequence(agentStep('slow', 'm:slow'), agentStep('never', 'm:never')),
    );
    const running = engine.run(p.plan, 'x', { runId: 'c-1' });
    await vi.waitFor(() => expect(calls).toBe(1));
    const cancelled = await engine.cancel('c-1', 'operator asked');
    expect(cancelled.status).toBe('cancelled');
    expect(await running).toMatchObject({ status: 'cancelled' });
    expect(aborted).toEqual(['c-1:0:1']);
    const events = await engine.events('c-1');
    expect(trace(events).at(-1)).toBe('RunCancelled');
    expect(events.at(-1)?.data).toEqual({ reason: 'operator asked', by: 'test' });
    expect(trace(events)).not.toContain('AgentFailed 0'); // nothing recorded after the cancel
    // Resume and replay see a finished run; no more calls are made.
    const again = harness({ ledger, agents }).engine;
    expect(await again.resume(p.plan, 'c-1')).toMatchObject({ status: 'cancelled' });
    expect(await again.replay(p.plan, 'c-1')).toMatchObject({ identical: true });
    expect(calls).toBe(1);
  });

  it('cancels a paused run from another process', async () => {
    const { engine, ledger } = harness();
    const { definePipeline: dp, hitl } = await import('../../../src/dsl/builder.js');
    const { z } = await import('zod');
    const p = dp('h', hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }));
    const r = await engine.run(p.plan, null);
    expect(r.status).toBe('paused');
    expect(await harness({ ledger }).engine.cancel(r.runId)).toMatchObject({ status: 'cancelled' });
    // An answer for the cancelled run is refused, not dropped in silence; nothing is recorded.
    const head = (await ledger.head(r.runId))?.seq;
    await expect(
      engine.resume(p.plan, r.runId, { humanInput: { ok: true } }),
    ).rejects.toMatchObject({ code: 'RUN_NOT_RESUMABLE', details: { status: 'cancelled' } });
    expect((await ledger.head(r.runId))?.seq).toBe(head);
    await expect(engine.resume(p.plan, r.runId)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('right after run() in the same engine stops the run instead of missing it', async () => {
    const made: string[] = [];
    const agents: AgentPort = {
      call(req, signal) {
        made.push(req.key);
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('aborted'))),
        );
      },
    };
    const { engine } = harness({ agents });
    const p = definePipeline('c', sequence(agentStep('a', 'm:a'), agentStep('b', 'm:b')));
    const running = engine.run(p.plan, 'x', { runId: 'early' });
    // Before: RUN_NOT_FOUND (the first commit had not landed), and the run went on to completion.
    await expect(engine.cancel('early')).resolves.toMatchObject({ status: 'cancelled' });
    await expect(running).resolves.toMatchObject({ status: 'cancelled' });
    expect(made).not.toContain('early:1:1'); // step b was never called
    expect(trace(await engine.events('early')).at(-1)).toBe('RunCancelled');
  });

  it('by another engine: the engine driving the run reports it cancelled, not a conflict', async () => {
    let calls = 0;
    // The call answers only once the cancel has landed: the reply always comes after it, however
    // long the other engine takes to append (a timer here raced the cancel on a loaded machine).
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const agents: AgentPort = {
      async call() {
        calls += 1;
        await answered;
        return { output: 'ok', usage: { input: 1, output: 1 }, costMicros: 1, model: 'm' };
      },
    };
    const { engine, ledger } = harness({ agents });
    const other = harness({ ledger, agents }).engine;
    const p = definePipeline('c', sequence(agentStep('a', 'm:a'), agentStep('b', 'm:b')));
    const running = engine.run(p.plan, 'x', { runId: 'far' });
    await vi.waitFor(() => expect(calls).toBe(1));
    await expect(other.cancel('far', 'stop')).resolves.toMatchObject({ status: 'cancelled' });
    answer();
    // Before: LedgerConflictError "append expected head seq 5 but the ledger is at 6".
    await expect(running).resolves.toMatchObject({ status: 'cancelled' });
    expect(calls).toBe(1);
    expect(trace(await engine.events('far')).at(-1)).toBe('RunCancelled');
  });

  it('reads the head again when the process driving the run appends between its read and its append', async () => {
    const gates = [0, 1].map(() => {
      let open!: () => void;
      return { done: new Promise<void>((r) => (open = r)), open: () => open() };
    });
    const p = definePipeline(
      'g',
      sequence(
        step('a', async (x: unknown) => (await gates[0]?.done, x)),
        step('b', async (x: unknown) => (await gates[1]?.done, x)),
      ),
    );
    const base = createMemoryLedger();
    const driving = harness({ ledger: base }).engine;
    // The canceller's ledger lets the driver take step a's outcome just before the cancel lands.
    let interpose: (() => Promise<void>) | undefined;
    const ledger = new Proxy(base, {
      get(target, key) {
        if (key === 'append')
          return async (req: AppendRequest) => {
            const go = req.events[0]?.type === 'RunCancelled' ? interpose : undefined;
            interpose = undefined;
            await go?.();
            return target.append(req);
          };
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as LedgerStore;
    const running = driving.run(p.plan, 'x', { runId: 'race' });
    await vi.waitFor(async () => expect((await base.head('race'))?.seq).toBeGreaterThan(0));
    interpose = async () => {
      const before = (await base.head('race'))?.seq ?? 0;
      gates[0]?.open();
      await vi.waitFor(async () => expect((await base.head('race'))?.seq).toBeGreaterThan(before));
    };
    // Before: LedgerConflictError "append expected head seq 5 but the ledger is at 9".
    await expect(harness({ ledger }).engine.cancel('race', 'stop')).resolves.toMatchObject({
      status: 'cancelled',
    });
    expect(interpose).toBeUndefined();
    gates[1]?.open();
    await expect(running).resolves.toMatchObject({ status: 'cancelled' });
    // Step a's outcome, appended between the cancel's first read and its append, stays recorded.
    expect(trace(await driving.events('race')).slice(-4)).toEqual([
      'StepCompleted 0',
      'StepScheduled 1',
      'AgentCallRequested 1',
      'RunCancelled',
    ]);
  });
});
