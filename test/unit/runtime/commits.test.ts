/**
 * What a run costs in commits, and where a resume's claim goes: a step is one append, and a resume
 * with an answer claims in the same append as the answer, while a resume that takes up work again
 * claims before any of it acts.
 */
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import type { AgentPort, AppendRequest, LedgerStore } from '../../../src/ports.js';
import { harness } from '../../support/given.js';

/** A memory ledger that remembers each append's event types, and counts head and read calls. */
function countingLedger(): {
  ledger: LedgerStore;
  appends: string[][];
  reads: { head: number; read: number };
} {
  const inner = createMemoryLedger();
  const appends: string[][] = [];
  const reads = { head: 0, read: 0 };
  const ledger: LedgerStore = {
    ...inner,
    append: (req: AppendRequest) => {
      appends.push(req.events.map((e) => e.type));
      return inner.append(req);
    },
    head: (runId) => {
      reads.head += 1;
      return inner.head(runId);
    },
    read: (runId, opts) => {
      reads.read += 1;
      return inner.read(runId, opts);
    },
  };
  return { ledger, appends, reads };
}

const addOne = (name: string) => step(name, (x: number) => x + 1);

describe('commits', () => {
  it('records a linear run of n steps in n + 1 appends', async () => {
    const { ledger, appends } = countingLedger();
    const { engine } = harness({ ledger });
    const p = definePipeline('lin', sequence(...['a', 'b', 'c', 'd', 'e'].map(addOne)));
    expect(await engine.run(p.plan, 0)).toMatchObject({ status: 'completed', output: 5 });
    expect(appends).toHaveLength(6);
    // Each step's reply, its completion and the next step's request share one commit.
    expect(appends[1]).toEqual([
      'AgentResponded',
      'StepCompleted',
      'StepScheduled',
      'AgentCallRequested',
    ]);
  });

  it('starts a run with its first append alone: no head or read before it (ADR 65)', async () => {
    const { ledger, appends, reads } = countingLedger();
    const { engine } = harness({ ledger });
    const p = definePipeline('lin', sequence(...['a', 'b', 'c'].map(addOne)));
    expect(await engine.run(p.plan, 0)).toMatchObject({ status: 'completed', output: 3 });
    expect(appends).toHaveLength(4);
    // A round trip each on Postgres: a run from start to end is its appends and nothing else.
    expect(reads).toEqual({ head: 0, read: 0 });
  });

  it('takes up a run whose id is in the ledger instead of starting it again', async () => {
    const { ledger } = countingLedger();
    const { engine } = harness({ ledger });
    const p = definePipeline(
      'h',
      sequence(
        addOne('a'),
        hitl('ok', { message: 'go?', schema: z.object({ ok: z.boolean() }) }),
        step('b', () => 2),
      ),
    );
    const done = await engine.run(definePipeline('lin', addOne('a')).plan, 0, { runId: 'x-1' });
    expect(done).toMatchObject({ status: 'completed', output: 1 });
    const before = await engine.events('x-1');
    // Ended: its result, and nothing recorded (the refused first append wrote nothing).
    expect(
      await engine.run(definePipeline('lin', addOne('a')).plan, 5, { runId: 'x-1' }),
    ).toMatchObject({ status: 'completed', output: 1 });
    expect(await engine.events('x-1')).toEqual(before);
    expect((await ledger.head('x-1'))?.epoch).toBe(1);
    // Paused: resumed without an answer, which a paused run refuses, as before.
    const paused = await engine.run(p.plan, 0, { runId: 'x-2' });
    expect(paused.status).toBe('paused');
    await expect(engine.run(p.plan, 0, { runId: 'x-2' })).rejects.toThrow(/RUN_NOT_RESUMABLE/);
    expect((await ledger.head('x-2'))?.epoch).toBe(1);
  });

  it('claims a resumed run in the same append as the answer it resumes with', async () => {
    const { ledger, appends } = countingLedger();
    const { engine } = harness({ ledger });
    const p = definePipeline(
      'h',
      sequence(
        addOne('a'),
        hitl('ok', { message: 'go?', schema: z.object({ ok: z.boolean() }) }),
        step('b', () => 2),
      ),
    );
    const paused = await engine.run(p.plan, 0);
    expect(paused.status).toBe('paused');
    const before = appends.length;
    const done = await engine.resume(p.plan, paused.runId, { humanInput: { ok: true } });
    expect(done).toMatchObject({ status: 'completed', output: 2 });
    expect(appends.slice(before)[0]?.slice(0, 3)).toEqual([
      'RunClaimed',
      'RunResumed',
      'HumanInputReceived',
    ]);
    // Claim + answer + the next step's request, then the reply that ends the run.
    expect(appends.length - before).toBe(2);
    const events = await engine.events(paused.runId);
    const claim = events.find((e) => e.type === 'RunClaimed' && e.data.epoch === 2);
    expect(claim).toBeDefined();
    // The head carries the new epoch: a writer of epoch 1 is fenced out from here on.
    const head = await ledger.head(paused.runId);
    expect(head?.epoch).toBe(2);
  });

  it('refuses an invalid answer without appending anything, claim included', async () => {
    const { ledger, appends } = countingLedger();
    const { engine } = harness({ ledger });
    const p = definePipeline(
      'h',
      sequence(addOne('a'), hitl('ok', { message: 'go?', schema: z.object({ ok: z.boolean() }) })),
    );
    const paused = await engine.run(p.plan, 0);
    const before = appends.length;
    await expect(
      engine.resume(p.plan, paused.runId, { humanInput: { ok: 'yes' } }),
    ).rejects.toThrow(/HUMAN_INPUT_REJECTED/);
    expect(appends.length).toBe(before);
    expect((await ledger.head(paused.runId))?.epoch).toBe(1);
  });

  it('records the claim before it re-issues a call that was in flight', async () => {
    const { ledger, appends } = countingLedger();
    let release: () => void = () => {};
    const first: AgentPort = {
      call: () =>
        new Promise((_, reject) => {
          release = () => reject(new Error('process died'));
        }),
    };
    const { engine } = harness({ ledger, agents: first });
    const p = definePipeline('c', agentStep<string>('ask', 'm:ask'));
    const running = engine.run(p.plan, 'in', { runId: 'c-1' });
    await vi.waitFor(() => expect(appends).toHaveLength(1));
    const seenAtCall: number[] = [];
    const second: AgentPort = {
      async call(req) {
        // What the ledger holds when the re-issued call starts: its claim must be there.
        seenAtCall.push((await ledger.head(req.runId))?.epoch ?? -1);
        return { output: 'ok', usage: { input: 1, output: 1 }, costMicros: 0, model: 'm' };
      },
    };
    const r = await harness({ ledger, agents: second }).engine.resume(p.plan, 'c-1');
    expect(r).toMatchObject({ status: 'completed', output: 'ok' });
    expect(appends[1]).toEqual(['RunClaimed', 'RunResumed']);
    expect(seenAtCall).toEqual([2]);
    release();
    await running.catch(() => {});
  });
});
