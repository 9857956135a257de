/**
 * The reconciler says "re-enqueued" only for a resume the queue took as new. A publish within the
 * de-duplication window of one already queued for the same head (by another worker, taken since)
 * is a duplicate: nothing is queued, so it is said at info as such and not counted. Real NATS
 * JetStream (a namespace of its own) and a real SQLite ledger holding a run left running.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import {
  ensureWorkQueue,
  fleetNames,
  queuedFor,
  workSubject,
} from '../../src/adapters/nats/work.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import { reconcileOnce, type ReconcilerDeps } from '../../src/fleet/reconciler.js';
import type { AgentPort } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';
import { NATS_URL, natsReachable } from '../support/services.js';

const up = await natsReachable();

describe.skipIf(!up)('the reconciler and a resume queued already', () => {
  const names = fleetNames(`recdup_${process.pid}_${Date.now().toString(36)}`);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-reconcile-dup-'));
  const logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const log = {
    info: (obj: object, msg: string) => logs.push({ level: 'info', obj: { ...obj }, msg }),
    warn: (obj: object, msg: string) => logs.push({ level: 'warn', obj: { ...obj }, msg }),
    error: (obj: object, msg: string) => logs.push({ level: 'error', obj: { ...obj }, msg }),
  };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let state: State;
  let calls = 0;
  // A model call that never answers, so the run stays `running` with no new event.
  const agents: AgentPort = {
    call: (_req, signal) => {
      calls += 1;
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    },
  };
  let engine: ReturnType<typeof createEngine>;
  let running: Promise<unknown>;

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    await ensureWorkQueue(jsm, names);
    state = await openState(`sqlite:///${join(dir, 'state.db')}`, { projectRoot: dir });
    engine = createEngine({ ledger: state.ledger, agents, worker: 'w-silent' });
    const p = definePipeline('silent', agentStep('think', 'm:think'));
    running = engine.run(p.plan, 'x', { runId: 'silent-1' });
    await vi.waitFor(() => expect(calls).toBe(1));
  });

  afterAll(async () => {
    await engine.cancel('silent-1', 'test over').catch(() => {});
    await running.catch(() => {});
    await state.close();
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const deps = (): ReconcilerDeps => ({
    js: jetstream(nc),
    jsm,
    names,
    readModels: state.readModels,
    log,
    // Far enough ahead that the run's last event is stale.
    now: () => Date.now() + 3_600_000,
    isDriving: () => false,
  });

  it('a first round queues a resume and says so; once taken, a second round in the window queues none and says it was queued', async () => {
    const [run] = await state.readModels.listRuns({ status: 'running', limit: 10 });
    expect(run).toMatchObject({ runId: 'silent-1', status: 'running' });

    expect(await reconcileOnce(deps(), 1_000)).toBe(1);
    expect(await queuedFor(jsm, names, 'silent-1')).toBe(1);
    const said = logs.filter((l) => l.obj.run_id === 'silent-1');
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 'warn', obj: { head_seq: run!.headSeq } });
    expect(said[0]!.msg).toMatch(/re-enqueued$/);

    // Another worker takes the resume (a work queue removes it on ack); the run stays silent.
    const consumer = await jetstream(nc).consumers.get(names.stream, names.consumer);
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg?.subject).toBe(workSubject(names, 'resume', 'silent-1'));
    await msg!.ackAck();
    expect(await queuedFor(jsm, names, 'silent-1')).toBe(0);

    logs.length = 0;
    expect(await reconcileOnce(deps(), 1_000)).toBe(0);
    expect(await queuedFor(jsm, names, 'silent-1')).toBe(0);
    expect(logs).toEqual([
      {
        level: 'info',
        obj: expect.objectContaining({ run_id: 'silent-1', head_seq: run!.headSeq }),
        msg: 'run is running with no event for a while; a resume for it was queued already',
      },
    ]);
  });
});
