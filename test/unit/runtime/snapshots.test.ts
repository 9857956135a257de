import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import {
  agentStep,
  definePipeline,
  hitl,
  loop,
  sequence,
  step,
  type Flow,
} from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { verifyStoredRun } from '../../../src/runtime/verifyLedger.js';
import { decodeCanonical, encodeCanonical } from '../../../src/events/codec.js';

const long = definePipeline(
  'long',
  sequence(
    loop(
      'count',
      step('inc', (x: number) => x + 1),
      { maxLoops: 300 },
    ),
    hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
    step('end', (a: { ok: boolean }) => (a.ok ? 'yes' : 'no')),
  ),
);

/** A memory ledger that counts the rows handed out by read(). */
function countingLedger() {
  const ledger = createMemoryLedger();
  let rows = 0;
  const read = ledger.read.bind(ledger);
  ledger.read = async (runId, opts) => {
    const out = await read(runId, opts);
    rows += out.length;
    return out;
  };
  return { ledger, rowsRead: () => rows, reset: () => (rows = 0) };
}

describe('snapshots', () => {
  it('resume starts from the latest snapshot instead of refolding from zero, with the same result', async () => {
    const { ledger, rowsRead, reset } = countingLedger();
    const engine = createEngine({ ledger, snapshotEvery: 100, newRunId: () => 'snap-1' });
    const paused = await engine.run(long.plan, 0);
    expect(paused.status).toBe('paused');
    const events = await engine.events('snap-1');
    const snaps = events.filter((e) => e.type === 'SnapshotTaken');
    expect(snaps.length).toBeGreaterThanOrEqual(events.length / 110);
    reset();
    const done = await createEngine({ ledger, snapshotEvery: 100 }).resume(long.plan, 'snap-1', {
      humanInput: { ok: true },
    });
    expect(rowsRead()).toBeLessThan(250); // the tail window and seq 1, not ~1,500 events
    expect(done).toMatchObject({ status: 'completed', output: 'yes' });
    expect(done).toEqual(await engine.result('snap-1'));
    expect(await createEngine({ ledger }).replay(long.plan, 'snap-1')).toMatchObject({
      identical: true,
      output: 'yes',
    });
    expect((await verifyStoredRun(ledger, 'snap-1')).ok).toBe(true);
  });

  it('restores outstanding calls and budgets: an in-flight call after a snapshot is re-issued once', async () => {
    const ledger = createMemoryLedger();
    const calls: string[] = [];
    let hang = true;
    const agents: AgentPort = {
      estimate: () => ({ costMicros: 10, tokens: 1 }),
      call(req) {
        calls.push(req.key);
        if (req.agent === 'm:last' && hang) return new Promise(() => {});
        return Promise.resolve({
          output: 1,
          usage: { input: 1, output: 0 },
          costMicros: 10,
          model: req.agent,
        });
      },
    };
    const p = definePipeline(
      'b',
      sequence(
        loop('many', agentStep('m', 'm:many'), { maxLoops: 60 }),
        agentStep('last', 'm:last'),
      ),
    );
    const first = createEngine({ ledger, agents, snapshotEvery: 50, newRunId: () => 'snap-2' });
    void first.run(p.plan, 0, { budget: { costMicros: 100_000 } });
    await vi.waitFor(() => expect(calls.at(-1)).toBe('snap-2:1:1'));
    hang = false;
    const done = await createEngine({ ledger, agents, snapshotEvery: 50 }).resume(p.plan, 'snap-2');
    // 61 replies at 10, plus the attempt the "crash" lost, counted at its reservation (ADR 55).
    expect(done).toMatchObject({ status: 'completed', output: 1, costMicros: 620 });
    expect(calls.filter((k) => k === 'snap-2:1:1')).toHaveLength(2); // in flight at the "crash", re-issued once
    expect(calls).toHaveLength(62);
  });
});

describe('snapshots at rest', () => {
  const short = definePipeline(
    'short',
    sequence(
      step('a', (x: number) => x + 1),
      step('b', (x: number) => x + 1),
      hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
      step('end', (a: { ok: boolean }) => (a.ok ? 'yes' : 'no')),
    ),
  );

  it('closes a pause with a snapshot, and resume starts from it instead of refolding', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, newRunId: () => 'rest-1' });
    const paused = await engine.run(short.plan, 1);
    const events = await engine.events('rest-1');
    expect(events.map((e) => e.type).slice(-2)).toEqual(['RunPaused', 'SnapshotTaken']);
    // Break an event before the pause: a resume that refolded from zero would have to decode it.
    const rows = ledger.unsafeRows('rest-1');
    const i = rows.findIndex((r) => r.type === 'AgentResponded');
    rows[i] = { ...rows[i]!, body: new Uint8Array([0xff]) };
    const done = await createEngine({ ledger }).resume(short.plan, 'rest-1', {
      humanInput: { ok: true },
    });
    expect(done).toMatchObject({ status: 'completed', output: 'yes', steps: [{}, {}, {}, {}] });
    expect(paused.events + 1).toBeLessThan(done.events);
    // Replay and verify still read everything, so the broken event is found there.
    expect((await verifyStoredRun(ledger, 'rest-1')).ok).toBe(false);
  });

  it('resumes from the rest snapshot to the same result and events as a refold from zero', async () => {
    const withSnap = createMemoryLedger();
    const without = createMemoryLedger();
    const a = createEngine({ ledger: withSnap, newRunId: () => 'same-1', clock: { now: () => 7 } });
    const b = createEngine({
      ledger: without,
      snapshotEvery: 0,
      newRunId: () => 'same-1',
      clock: { now: () => 7 },
    });
    for (const e of [a, b]) await e.run(short.plan, 1);
    const ra = await a.resume(short.plan, 'same-1', { humanInput: { ok: false } });
    const rb = await b.resume(short.plan, 'same-1', { humanInput: { ok: false } });
    expect(ra).toMatchObject({ status: 'completed', output: 'no' });
    const strip = (r: typeof ra) => ({ ...r, events: 0 });
    expect(strip(ra)).toEqual(strip(rb));
    const types = async (e: typeof a) =>
      (await e.events('same-1')).map((x) => x.type).filter((t) => t !== 'SnapshotTaken');
    expect(await types(a)).toEqual(await types(b));
    expect(await a.replay(short.plan, 'same-1')).toMatchObject({ identical: true, output: 'no' });
  });

  it('keeps rest snapshots no larger than the events they stand for, so pausing often stays linear', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, newRunId: () => 'chat-1' });
    // Each turn pauses; the context (and so a snapshot) grows with every answer kept.
    const chat = definePipeline(
      'chat',
      loop(
        'turns',
        sequence(
          hitl('say', { message: 'next?', schema: z.object({ text: z.string() }) }),
          step('keep', (a: { text: string }) => a.text, { updatesContext: false }),
        ),
        { maxLoops: 30 },
      ),
    );
    let r = await engine.run(chat.plan, 'start');
    for (let turn = 0; turn < 29 && r.status === 'paused'; turn++)
      r = await engine.resume(chat.plan, 'chat-1', { humanInput: { text: 'x'.repeat(400) } });
    const rows = await ledger.read('chat-1');
    const snapBytes = rows
      .filter((x) => x.type === 'SnapshotTaken')
      .reduce((n, x) => n + x.body.length, 0);
    const otherBytes = rows
      .filter((x) => x.type !== 'SnapshotTaken')
      .reduce((n, x) => n + x.body.length, 0);
    const pauses = rows.filter((x) => x.type === 'RunPaused').length;
    const snaps = rows.filter((x) => x.type === 'SnapshotTaken').length;
    expect(pauses).toBeGreaterThan(20);
    expect(snaps).toBeGreaterThan(0);
    expect(snaps).toBeLessThan(pauses); // later pauses would cost more than what they replace
    expect(snapBytes).toBeLessThanOrEqual(otherBytes);
  });
});

describe('snapshots at rest, then a crash', () => {
  it('resumes a run that crashed after its answer from the rest snapshot and the events after it', async () => {
    const ledger = createMemoryLedger();
    const p = definePipeline(
      'crash-after-answer',
      sequence(
        step('a', (x: number) => x + 1),
        hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
        agentStep<string>('ask', 'm:ask'),
        agentStep('again', 'm:again') as Flow<unknown, string>,
        step('end', (s: string) => `${s}!`),
      ),
    );
    let calls = 0;
    const hanging: AgentPort = {
      call: async (req) => {
        calls += 1;
        if (req.agent === 'm:again') return new Promise(() => {}); // the process dies here
        return { output: 'one', usage: { input: 1, output: 1 }, costMicros: 0, model: 'm' };
      },
    };
    const first = createEngine({ ledger, agents: hanging, newRunId: () => 'cr-1' });
    expect((await first.run(p.plan, 1)).status).toBe('paused');
    void first.resume(p.plan, 'cr-1', { humanInput: { ok: true } });
    await vi.waitFor(() => expect(calls).toBe(2));
    const types = (await first.events('cr-1')).map((e) => e.type);
    // The rest snapshot is no longer among the last few events: resume must look further back.
    expect(types.length - types.lastIndexOf('SnapshotTaken')).toBeGreaterThan(4);
    const replies: AgentPort = {
      call: async (req) => ({
        output: `${req.agent}`,
        usage: { input: 1, output: 1 },
        costMicros: 0,
        model: 'm',
      }),
    };
    const done = await createEngine({ ledger, agents: replies }).resume(p.plan, 'cr-1');
    expect(done).toMatchObject({ status: 'completed', output: 'm:again!' });
    expect(await createEngine({ ledger }).replay(p.plan, 'cr-1')).toMatchObject({
      identical: true,
      output: 'm:again!',
    });
  });
});

describe('snapshots written before they carried the fingerprint', () => {
  it('checks a resume against RunStarted when the snapshot has no fingerprint', async () => {
    const ledger = createMemoryLedger();
    const v1 = definePipeline(
      'old-snap',
      sequence(
        step('a', (x: number) => x + 1),
        hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
        step('end', () => 'done'),
      ),
    );
    const engine = createEngine({ ledger, newRunId: () => 'old-1' });
    await engine.run(v1.plan, 1);
    // Rewrite the pause snapshot as an earlier Flujo wrote it: without `fingerprint`.
    const rows = ledger.unsafeRows('old-1');
    const i = rows.findIndex((r) => r.type === 'SnapshotTaken');
    expect(i).toBeGreaterThan(0);
    const env = decodeCanonical(rows[i]!.body) as { data: { state: Record<string, unknown> } };
    expect(env.data.state.fingerprint).toEqual(expect.any(String));
    delete env.data.state.fingerprint;
    rows[i] = { ...rows[i]!, body: encodeCanonical(env) };
    ledger.unsafeReseal('old-1'); // sealed, as the earlier Flujo that wrote these bytes did
    const v2 = definePipeline(
      'old-snap',
      sequence(
        step('a', (x: number) => x + 2),
        hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
        step('end', () => 'done'),
      ),
      { revision: '2' },
    );
    await expect(engine.resume(v2.plan, 'old-1', { humanInput: { ok: true } })).rejects.toThrow(
      /PLAN_CHANGED/,
    );
    await expect(
      engine.resume(v1.plan, 'old-1', { humanInput: { ok: true } }),
    ).resolves.toMatchObject({ status: 'completed', output: 'done' });
  });
});

describe('snapshots and the end of a run', () => {
  const two = definePipeline(
    'two',
    sequence(
      step('a', (x: number) => x + 1),
      step('b', (x: number) => {
        if (x < 0) throw Object.assign(new Error('negative'), { retryable: false });
        return x + 1;
      }),
    ),
  ).plan;

  it('never follow a terminal event: every snapshot interval completes or fails the run', async () => {
    // Before: with snapshotEvery 1-5 and 10-13 the final batch crossed the interval, took a
    // snapshot after RunCompleted, and the ledger refused the append ("after a terminal event").
    for (let every = 1; every <= 16; every++) {
      const ledger = createMemoryLedger();
      const engine = createEngine({ ledger, snapshotEvery: every });
      const ok = await engine.run(two, 0);
      expect(ok.status, `snapshotEvery ${every}`).toBe('completed');
      expect(ok.output).toBe(2);
      const failed = await engine.run(two, -5);
      expect(failed.status, `snapshotEvery ${every}`).toBe('failed');
      for (const r of [ok, failed]) {
        const types = (await ledger.read(r.runId)).map((x) => x.type);
        expect(types.at(-1)).toMatch(/^Run(Completed|Failed)$/);
      }
    }
  });
});
