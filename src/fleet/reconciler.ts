/**
 * The fleet's reconciler (ADR 57): NATS is only the doorbell, so a run whose message was lost, or
 * that a crashed `flujo run` left behind, is found in the ledger — `running`, no event for a
 * while, no message in the queue — and a resume is queued for it. Publishes are de-duplicated by
 * run and head seq, so several workers noticing one run queue one message.
 */
import { setTimeout as delay } from 'node:timers/promises';

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

import { queuedFor, workSubject, type FleetNames } from '../adapters/nats/work.js';
import type { ReadModels } from '../projections/readModels.js';
import type { WorkerLog } from './types.js';

export interface ReconcilerDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: FleetNames;
  readonly readModels: ReadModels;
  readonly log: WorkerLog;
  readonly now: () => number;
  /** Whether this worker is handling a message of the run right now. */
  isDriving(runId: string): boolean;
  /** Why the run cannot be taken up here (its recorded file is gone), if it cannot. */
  unadoptable?(
    runId: string,
  ): Promise<{ readonly file: string; readonly words: string } | undefined>;
}

/**
 * Queues a resume for each run whose owner went silent for `staleMs`; how many it queued (a
 * publish the queue took as a duplicate is not counted, nor said as a re-enqueue). A run
 * that cannot be taken up here is left, and said so once per head seq (`left`, kept between
 * rounds): a resume would only be refused, again each de-duplication window.
 */
export async function reconcileOnce(
  d: ReconcilerDeps,
  staleMs: number,
  left: Map<string, number> = new Map(),
): Promise<number> {
  let sent = 0;
  const runs = await d.readModels.listRuns({ status: 'running', limit: 1000 });
  const listed = new Set(runs.map((r) => r.runId));
  for (const id of left.keys()) if (!listed.has(id)) left.delete(id);
  for (const r of runs) {
    if (d.isDriving(r.runId) || d.now() - r.updatedAt < staleMs) continue;
    if ((await queuedFor(d.jsm, d.names, r.runId)) > 0) continue;
    const refused = await d.unadoptable?.(r.runId);
    if (refused) {
      if (left.get(r.runId) !== r.headSeq)
        d.log.warn(
          { run_id: r.runId, head_seq: r.headSeq, file: refused.file, err: refused.words },
          'run is running with no event for a while, but the pipeline file it recorded is gone: left, not re-enqueued',
        );
      left.set(r.runId, r.headSeq);
      continue;
    }
    left.delete(r.runId);
    const ack = await d.js.publish(workSubject(d.names, 'resume', r.runId), '{}', {
      msgID: `reconcile:${r.runId}:${r.headSeq}`,
    });
    const seen = { run_id: r.runId, head_seq: r.headSeq, idle_ms: d.now() - r.updatedAt };
    // A duplicate: a resume for this head was queued already (by this worker or another, within
    // the de-duplication window) and has been taken since; nothing new is queued, so none is said.
    if (ack.duplicate) {
      d.log.info(
        seen,
        'run is running with no event for a while; a resume for it was queued already',
      );
      continue;
    }
    sent += 1;
    d.log.warn(seen, 'run is running with no event and no queued message for a while: re-enqueued');
  }
  return sent;
}

/** Reconciles every `everyMs` until `signal` aborts. */
export async function reconcileLoop(
  d: ReconcilerDeps,
  staleMs: number,
  everyMs: number,
  signal: AbortSignal,
): Promise<void> {
  const left = new Map<string, number>();
  while (!signal.aborted) {
    await pause(everyMs, signal);
    if (signal.aborted) return;
    await reconcileOnce(d, staleMs, left).catch((e: unknown) =>
      d.log.warn({ err: (e as Error).message }, 'reconciling failed; trying again later'),
    );
  }
}

/** Waits `ms`, or less when `signal` aborts (never throws). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => {});
}
