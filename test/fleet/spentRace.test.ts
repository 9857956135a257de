/**
 * ADR 86's residual race, made deterministic: a spent message whose handling settles just as the
 * sweep keeps it as a dead letter. In process, on the real NATS (a namespace of its own) and a
 * real in-memory ledger driven by the engine; the "handling" settles at a gate (a promise run
 * inside the sweep's read of the run, after its look and before it stores the dead letter), or
 * after the sweep, through the worker's own settle. Either way no dead letter is left for work
 * that is done; a message whose run never ran is still kept as one.
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
import { listSpent, recordSpent } from '../../src/fleet/spent.js';
import { sweep, type SweepDeps } from '../../src/fleet/sweep.js';
import type { ReadModels } from '../../src/projections/readModels.js';
import { createEngine } from '../../src/runtime/engine.js';
import { NATS_URL, natsReachable } from '../support/services.js';

const up = await natsReachable();

describe.skipIf(!up)('a spent message settled as the sweep keeps it (ADR 86)', () => {
  const namespace = `spentrace_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-spent-race-'));
  const plan = definePipeline(
    'echo',
    step('echo', (x: string) => `${x}!`),
  ).plan;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let state: State;
  const logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const log = {
    info: (obj: object, msg: string) => logs.push({ level: 'info', obj: { ...obj }, msg }),
    warn: (obj: object, msg: string) => logs.push({ level: 'warn', obj: { ...obj }, msg }),
    error: (obj: object, msg: string) => logs.push({ level: 'error', obj: { ...obj }, msg }),
  };

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    await ensureWorkQueue(jsm, names);
    state = await openState('memory://', { projectRoot: dir });
  });

  afterAll(async () => {
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The read models, with `gate` run once inside the first getRun, after its read. */
  function gated(gate: (() => Promise<void>) | undefined): ReadModels {
    let once = gate;
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

  const sweepDeps = (readModels: ReadModels): SweepDeps => ({
    nc,
    js: jetstream(nc),
    jsm,
    names,
    readModels,
    log,
    now: Date.now,
    name: 'sweeper',
    ackWaitMs: 1_000,
    maxDeliver: 2,
    reconcileAfterMs: 0,
    spentAfterMs: 10_000,
    handling: new Map(),
    signal: new AbortController().signal,
    adopt: () => Promise.reject(new Error('no message is handled here')),
  });

  /** A start of `runId` queued and recorded as held by (dead) worker w-gone for a minute. */
  async function spentStart(runId: string) {
    const js = jetstream(nc);
    const work = await js.publish(workSubject(names, 'start', runId), '{"input":"x"}');
    await recordSpent(js, names, {
      seq: work.seq,
      runId,
      kind: 'start',
      worker: 'w-gone',
      since: Date.now() - 60_000,
    });
    return work.seq;
  }

  const run = (runId: string) =>
    createEngine({ ledger: state.ledger, worker: 'test' }).run(plan, 'x', { runId });

  it('control: a spent start whose run never ran is kept as a dead letter naming its holder', async () => {
    const seq = await spentStart('never-ran');
    await sweep(sweepDeps(state.readModels));
    const dead = await listDeadLetters({ jsm, js: jetstream(nc), names }, { runId: 'never-ran' });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: 'start', code: 'MAX_DELIVERIES', work_seq: seq });
    expect(dead[0]!.reason).toContain('held by worker w-gone');
    expect(await jsm.streams.getMessage(names.stream, { seq }).catch(() => null)).toBeNull();
  }, 30_000);

  it('its handling settles after the sweep looked and before it stored the dead letter: the dead letter is removed', async () => {
    const seq = await spentStart('settles-in-the-gap');
    let settled = false;
    // The handling's settle: the run recorded to its end, then its message acked out of the queue.
    const handling = async () => {
      expect((await run('settles-in-the-gap')).status).toBe('completed');
      await jsm.streams.deleteMessage(names.stream, seq, false);
      settled = true;
    };
    await sweep(sweepDeps(gated(handling)));
    expect(settled).toBe(true);
    const dead = await listDeadLetters(
      { jsm, js: jetstream(nc), names },
      { runId: 'settles-in-the-gap' },
    );
    expect(dead).toEqual([]);
    expect(logs.map((l) => l.msg)).toContain(
      'work message held past the bound was settled by its handling while it was kept as a dead letter; the dead letter is removed',
    );
    expect((await listSpent(jsm, names)).map((r) => r.seq)).not.toContain(seq);
  }, 30_000);

  it('its handling settles after the sweep kept it: the handling removes the dead letter', async () => {
    const runId = 'settles-after';
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
      worker: 'w-wedged',
      since: Date.now() - 60_000,
    });
    // The sweep finds no run and nobody answering: a dead letter, the message out of the queue.
    await sweep(sweepDeps(state.readModels));
    const deps = { jsm, js, names };
    expect(await listDeadLetters(deps, { runId })).toHaveLength(1);
    // Then the handling completes the run and settles the message by hand, as the worker does.
    expect((await run(runId)).status).toBe('completed');
    const counts = { acked: 0, terminated: 0, retried: 0, left: 0 };
    await settle(
      { nc, js, jsm, names, log, now: Date.now, maxDeliver: 2, counts },
      msg!,
      runId,
      { kind: 'ack' },
      undefined,
      { spent: true, removed: false, work },
    );
    expect(counts.acked).toBe(1);
    expect(await listDeadLetters(deps, { runId })).toEqual([]);
    expect(logs.map((l) => l.msg)).toContain(
      'work message kept as a dead letter while its handling settled it; the dead letter is removed',
    );
  }, 30_000);
});
