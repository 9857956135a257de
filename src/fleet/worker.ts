/**
 * A fleet worker: pulls start, resume and cancel messages from the JetStream work queue and runs
 * them against the shared ledger. Any worker can continue any run, because everything about a
 * run is in the ledger; the message only says which run to look at (DESIGN, "Scale").
 *
 * - A message is acked once its run is at rest (completed, paused, failed or cancelled) and
 *   recorded; while the run is driven the worker sends in-progress heartbeats, so a long model
 *   call is not redelivered. A worker that dies holds no ack: JetStream redelivers the message
 *   after the ack wait, and the next worker resumes the run from its ledger (a reply already
 *   recorded is never asked for again; a call in flight is retried with its idempotency key).
 * - A message that can never succeed (bad JSON, an unknown pipeline, an answer the schema
 *   rejects, a run that has ended) is terminated, and its outcome is published on
 *   `flujo.results.<run>` with the error. One that may succeed later (the ledger unreachable, a
 *   resume that came before its start) is redelivered after a delay; after its last delivery it
 *   is kept as a dead letter on `flujo.dead.<kind>.<run>` (./deadLetter.ts). One handed back
 *   on its last delivery (the worker stopping) is queued again as a new message (./release.ts).
 * - The reconciler re-enqueues runs that are `running` in the ledger, have had no event for a
 *   while, and have no message in the queue: their owner went silent (a crashed `flujo run`, a
 *   message lost by NATS). Its publishes are de-duplicated by run and head seq.
 * - Committed events are published on `flujo.events.<run>` by the ledger the caller hands in
 *   (publishCommits, src/adapters/nats/events.ts).
 * - A message JetStream stopped delivering while a worker handles it (ADR 86) is settled by that
 *   handling; ./spent.ts takes it in hand and records it, ./sweep.ts keeps one held past the
 *   bound as a dead letter. What a handling that threw comes to is ./failure.ts's decision; how a
 *   message is settled and its outcome published, ./release.ts's.
 */
import type { JsMsg } from '@nats-io/jetstream';

import {
  cancelledSubject,
  parseWorkMessage,
  runOfToken,
  type WorkMessage,
} from '../adapters/nats/work.js';
import { EngineError, ErrorCode, withoutCode } from '../errors.js';
import type { Engine, Retried } from '../runtime/engine.js';
import { runJson } from '../runtime/resultJson.js';
import type { RunResult } from '../runtime/summary.js';
import { watchMaxDeliveries } from './deadLetter.js';
import { failureOutcome, type FailureDeps } from './failure.js';
import { goneFileRefusal, goneFileWords } from './goneFile.js';
import { answers, RETRY_MS, Stopping, unlessStopped, type Outcome } from './outcomes.js';
import { pause, reconcileLoop } from './reconciler.js';
import { handBack, retriedOf, settle, type SettleDeps } from './release.js';
import { keepSpent, type Held, type SpentDeps } from './spent.js';
import { sweepLoop } from './sweep.js';
import type { Worker, WorkerOptions } from './types.js';

export type { LoadedRunPipeline, Worker, WorkerLog, WorkerOptions } from './types.js';

export function startWorker(options: WorkerOptions): Worker {
  const { js, jsm, nc, log, names } = options;
  const concurrency = options.concurrency ?? 4;
  const now = options.now ?? Date.now;
  const counts = { acked: 0, terminated: 0, retried: 0, left: 0 };
  const name = options.name ?? `worker-${process.pid}`;
  /**
   * How long a handling may hold a message JetStream stopped delivering before it is kept as a
   * dead letter (ADR 86, "the bound"): past it the handling is wedged, or its worker died.
   */
  const spentAfterMs =
    options.spentAfterMs ?? Math.max(options.reconcileAfterMs ?? 0, 10 * options.ackWaitMs);
  const abort = new AbortController();
  const engines = new Set<Engine>([options.engine]);
  /** Messages being handled here, per run (a start and a cancel of one run may overlap). */
  const driving = new Map<string, number>();
  /** The engine driving each run here: a cancel goes to it, so it stops the run's calls at once. */
  const drivers = new Map<string, Engine>();
  let inFlight = 0;
  /**
   * The delivery each message being handled here is settled through, by stream sequence. A
   * message JetStream delivers again while this worker still handles it (its heartbeats came
   * late: the process was busy, e.g. evaluating a pipeline's imports) goes to the handling in
   * progress instead of a second one, which would race the run against itself (a second claim
   * fencing the first, the call in flight made again).
   */
  const handling = new Map<number, Held>();
  const release: SettleDeps = {
    nc,
    js,
    jsm,
    names,
    log,
    now,
    maxDeliver: options.maxDeliver,
    counts,
  };
  const failDeps: FailureDeps = { engine: options.engine, log, maxDeliver: options.maxDeliver };
  /**
   * Heartbeats go every third of the consumer's ack wait as the server has it (another worker or
   * an operator may have set it), and never less often than this worker's own setting asks.
   */
  let beatMs = Math.max(200, Math.floor(options.ackWaitMs / 3));
  const refreshBeat = async () => {
    try {
      const info = await jsm.consumers.info(names.stream, names.consumer);
      const serverMs = Math.floor(Number(info.config.ack_wait ?? 0) / 1e6);
      const ms = serverMs > 0 ? Math.min(serverMs, options.ackWaitMs) : options.ackWaitMs;
      beatMs = Math.max(200, Math.floor(ms / 3));
    } catch {
      // keep the last interval
    }
  };

  async function execute(
    m: WorkMessage,
    retried: Retried | undefined,
    held: Held,
  ): Promise<RunResult> {
    switch (m.kind) {
      case 'start': {
        // A start delivered again for a run it recorded (its ack lost, a crash) takes the run up:
        // loaded as a resume is (ADR 107), so a run recorded before a later rule is not refused.
        const recorded = await options.runExists(m.runId);
        // Its name, for a blueprint with no name: (ADR 142); a damaged RunStarted is the engine's.
        const name = recorded
          ? (await options.recordedPipeline(m.runId).catch(() => undefined))?.name
          : undefined;
        const loaded = await unlessStopped(
          options.loadPipeline(m.body.pipeline, recorded, name),
          abort.signal,
        );
        engines.add(loaded.engine);
        if (abort.signal.aborted) throw new Stopping();
        await unlessSwept(held);
        drivers.set(m.runId, loaded.engine);
        return loaded.engine.run(loaded.plan, m.body.input ?? '', {
          ...options.runOptions(loaded.plan, m),
          runId: m.runId,
          source: loaded.source,
          ...(retried ? { retried } : {}),
        });
      }
      case 'resume': {
        const { source, name, gone } = await options.recordedPipeline(m.runId);
        // The file the message names (ADR 149), checked as a start's; else the recorded one, and
        // if that moved or was renamed, refused as the local resume is (ADR 138, 146), never run
        // under pipeline.yaml, which is the file of a run that recorded none.
        const named = m.body.pipeline;
        if (gone && named === undefined) throw goneFileRefusal(m.runId, gone, answers(m));
        // Lenient for the recorded blueprint only: a changed one is loaded with every rule.
        const recorded = !m.body.allow_changed_pipeline;
        const loaded = await unlessStopped(
          options.loadPipeline(named ?? source, recorded, name),
          abort.signal,
        );
        engines.add(loaded.engine);
        if (abort.signal.aborted) throw new Stopping();
        await unlessSwept(held);
        drivers.set(m.runId, loaded.engine);
        return loaded.engine.resume(loaded.plan, m.runId, {
          ...('input' in m.body ? { humanInput: m.body.input ?? null } : {}),
          answeredBy: m.body.answered_by ?? 'nats',
          ...(m.body.question !== undefined ? { question: m.body.question } : {}),
          ...(m.body.allow_changed_pipeline ? { allowChangedPlan: true } : {}),
          ...(retried ? { retried } : {}),
        });
      }
      case 'cancel': {
        // The engine driving the run here, if one is: it stops the run's calls at once.
        const engine = drivers.get(m.runId) ?? options.engine;
        await unlessSwept(held);
        const result = await engine.cancel(m.runId, m.body.reason, undefined, retried);
        if (result.status === 'cancelled') {
          // The worker driving the run, if another one is, stops its calls now rather than at
          // its next append (which the ledger would refuse anyway).
          nc.publish(cancelledSubject(names, m.runId));
          return result;
        }
        // As `flujo cancel`, a run that ended otherwise is refused; one already cancelled is not
        // (above), so a redelivered cancel whose ack was lost reports what the first one did.
        throw new EngineError(
          ErrorCode.RUN_NOT_RESUMABLE,
          `run ${m.runId} already ended (${result.status}); there is nothing to cancel and nothing was recorded`,
          { details: { runId: m.runId, status: result.status } },
        );
      }
    }
  }

  async function handle(first: JsMsg): Promise<void> {
    const held: Held = { msg: first, absorbed: 0, spent: false };
    handling.set(first.seq, held);
    try {
      await handleHeld(held);
    } finally {
      handling.delete(first.seq);
      // Settled (or swept): its spent record, if it has one, goes too.
      await spent.forget(held);
    }
  }

  /** Handles `held.msg`, which a redelivery to this worker may replace meanwhile (pullLoop). */
  async function handleHeld(held: Held): Promise<void> {
    const msg = held.msg;
    const deliveries = msg.info.deliveryCount;
    let m: WorkMessage;
    try {
      m = parseWorkMessage(names, msg.subject, msg.data);
    } catch (e) {
      const message = withoutCode((e as Error).message);
      log.error({ subject: msg.subject, err: message }, 'bad work message');
      const named = msg.subject.split('.')[3];
      await settle(
        release,
        msg,
        named ? runOfToken(named) : undefined,
        { kind: 'term', reason: message },
        {
          error: { code: ErrorCode.USAGE, message },
        },
      );
      return;
    }
    held.work = m;
    log.info({ run_id: m.runId, kind: m.kind, delivery: deliveries }, 'work message received');
    let beat: NodeJS.Timeout | undefined;
    const beatAgain = () => {
      beat = setTimeout(() => {
        held.msg.working();
        // Spent and kept for this handling (ADR 86): it leaves the queue as soon as the ledger
        // has what it asked (the run's first commit), so that if this worker dies from then on,
        // the reconciler adopts the run.
        if (held.spent && !held.removed) void adopt(held).catch(() => {});
        beatAgain();
      }, beatMs);
    };
    beatAgain();
    driving.set(m.runId, (driving.get(m.runId) ?? 0) + 1);
    const t0 = performance.now();
    let outcome: Outcome;
    let report: Record<string, unknown> | undefined;
    try {
      const result = await execute(m, retriedOf(msg), held);
      if (result.status === 'running') {
        // Detached by stop(): another worker continues at once.
        outcome = { kind: 'retry', delayMs: 0 };
      } else {
        outcome = { kind: 'ack' };
        report = { kind: m.kind, ...runJson(result) };
      }
      log.info(
        {
          run_id: m.runId,
          kind: m.kind,
          status: result.status,
          delivery: deliveries,
          ms: Math.round(performance.now() - t0),
        },
        'work message handled',
      );
    } catch (e) {
      ({ outcome, report } = await failureOutcome(failDeps, m, e, held, deliveries));
    } finally {
      clearTimeout(beat);
      const left = (driving.get(m.runId) ?? 1) - 1;
      if (left > 0) driving.set(m.runId, left);
      else {
        driving.delete(m.runId);
        drivers.delete(m.runId);
      }
    }
    await settle(release, held.msg, m.runId, outcome, report, held);
  }

  async function pullLoop(): Promise<void> {
    const consumer = await js.consumers.get(names.stream, names.consumer);
    while (!abort.signal.aborted) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: 1_000 });
      } catch (e) {
        if (abort.signal.aborted || nc.isClosed()) return;
        log.warn({ err: (e as Error).message }, 'pulling from the work queue failed; trying again');
        await pause(RETRY_MS, abort.signal);
        continue;
      }
      if (!msg) continue;
      const held = handling.get(msg.seq);
      if (held) {
        held.msg = msg;
        held.absorbed += 1;
        msg.working();
        log.warn(
          { subject: msg.subject, delivery: msg.info.deliveryCount },
          'work message delivered again while this worker still handles it (its heartbeats were late: the process was busy); the handling in progress goes on with it',
        );
        continue;
      }
      if (abort.signal.aborted) {
        await handBack(release, msg, 0);
        return;
      }
      inFlight += 1;
      try {
        await handle(msg);
      } finally {
        inFlight -= 1;
      }
    }
  }

  // A run cancelled by another worker: stop driving it here at once (its ledger is closed).
  const cancels = nc.subscribe(`${names.namespace}.control.cancelled.*`, {
    callback: (_err, msg) => {
      const token = msg.subject.split('.')[3];
      if (!token) return;
      const runId = runOfToken(token);
      const engine = drivers.get(runId);
      if (engine)
        void engine
          .cancel(runId)
          .catch((e: unknown) =>
            log.warn(
              { run_id: runId, err: (e as Error).message },
              'could not stop a cancelled run',
            ),
          );
    },
  });

  const spentDeps: SpentDeps = {
    nc,
    js,
    jsm,
    names,
    readModels: options.readModels,
    log,
    now,
    name,
    ackWaitMs: options.ackWaitMs,
    maxDeliver: options.maxDeliver,
    reconcileAfterMs: options.reconcileAfterMs,
    spentAfterMs,
    handling,
    signal: abort.signal,
  };
  const spent = keepSpent(spentDeps);
  const { adopt, unlessSwept } = spent;
  const exhausted = watchMaxDeliveries({ nc, js, jsm, names, log, now, inHand: spent.inHand });

  async function beatLoop(): Promise<void> {
    while (!abort.signal.aborted) {
      await refreshBeat();
      await pause(15_000, abort.signal);
    }
  }

  const loops = Array.from({ length: concurrency }, () => pullLoop());
  loops.push(beatLoop());
  loops.push(sweepLoop({ ...spentDeps, adopt }));
  const staleMs = options.reconcileAfterMs;
  if (staleMs)
    loops.push(
      reconcileLoop(
        {
          ...spentDeps,
          isDriving: (id) => driving.has(id),
          // A run whose file is gone is left, not adopted under pipeline.yaml (ADR 146); a
          // RunStarted that cannot be read is the resume's to report.
          async unadoptable(id) {
            const gone = (await options.recordedPipeline(id).catch(() => undefined))?.gone;
            return gone ? { file: gone.file, words: goneFileWords(id, gone, false) } : undefined;
          },
        },
        staleMs,
        options.reconcileEveryMs ?? Math.min(30_000, Math.max(100, staleMs / 4)),
        abort.signal,
      ),
    );
  const stopped = Promise.allSettled(loops).then((all) => {
    for (const r of all)
      if (r.status === 'rejected')
        log.error({ err: String(r.reason) }, 'worker loop ended with an error');
  });

  return {
    stopped,
    counts,
    async stop() {
      abort.abort();
      cancels.unsubscribe();
      exhausted.unsubscribe();
      spent.unsubscribe();
      // Runs being driven stop where they stand (resumable); their handlers nak the messages. A
      // message whose pipeline is still loading is given back without waiting for the load; a
      // run that reaches its engine after a detach is caught by the next one.
      do {
        await Promise.all([...engines].map((e) => e.detach()));
        if (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
      } while (inFlight > 0);
      await stopped;
    },
  };
}
