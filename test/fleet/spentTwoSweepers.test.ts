/**
 * ADR 86, "Settled as it was swept": two workers sweeping the same spent record at once. The
 * record's holder is gone and its run is running but nobody drives it (no reconciler): each
 * sweep's look keeps the message as a dead letter. The first stores it and removes the work
 * message; the second, finding the work message gone, must not take that for a handling that
 * settled it: the dead letter stays. Deterministic: the first sweep runs whole inside the second's
 * read of the run (after its look, before its store). And a holder that only stalled (it did not
 * answer) and took the message out itself once its run was recorded: the sweep keeps the dead
 * letter, and the handling's own settle of the run removes it. Real NATS, a real in-memory ledger.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ensureWorkQueue,
  fleetNames,
  parseWorkMessage,
  workSubject,
} from '../../src/adapters/nats/work.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import { definePipeline, step } from '../../src/dsl/builder.js';
import { listDeadLetters } from '../../src/fleet/deadLetters.js';
import { settle } from '../../src/fleet/release.js';
import { recordSpent } from '../../src/fleet/spent.js';
import { sweep, type SweepDeps } from '../../src/fleet/sweep.js';
import type { ReadModels } from '../../src/projections/readModels.js';
import { createEngine } from '../../src/runtime/engine.js';
import { NATS_URL, natsReachable } from '../support/services.js';

const up = await natsReachable();

describe.skipIf(!up)('two sweeps of one spent record (ADR 86)', () => {
  const namespace = `spent2sw_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-spent-two-'));
  // Each run's step waits until the test lets its input go.
  const let_go = new Map<string, () => void>();
  const release = () => [...let_go.values()].forEach((f) => f());
  const plan = definePipeline(
    'hangs',
    step('hang', async (x: string) => {
      await new Promise<void>((r) => let_go.set(x, r));
      return x;
    }),
  ).plan;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let state: State;
  const logs: string[] = [];
  const log = {
    info: (_o: object, msg: string) => logs.push(msg),
    warn: (_o: object, msg: string) => logs.push(msg),
    error: (_o: object, msg: string) => logs.push(msg),
  };

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    await ensureWorkQueue(jsm, names);
    state = await openState('memory://', { projectRoot: dir });
  });

  afterAll(async () => {
    release();
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The read models, with `gate` run once inside the first getRun, after its read. */
  function gated(gate: () => Promise<void>): ReadModels {
    let once: (() => Promise<void>) | undefined = gate;
    return new Proxy(state.readModels, {
      get(target, key) {
        if (key === 'getRun')
          return async (runId: string) => {
            const run = await target.getRun(runId);
            const g = once;
            once = undefined;
            if (g) await g();
            return run;
          };
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  const sweepDeps = (readModels: ReadModels, name: string): SweepDeps => ({
    nc,
    js: jetstream(nc),
    jsm,
    names,
    readModels,
    log,
    now: Date.now,
    name,
    ackWaitMs: 1_000,
    maxDeliver: 2,
    // No reconciler: a running run nobody drives is not in hand.
    reconcileAfterMs: 0,
    spentAfterMs: 10_000,
    handling: new Map(),
    signal: new AbortController().signal,
    adopt: () => Promise.reject(new Error('no message is handled here')),
  });

  const startRunning = (runId: string) =>
    createEngine({ ledger: state.ledger, worker: 'w-gone' }).run(plan, runId, { runId });
  async function untilRunning(runId: string) {
    for (let i = 0; i < 100 && !let_go.has(runId); i++) await new Promise((r) => setTimeout(r, 20));
    expect((await state.readModels.getRun(runId))?.status).toBe('running');
  }

  it('the second sweep finds the message gone: the dead letter the first kept stays', async () => {
    const runId = 'quiet-run';
    const js = jetstream(nc);
    const work = await js.publish(workSubject(names, 'start', runId), '{"input":"x"}');
    await recordSpent(js, names, {
      seq: work.seq,
      runId,
      kind: 'start',
      worker: 'w-gone',
      since: Date.now() - 60_000,
    });
    // Its run was started (RunStarted recorded) and is left running: its driver is gone.
    void startRunning(runId);
    await untilRunning(runId);

    const first = () => sweep(sweepDeps(state.readModels, 'sweeper-a'));
    await sweep(sweepDeps(gated(first), 'sweeper-b'));

    const dead = await listDeadLetters({ jsm, js, names }, { runId });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: 'start', code: 'MAX_DELIVERIES', work_seq: work.seq });
    expect(logs).not.toContain(
      'work message held past the bound was settled by its handling while it was kept as a dead letter; the dead letter is removed',
    );
    expect(await jsm.streams.getMessage(names.stream, { seq: work.seq }).catch(() => null)).toBe(
      null,
    );
  }, 30_000);

  it('a stalled holder took the message out as the sweep kept it: its settle removes the dead letter', async () => {
    const runId = 'stalled-holder';
    const js = jetstream(nc);
    await js.publish(workSubject(names, 'start', runId), '{"input":"x"}');
    // The handling holds a real delivery of it (JetStream has given up on it: spent).
    const consumer = await js.consumers.get(names.stream, names.consumer);
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg).not.toBeNull();
    const work = parseWorkMessage(names, msg!.subject, msg!.data);
    expect(work.runId).toBe(runId);
    await recordSpent(js, names, {
      seq: msg!.seq,
      runId,
      kind: 'start',
      worker: 'w-stalled',
      since: Date.now() - 60_000,
    });
    const done = startRunning(runId);
    await untilRunning(runId);
    // After the sweep's look, the holder (too slow to answer) takes its message out: its run is
    // recorded (adopt). The sweep cannot tell that from another sweeper: the dead letter stays.
    const adopted = () => jsm.streams.deleteMessage(names.stream, msg!.seq, false).then(() => {});
    await sweep(sweepDeps(gated(adopted), 'sweeper-c'));
    const deps = { jsm, js, names };
    expect(await listDeadLetters(deps, { runId })).toHaveLength(1);
    // The handling completes the run and settles the message it took out itself.
    let_go.get(runId)!();
    expect((await done).status).toBe('completed');
    const counts = { acked: 0, terminated: 0, retried: 0, left: 0 };
    await settle(
      { nc, js, jsm, names, log, now: Date.now, maxDeliver: 2, counts },
      msg!,
      runId,
      { kind: 'ack' },
      undefined,
      { spent: true, removed: true, work },
    );
    expect(counts.acked).toBe(1);
    expect(await listDeadLetters(deps, { runId })).toEqual([]);
  }, 30_000);
});
