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
 *
 * Over 400 lines: its functions share one closure over the worker's live state (held messages,
 * connection, options). ADR 86's spent-message and sweep code is the part to move to ./spent.ts
 * next, passing that state explicitly; not done yet.
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

import {
  cancelledSubject,
  parseWorkMessage,
  resultsSubject,
  runOfToken,
  type WorkMessage,
} from '../adapters/nats/work.js';
import { EngineError, ErrorCode, LedgerConflictError, withoutCode } from '../errors.js';
import type { Engine, Retried } from '../runtime/engine.js';
import { runJson } from '../runtime/resultJson.js';
import type { RunResult } from '../runtime/summary.js';
import {
  outcomeOfError,
  RETRY_MS,
  retryDelay,
  settledByRun,
  statusOf,
  Stopping,
  takeoverOutcome,
  unlessStopped,
  type Outcome,
  type Settled,
} from './outcomes.js';
import { publishDeadLetter, watchMaxDeliveries } from './deadLetter.js';
import { pause, reconcileLoop } from './reconciler.js';
import { failedBefore, handBack, terminate, type ReleaseDeps } from './release.js';
import { clearSpent, listSpent, recordSpent, type SpentRecord } from './spent.js';
import type { Worker, WorkerOptions } from './types.js';
import { jsonText } from '../jsonText.js';

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
  const release: ReleaseDeps = { nc, js, jsm, names, log, now, maxDeliver: options.maxDeliver };
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

  const publishResult = (runId: string, value: Record<string, unknown>) => {
    try {
      let text = jsonText(value) ?? 'null';
      if (Buffer.byteLength(text) > maxPayload(nc)) {
        // Too big for one NATS message (a large output): the outcome without outputs; the
        // ledger has them (flujo lens show).
        const { output: _o, steps: _s, ...rest } = value;
        text = jsonText({ ...rest, output_truncated: true }) ?? 'null';
      }
      nc.publish(resultsSubject(names, runId), text);
    } catch (e) {
      log.warn({ run_id: runId, err: (e as Error).message }, 'could not publish the result');
    }
  };

  async function execute(
    m: WorkMessage,
    retried: Retried | undefined,
    held: Held,
  ): Promise<RunResult> {
    switch (m.kind) {
      case 'start': {
        const loaded = await unlessStopped(options.loadPipeline(m.body.pipeline), abort.signal);
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
        const source = await options.recordedSource(m.runId);
        const loaded = await unlessStopped(options.loadPipeline(source), abort.signal);
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

  /** Settles a message, then tells whoever waits on the run: a reported outcome is settled. */
  async function settle(
    msg: JsMsg,
    runId: string | undefined,
    outcome: Outcome,
    report?: Record<string, unknown>,
    held?: Held,
  ): Promise<void> {
    if (outcome.kind === 'ack' && held?.spent) {
      // JetStream gave up on this delivery while it was handled here (ADR 86): the ack is not
      // awaited (the server no longer holds the delivery), and the message is removed if the
      // watcher left it.
      msg.ack();
      await nc.flush().catch(() => {});
      await jsm.streams.deleteMessage(names.stream, msg.seq, false).catch(() => {});
      counts.acked += 1;
    } else if (outcome.kind === 'ack') {
      // Double-acked: once this returns, the queue no longer holds the message.
      await msg
        .ackAck()
        .catch((e: unknown) =>
          log.warn(
            { run_id: runId, err: (e as Error).message },
            'the ack was not confirmed; a redelivery will find the run at rest',
          ),
        );
      counts.acked += 1;
    } else if (outcome.kind === 'term') {
      await terminate(release, msg, outcome, report);
      counts.terminated += 1;
    } else if (outcome.kind === 'retry') {
      await handBack(release, msg, outcome.delayMs, {
        spent: held?.spent ?? false,
        ...(held?.failed !== undefined ? { failed: held.failed } : {}),
      });
      counts.retried += 1;
    } else {
      counts.left += 1;
    }
    if (report && runId !== undefined) {
      // Let the settle reach the server before anyone acts on the report.
      if (outcome.kind === 'retry') await nc.flush().catch(() => {});
      publishResult(runId, { message: msg.seq, ...report });
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
      if (held.recording) {
        await held.recording;
        await clearSpent(jsm, names, first.seq).catch((e: unknown) =>
          log.warn(
            { seq: first.seq, err: (e as Error).message },
            'could not remove a spent record; the sweep drops it once its message is gone',
          ),
        );
      }
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
      if (e instanceof Swept) {
        // Held past the bound and kept as a dead letter meanwhile (ADR 86): running it now would
        // race a retry of that dead letter. Its message is gone; nothing to settle.
        log.error(
          { run_id: m.runId, kind: m.kind, seq: msg.seq },
          'work message kept as a dead letter while this handling held it past the bound; not run here',
        );
        outcome = { kind: 'leave' };
      } else {
        const takenOver =
          e instanceof LedgerConflictError ||
          (e instanceof EngineError && e.code === ErrorCode.LEDGER_FENCED);
        // A start of a run already recorded and paused (a redelivery whose ack was lost, a start
        // published again after the de-duplication window): its work is done; report the run.
        const startOfPaused =
          m.kind === 'start' && e instanceof EngineError && e.code === ErrorCode.RUN_NOT_RESUMABLE;
        let settled: Settled | undefined;
        try {
          if (takenOver) {
            // An answer that lost is refused even when the run cannot be read just now.
            const answer = m.kind === 'resume' && 'input' in m.body;
            const read = options.engine.result(m.runId);
            settled = takeoverOutcome(
              m,
              e,
              answer ? await read.catch(() => undefined) : await read,
            );
          } else if (startOfPaused) {
            const now = await options.engine.result(m.runId);
            if (now.status === 'paused')
              settled = { outcome: { kind: 'ack' }, report: { kind: m.kind, ...runJson(now) } };
          }
        } catch (again) {
          log.warn(
            { run_id: m.runId, err: (again as Error).message },
            'could not read the run after a conflict',
          );
          settled = { outcome: { kind: 'retry', delayMs: retryDelay(deliveries) } };
        }
        // Handlings count, not deliveries (ADR 86): a redelivery this handling absorbed (its
        // heartbeats were late) failed nothing. Deliveries of earlier copies of the message (one
        // queued again on its last delivery) count as they were carried over.
        const failed = failedBefore(held.msg) + held.msg.info.deliveryCount - held.absorbed;
        held.failed = failed;
        outcome = settled?.outcome ?? outcomeOfError(m, e, failed, failed >= options.maxDeliver);
        report = settled?.report;
        if (outcome.kind === 'term' && outcome.dead) {
          // Before keeping a dead letter: a run the ledger shows ended (or at rest, for what this
          // message asked) settles the message — the failure came after its work was done.
          const run = await options.engine.result(m.runId).catch(() => undefined);
          const why = run
            ? settledByRun(
                { kind: m.kind, answer: answers(m) },
                { status: run.status, idleMs: 0 },
                undefined,
              )
            : undefined;
          if (run && why) {
            log.warn(
              { run_id: m.runId, kind: m.kind, status: run.status, reason: why },
              'work message out of deliveries but its run is at rest; reported, not a dead letter',
            );
            outcome = { kind: 'ack' };
            report = { kind: m.kind, ...runJson(run) };
          }
        }
        const code = e instanceof EngineError ? e.code : 'INTERNAL';
        const message = withoutCode((e as Error).message ?? String(e));
        const level =
          outcome.kind === 'term' ? 'error' : outcome.kind === 'retry' ? 'warn' : 'info';
        log[level](
          {
            run_id: m.runId,
            kind: m.kind,
            code,
            err: message,
            delivery: deliveries,
            outcome: outcome.kind,
          },
          takenOver
            ? outcome.kind === 'leave'
              ? 'run taken over by another worker; its message is left to that worker'
              : 'run taken over by another worker'
            : settled
              ? 'run already at rest'
              : 'work message failed',
        );
        if (outcome.kind === 'term' && !report)
          report = { kind: m.kind, run_id: m.runId, ...statusOf(e), error: { code, message } };
      }
    } finally {
      clearTimeout(beat);
      const left = (driving.get(m.runId) ?? 1) - 1;
      if (left > 0) driving.set(m.runId, left);
      else {
        driving.delete(m.runId);
        drivers.delete(m.runId);
      }
    }
    await settle(held.msg, m.runId, outcome, report, held);
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

  /**
   * A message JetStream stopped delivering while this worker handles it (ADR 86): its handling
   * goes on and settles it. It is taken out of the work stream now when what it asked is in the
   * ledger already (a start whose run is recorded, a resume of a run that is not waiting for
   * this answer), so that if this worker dies the reconciler adopts the run; otherwise it stays
   * for the handling to settle, and is looked at again at each heartbeat.
   */
  async function adopt(held: Held): Promise<{ reason: string; remove: boolean }> {
    held.spent = true;
    held.since ??= now();
    const m = held.work;
    const run = m ? await options.readModels.getRun(m.runId).catch(() => null) : null;
    const recorded =
      m && run
        ? settledByRun(
            { kind: m.kind, answer: answers(m) },
            { status: run.status, idleMs: 0 },
            Number.POSITIVE_INFINITY,
          )
        : undefined;
    if (!recorded || !run) {
      // Kept for this handling: recorded where every worker looks, so that if this worker dies
      // or the handling wedges, the sweep keeps it as a dead letter after the bound.
      held.recording ??= recordSpent(js, names, {
        seq: held.msg.seq,
        runId: m?.runId ?? runOfSubject(held.msg.subject),
        kind: m?.kind ?? 'start',
        worker: name,
        since: held.since,
      }).catch((e: unknown) =>
        log.warn(
          { seq: held.msg.seq, err: (e as Error).message },
          `could not record a spent message in ${names.deadStream}; if this worker dies before settling it, it stays in ${names.stream}`,
        ),
      );
      await held.recording;
      return {
        reason: `a worker is still handling it (${name}, since ${new Date(held.since).toISOString()}): the handling settles it`,
        remove: false,
      };
    }
    if (!held.removed) {
      await jsm.streams.deleteMessage(names.stream, held.msg.seq, false).catch(() => {});
      held.removed = true;
      if (held.recording) {
        await held.recording;
        await clearSpent(jsm, names, held.msg.seq).catch(() => {});
      }
    }
    return {
      reason: `a worker is still handling it, and the ledger has what it asked (run ${run.status}): removed from the work queue, the handling settles the run`,
      remove: true,
    };
  }

  /** Whether a message out of deliveries is in hand: here, at another worker, or by its run. */
  /**
   * Whether run `runId`'s read models show the work `m` asked for settled (ADR 86): ended, at rest
   * for what it asked, or running with an event within --reconcile-after. The reason, or undefined.
   */
  async function settledInReadModels(runId: string, m: WorkMessage): Promise<string | undefined> {
    const run = await options.readModels.getRun(runId).catch(() => null);
    return run
      ? settledByRun(
          { kind: m.kind, answer: answers(m) },
          { status: run.status, idleMs: Math.max(0, now() - run.updatedAt) },
          options.reconcileAfterMs ? options.reconcileAfterMs : undefined,
        )
      : undefined;
  }

  async function inHand(spent: {
    seq: number;
    subject: string;
    data: Uint8Array;
    runId: string;
  }): Promise<{ reason: string; remove: boolean } | undefined> {
    const mine = handling.get(spent.seq);
    if (mine) return adopt(mine);
    try {
      // The worker handling it, if one is, answers (and takes it in hand as above).
      const reply = await nc.request(handlingSubject(spent.seq), '', {
        timeout: Math.min(10_000, Math.max(1_000, options.ackWaitMs)),
      });
      const r = reply.json<{ reason?: string }>();
      return { reason: r.reason ?? 'a worker is still handling it', remove: false };
    } catch {
      // Nobody is handling it (or its worker is stalled past the wait): ask the ledger.
    }
    let m: WorkMessage;
    try {
      m = parseWorkMessage(names, spent.subject, spent.data);
    } catch {
      return undefined;
    }
    const why = await settledInReadModels(spent.runId, m);
    return why ? { reason: why, remove: true } : undefined;
  }

  const handlingSubject = (seq: number | string) =>
    `${names.namespace}.control.handling.${names.stream}.${seq}`;
  // Another worker asks whether a message out of deliveries is being handled here.
  const asked = nc.subscribe(handlingSubject('*'), {
    callback: (_err, msg) => {
      const seq = Number(msg.subject.split('.').at(-1));
      const held = handling.get(seq);
      if (!held) return;
      void adopt(held)
        .then((r) => msg.respond(JSON.stringify({ reason: r.reason })))
        .catch((e: unknown) =>
          log.warn(
            { err: (e as Error).message },
            'could not answer whether a message is handled here',
          ),
        );
    },
  });

  const exhausted = watchMaxDeliveries({ nc, js, jsm, names, log, now, inHand });

  /**
   * Throws Swept when the message `held` settles was taken in hand after its deliveries ran out
   * and is no longer in the work stream though this handling did not remove it: the sweep kept
   * it as a dead letter (the handling held it past the bound).
   */
  async function unlessSwept(held: Held): Promise<void> {
    if (!held.spent || held.removed) return;
    const stored = await jsm.streams
      .getMessage(names.stream, { seq: held.msg.seq })
      .catch(() => null);
    if (!stored) throw new Swept();
  }

  /**
   * One look at the spent records (ADR 86, "the bound"): a message held past the bound whose
   * message is still queued is settled by its run when the ledger says so, else kept as a dead
   * letter naming its holder. Every worker sweeps; the dead letter's message id makes it one.
   */
  async function sweep(): Promise<void> {
    const records = await listSpent(jsm, names);
    for (const rec of records) {
      if (abort.signal.aborted) return;
      if (now() - rec.since < spentAfterMs) continue;
      await sweepOne(rec).catch((e: unknown) =>
        log.warn(
          { seq: rec.seq, run_id: rec.runId, err: (e as Error).message },
          'could not sweep a spent message; trying again at the next sweep',
        ),
      );
    }
  }

  async function sweepOne(rec: SpentRecord): Promise<void> {
    const stored = await jsm.streams.getMessage(names.stream, { seq: rec.seq }).catch(() => null);
    if (!stored) {
      // Settled or removed already; its record outlived it.
      await clearSpent(jsm, names, rec.seq);
      return;
    }
    let m: WorkMessage;
    try {
      m = parseWorkMessage(names, stored.subject, stored.data);
    } catch {
      return;
    }
    // Its holder: this worker, another that answers (still handling it, wedged), or none.
    const mine = handling.get(rec.seq);
    let holder: 'here' | 'answered' | 'silent' = mine ? 'here' : 'silent';
    if (mine) {
      if ((await adopt(mine)).remove) return;
    } else {
      try {
        await nc.request(handlingSubject(rec.seq), '', {
          timeout: Math.min(10_000, Math.max(1_000, options.ackWaitMs)),
        });
        holder = 'answered';
      } catch {
        // nobody handles it: its worker died (or is stalled past the wait)
      }
    }
    const still = await jsm.streams.getMessage(names.stream, { seq: rec.seq }).catch(() => null);
    if (!still) {
      await clearSpent(jsm, names, rec.seq);
      return;
    }
    const at = { run_id: m.runId, kind: m.kind, seq: rec.seq, held_by: rec.worker };
    if (holder === 'silent') {
      // As for an advisory nobody answers: the run may have what it asked (the worker died
      // after its run's first commit, before a heartbeat took the message out).
      const why = await settledInReadModels(m.runId, m);
      if (why) {
        await jsm.streams.deleteMessage(names.stream, rec.seq, false).catch(() => {});
        await clearSpent(jsm, names, rec.seq);
        log.warn(
          { ...at, reason: why },
          'work message held past the bound by a worker that does not answer, but its run is in hand; removed, not a dead letter',
        );
        return;
      }
    }
    const since = new Date(rec.since).toISOString();
    const reason = `held by worker ${rec.worker} since ${since}; its handling did not settle within ${Math.round(spentAfterMs / 1000)} s (${holder === 'silent' ? 'that worker does not answer: it died or is stalled' : 'that worker still handles it: the handling is wedged'}); JetStream had stopped delivering it; publish it again (flujo fleet dead-letters retry) if its run still needs it`;
    const dead = { kind: m.kind, runId: m.runId, reason, code: 'MAX_DELIVERIES' };
    const copy = {
      subject: stored.subject,
      seq: stored.seq,
      data: stored.data,
      headers: stored.header,
      deliveries: options.maxDeliver,
    };
    const to = await publishDeadLetter(js, names, copy, dead, now);
    log.error(
      { ...at, dead_letter: to, reason },
      'work message held past the bound after its deliveries ran out; kept as a dead letter',
    );
    await jsm.streams.deleteMessage(names.stream, rec.seq, false).catch(() => {});
    await clearSpent(jsm, names, rec.seq);
  }

  async function sweepLoop(): Promise<void> {
    const every = Math.min(30_000, Math.max(200, Math.floor(spentAfterMs / 4)));
    while (!abort.signal.aborted) {
      await pause(every, abort.signal);
      if (abort.signal.aborted) return;
      await sweep().catch((e: unknown) =>
        log.warn({ err: (e as Error).message }, 'could not read the spent records'),
      );
    }
  }

  async function beatLoop(): Promise<void> {
    while (!abort.signal.aborted) {
      await refreshBeat();
      await pause(15_000, abort.signal);
    }
  }

  const loops = Array.from({ length: concurrency }, () => pullLoop());
  loops.push(beatLoop());
  loops.push(sweepLoop());
  const staleMs = options.reconcileAfterMs;
  if (staleMs)
    loops.push(
      reconcileLoop(
        {
          js,
          jsm,
          names,
          readModels: options.readModels,
          log,
          now,
          isDriving: (id) => driving.has(id),
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
      asked.unsubscribe();
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

/** A message being handled here, through its newest delivery (ADR 81, ADR 86). */
interface Held {
  msg: JsMsg;
  /** Deliveries after the first that came while it was handled here: none of them failed. */
  absorbed: number;
  /** JetStream gave up on it while it was handled here (MAX_DELIVERIES): settle it by hand. */
  spent: boolean;
  /** Spent, and taken out of the work stream already (its work is in the ledger). */
  removed?: boolean;
  /** The message, once read. */
  work?: WorkMessage;
  /** Handlings that failed, this one included, once it failed. */
  failed?: number;
  /** When it was taken in hand here after its deliveries ran out (ms since the epoch). */
  since?: number;
  /** Its spent record being published (ADR 86, "the bound"): set once. */
  recording?: Promise<void>;
}

/** The sweep kept the message as a dead letter while this handling held it past the bound. */
class Swept extends Error {}

/** The run a work subject names (for a message not read yet). */
function runOfSubject(subject: string): string {
  return runOfToken(subject.split('.')[3] ?? '');
}

/**
 * A work message `flujo fleet dead-letters retry` published (its `Flujo-Retried-From` and
 * `Flujo-Retried-By` headers): recorded on the event it causes (ADR 87).
 */
function retriedOf(msg: JsMsg): Retried | undefined {
  const from = msg.headers?.get('Flujo-Retried-From');
  if (!from) return undefined;
  const by = msg.headers?.get('Flujo-Retried-By') || 'unknown';
  return { deadLetter: from.slice(0, 200), by: by.slice(0, 200) };
}

/** Whether a message carries an answer for a paused run. */
const answers = (m: WorkMessage) => m.kind === 'resume' && 'input' in m.body;

/** The server's largest message, less room for headers. */
function maxPayload(nc: NatsConnection): number {
  return (nc.info?.max_payload ?? 1 << 20) - 4096;
}
