/**
 * What the in-process spent-record tests (ADR 86: spentRace, spentTwoSweepers) share: a namespace
 * of their own on the real NATS with its work queue, a real in-memory ledger, a log that keeps what
 * the fleet code says, the sweep's deps, read models with a gate run inside the sweep's read of the
 * run, and the ways a work message becomes spent (queued only, or held by a real delivery).
 * Assertions stay in the tests; this only sets up and reads back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';

import {
  ensureWorkQueue,
  fleetNames,
  workSubject,
  type WorkMessage,
} from '../../src/adapters/nats/work.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import { listDeadLetters } from '../../src/fleet/deadLetters.js';
import { settle } from '../../src/fleet/release.js';
import { recordSpent } from '../../src/fleet/spent.js';
import type { SweepDeps } from '../../src/fleet/sweep.js';
import type { ReadModels } from '../../src/projections/readModels.js';
import { createEngine } from '../../src/runtime/engine.js';
import { NATS_URL } from '../support/services.js';

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

/**
 * Registers the beforeAll/afterAll of one describe: call it in the describe's body. `namespace`
 * and `dirPrefix` name what it creates (the pid and time are added); `beforeClose` runs first in
 * afterAll (e.g. to let runs still waiting in a step go before the ledger closes).
 */
export function spentHarness(options: {
  readonly namespace: string;
  readonly dirPrefix: string;
  readonly beforeClose?: () => void;
}) {
  const names = fleetNames(`${options.namespace}_${process.pid}_${Date.now().toString(36)}`);
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix));
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let state: State;
  const logs: LogEntry[] = [];
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
    options.beforeClose?.();
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Records `seq` (a start of `runId`) as held by `worker` for a minute. */
  async function markSpent(seq: number, runId: string, worker: string): Promise<void> {
    await recordSpent(jetstream(nc), names, {
      seq,
      runId,
      kind: 'start',
      worker,
      since: Date.now() - 60_000,
    });
  }

  return {
    names,
    log,
    get nc() {
      return nc;
    },
    get jsm() {
      return jsm;
    },
    get js() {
      return jetstream(nc);
    },
    get state() {
      return state;
    },
    /** What the fleet code logged, the messages only, in order. */
    messages: (): string[] => logs.map((l) => l.msg),

    /** The read models, with `gate` run once inside the first getRun, after its read. */
    gated(gate: () => Promise<void>): ReadModels {
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
    },

    sweepDeps: (readModels: ReadModels, name = 'sweeper'): SweepDeps => ({
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
    }),

    markSpent,

    /** A start of `runId` queued and recorded as held by (dead) worker `worker`; its seq. */
    async spentStart(runId: string, worker = 'w-gone'): Promise<number> {
      const work = await jetstream(nc).publish(workSubject(names, 'start', runId), '{"input":"x"}');
      await markSpent(work.seq, runId, worker);
      return work.seq;
    },

    /** A start of `runId` queued and delivered once to the caller (null if none came). */
    async deliverStart(runId: string): Promise<JsMsg | null> {
      const js = jetstream(nc);
      await js.publish(workSubject(names, 'start', runId), '{"input":"x"}');
      const consumer = await js.consumers.get(names.stream, names.consumer);
      return consumer.next({ expires: 5_000 });
    },

    /** The handling's settle of the spent message `msg` it holds, acked; the counts it kept. */
    async settleSpent(msg: JsMsg, runId: string, work: WorkMessage, removed: boolean) {
      const counts = { acked: 0, terminated: 0, retried: 0, left: 0 };
      await settle(
        { nc, js: jetstream(nc), jsm, names, log, now: Date.now, maxDeliver: 2, counts },
        msg,
        runId,
        { kind: 'ack' },
        undefined,
        { spent: true, removed, work },
      );
      return counts;
    },

    /** The engine recording into this ledger as `worker`. */
    engine: (worker: string) => createEngine({ ledger: state.ledger, worker }),

    deadLetters: (runId: string) => listDeadLetters({ jsm, js: jetstream(nc), names }, { runId }),

    /** The work message at `seq`, or null if it is no longer in the queue. */
    workMessage: (seq: number) => jsm.streams.getMessage(names.stream, { seq }).catch(() => null),
  };
}

export type SpentHarness = ReturnType<typeof spentHarness>;
