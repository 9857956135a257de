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
 *   resume that came before its start) is redelivered after a delay.
 * - The reconciler re-enqueues runs that are `running` in the ledger, have had no event for a
 *   while, and have no message in the queue: their owner went silent (a crashed `flujo run`, a
 *   message lost by NATS). Its publishes are de-duplicated by run and head seq.
 * - Committed events are published on `flujo.events.<run>` by the ledger the caller hands in
 *   (publishCommits, src/adapters/nats/events.ts).
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

import {
  parseWorkMessage,
  queuedFor,
  cancelledSubject,
  resultsSubject,
  runOfToken,
  workSubject,
  type FleetNames,
  type WorkMessage,
} from '../adapters/nats/work.js';
import { EngineError, ErrorCode, ExitCode, LedgerConflictError } from '../errors.js';
import type { ReadModels } from '../projections/readModels.js';
import type { Plan } from '../dsl/ir.js';
import type { Engine, RunOptions } from '../runtime/engine.js';
import { runJson } from '../runtime/resultJson.js';
import type { RunResult } from '../runtime/summary.js';

/** The logging the worker needs (pino's Logger fits). */
export interface WorkerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LoadedRunPipeline {
  readonly plan: Plan;
  /** The file relative to the project root, recorded in RunStarted. */
  readonly source: string;
  readonly engine: Engine;
}

export interface WorkerOptions {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly readModels: ReadModels;
  readonly names: FleetNames;
  /** Loads a pipeline (a file relative to the project root; undefined: the default one). */
  loadPipeline(file: string | undefined): Promise<LoadedRunPipeline>;
  /** The pipeline file a run recorded, when it is still there. */
  recordedSource(runId: string): Promise<string | undefined>;
  /** An engine that needs no pipeline: cancels. */
  readonly engine: Engine;
  /** A start message's context and budget (with the project's budgets) as run options. */
  runOptions(
    plan: Plan,
    message: WorkMessage & { kind: 'start' },
  ): Omit<RunOptions, 'runId' | 'source'>;
  readonly log: WorkerLog;
  /** Messages handled at once (default 4). */
  readonly concurrency?: number;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  /** Re-enqueue a running run after this long without an event (ms; 0: never). */
  readonly reconcileAfterMs?: number;
  /** How often the reconciler looks (ms, default a quarter of reconcileAfterMs, at most 30 s). */
  readonly reconcileEveryMs?: number;
  readonly now?: () => number;
}

export interface Worker {
  /** Resolves once the worker has stopped (after stop()). */
  readonly stopped: Promise<void>;
  /** Stops pulling; runs being driven are detached and their messages redelivered at once. */
  stop(): Promise<void>;
  /** Messages handled so far, by outcome. */
  readonly counts: Readonly<Record<'acked' | 'terminated' | 'retried' | 'left', number>>;
}

/**
 * What becomes of a message: acked (its run is at rest), terminated (it can never succeed),
 * retried after a delay, or left alone — its run was taken over by a worker that got the same
 * message again, which will ack it (an ack from here would ack that worker's delivery).
 */
type Outcome =
  | { kind: 'ack' }
  | { kind: 'term'; reason: string }
  | { kind: 'retry'; delayMs: number }
  | { kind: 'leave' };

const RETRY_MS = 2_000;
/** Retries back off (2, 4, 8 … s) up to this, so a ledger outage of minutes is ridden out. */
const MAX_RETRY_MS = 60_000;
const retryDelay = (deliveries: number) =>
  Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** Math.max(0, Math.min(deliveries - 1, 10)));
const atRest = (status: string) => status !== 'running';

/** Thrown when the worker stops between taking a message and starting its run. */
class Stopping extends Error {}
/** Deliveries of a resume or cancel whose run is not (yet) in the ledger before it is refused. */
const NOT_FOUND_DELIVERIES = 5;

export function startWorker(options: WorkerOptions): Worker {
  const { js, jsm, nc, log, names } = options;
  const concurrency = options.concurrency ?? 4;
  const now = options.now ?? Date.now;
  const counts = { acked: 0, terminated: 0, retried: 0, left: 0 };
  const abort = new AbortController();
  const engines = new Set<Engine>([options.engine]);
  /** Messages being handled here, per run (a start and a cancel of one run may overlap). */
  const driving = new Map<string, number>();
  /** The engine driving each run here: a cancel goes to it, so it stops the run's calls at once. */
  const drivers = new Map<string, Engine>();
  let inFlight = 0;
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
      let text = JSON.stringify(value);
      if (Buffer.byteLength(text) > maxPayload(nc)) {
        // Too big for one NATS message (a large output): the outcome without outputs; the
        // ledger has them (flujo lens show).
        const { output: _o, steps: _s, ...rest } = value;
        text = JSON.stringify({ ...rest, output_truncated: true });
      }
      nc.publish(resultsSubject(names, runId), text);
    } catch (e) {
      log.warn({ run_id: runId, err: (e as Error).message }, 'could not publish the result');
    }
  };

  async function execute(m: WorkMessage): Promise<RunResult> {
    switch (m.kind) {
      case 'start': {
        const loaded = await options.loadPipeline(m.body.pipeline);
        engines.add(loaded.engine);
        if (abort.signal.aborted) throw new Stopping();
        drivers.set(m.runId, loaded.engine);
        return loaded.engine.run(loaded.plan, m.body.input ?? '', {
          ...options.runOptions(loaded.plan, m),
          runId: m.runId,
          source: loaded.source,
        });
      }
      case 'resume': {
        const loaded = await options.loadPipeline(await options.recordedSource(m.runId));
        engines.add(loaded.engine);
        if (abort.signal.aborted) throw new Stopping();
        drivers.set(m.runId, loaded.engine);
        return loaded.engine.resume(loaded.plan, m.runId, {
          ...('input' in m.body ? { humanInput: m.body.input ?? null } : {}),
          answeredBy: m.body.answered_by ?? 'nats',
          ...(m.body.question !== undefined ? { question: m.body.question } : {}),
          ...(m.body.allow_changed_pipeline ? { allowChangedPlan: true } : {}),
        });
      }
      case 'cancel': {
        // The engine driving the run here, if one is: it stops the run's calls at once.
        const engine = drivers.get(m.runId) ?? options.engine;
        const result = await engine.cancel(m.runId, m.body.reason);
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

  /** What to do with a message whose work threw. */
  function outcomeOfError(
    m: WorkMessage,
    e: unknown,
    deliveries: number,
    lastDelivery: boolean,
  ): Outcome {
    if (e instanceof Stopping) return { kind: 'retry', delayMs: 0 };
    if (e instanceof EngineError) {
      if (
        e.code === ErrorCode.RUN_NOT_FOUND &&
        m.kind !== 'start' &&
        deliveries < NOT_FOUND_DELIVERIES &&
        !lastDelivery
      )
        // The run's start may still be on its way: look again a few times, then give up.
        return { kind: 'retry', delayMs: RETRY_MS };
      const permanent =
        e.exitCode === ExitCode.config ||
        e.exitCode === ExitCode.import ||
        e.exitCode === ExitCode.validation ||
        e.code === ErrorCode.USAGE ||
        e.code === ErrorCode.RUN_NOT_FOUND ||
        e.code === ErrorCode.RUN_NOT_RESUMABLE ||
        e.code === ErrorCode.HUMAN_INPUT_REJECTED ||
        e.code === ErrorCode.PLAN_CHANGED ||
        e.code === ErrorCode.NONDETERMINISM ||
        e.code === ErrorCode.LEDGER_CORRUPT ||
        // An input or context the ledger cannot record (ADR 40) is refused, not retried.
        e.code === ErrorCode.LEDGER_ENCODE;
      if (permanent) return { kind: 'term', reason: `${e.code}: ${stripCode(e.message)}` };
    }
    if (lastDelivery)
      return {
        kind: 'term',
        reason: `gave up after the last delivery (${deliveries}): ${String(e)}; publish the message again with a new message id once the cause is fixed`,
      };
    return { kind: 'retry', delayMs: retryDelay(deliveries) };
  }

  /**
   * A message whose run another writer got to first (a conflict or a fenced append): the run is
   * reported as it stands when it is at rest (the message's work is done), an answer that lost
   * is refused, and a run still being driven elsewhere is left to that worker.
   */
  async function outcomeOfTakeover(
    m: WorkMessage,
    e: EngineError,
  ): Promise<{ outcome: Outcome; report?: Record<string, unknown> }> {
    const message = stripCode(e.message);
    if (m.kind === 'resume' && 'input' in m.body) {
      const now = await options.engine.result(m.runId).catch(() => undefined);
      return {
        outcome: { kind: 'term', reason: `${e.code}: the answer lost a race` },
        report: {
          kind: m.kind,
          run_id: m.runId,
          ...(now ? { status: now.status } : {}),
          error: {
            code: e.code,
            message: `the run changed while this answer was being recorded (another answer or worker got there first), so it was not recorded; look at the run and answer again if it still asks (${message})`,
          },
        },
      };
    }
    const now = await options.engine.result(m.runId);
    if (atRest(now.status))
      return { outcome: { kind: 'ack' }, report: { kind: m.kind, ...runJson(now) } };
    return { outcome: { kind: 'leave' } };
  }

  /** Settles a message, then tells whoever waits on the run: a reported outcome is settled. */
  async function settle(
    msg: JsMsg,
    runId: string | undefined,
    outcome: Outcome,
    report?: Record<string, unknown>,
  ): Promise<void> {
    if (outcome.kind === 'ack') {
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
      msg.term(outcome.reason.slice(0, 500));
      // A terminated message stays in a work-queue stream on NATS 2.9 (later servers drop it):
      // remove it, so the queue (and the reconciler's look at it) holds only live work.
      await nc.flush().catch(() => {});
      await jsm.streams.deleteMessage(names.stream, msg.seq, false).catch(() => {});
      counts.terminated += 1;
    } else if (outcome.kind === 'retry') {
      msg.nak(outcome.delayMs);
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

  async function handle(msg: JsMsg): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    const lastDelivery = deliveries >= options.maxDeliver;
    let m: WorkMessage;
    try {
      m = parseWorkMessage(names, msg.subject, msg.data);
    } catch (e) {
      const message = stripCode((e as Error).message);
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
    log.info({ run_id: m.runId, kind: m.kind, delivery: deliveries }, 'work message received');
    let beat: NodeJS.Timeout | undefined;
    const beatAgain = () => {
      beat = setTimeout(() => {
        msg.working();
        beatAgain();
      }, beatMs);
    };
    beatAgain();
    driving.set(m.runId, (driving.get(m.runId) ?? 0) + 1);
    const t0 = performance.now();
    let outcome: Outcome;
    let report: Record<string, unknown> | undefined;
    try {
      const result = await execute(m);
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
      const takenOver =
        e instanceof LedgerConflictError ||
        (e instanceof EngineError && e.code === ErrorCode.LEDGER_FENCED);
      // A start of a run already recorded and paused (a redelivery whose ack was lost, a start
      // published again after the de-duplication window): its work is done; report the run.
      const startOfPaused =
        m.kind === 'start' && e instanceof EngineError && e.code === ErrorCode.RUN_NOT_RESUMABLE;
      let settled: { outcome: Outcome; report?: Record<string, unknown> } | undefined;
      try {
        if (takenOver) settled = await outcomeOfTakeover(m, e);
        else if (startOfPaused) {
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
      outcome = settled?.outcome ?? outcomeOfError(m, e, deliveries, lastDelivery);
      report = settled?.report;
      const code = e instanceof EngineError ? e.code : 'INTERNAL';
      const message = stripCode((e as Error).message ?? String(e));
      const level = outcome.kind === 'term' ? 'error' : outcome.kind === 'retry' ? 'warn' : 'info';
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
    } finally {
      clearTimeout(beat);
      const left = (driving.get(m.runId) ?? 1) - 1;
      if (left > 0) driving.set(m.runId, left);
      else {
        driving.delete(m.runId);
        drivers.delete(m.runId);
      }
    }
    await settle(msg, m.runId, outcome, report);
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
        await sleep(RETRY_MS, abort.signal);
        continue;
      }
      if (!msg) continue;
      if (abort.signal.aborted) {
        msg.nak(0);
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

  async function reconcileOnce(staleMs: number): Promise<number> {
    let sent = 0;
    const runs = await options.readModels.listRuns({ status: 'running', limit: 1000 });
    for (const r of runs) {
      if (driving.has(r.runId) || now() - r.updatedAt < staleMs) continue;
      if ((await queuedFor(jsm, names, r.runId)) > 0) continue;
      await js.publish(workSubject(names, 'resume', r.runId), '{}', {
        msgID: `reconcile:${r.runId}:${r.headSeq}`,
      });
      sent += 1;
      log.warn(
        { run_id: r.runId, head_seq: r.headSeq, idle_ms: now() - r.updatedAt },
        'run is running with no event and no queued message for a while: re-enqueued',
      );
    }
    return sent;
  }

  async function reconcileLoop(staleMs: number): Promise<void> {
    const every = options.reconcileEveryMs ?? Math.min(30_000, Math.max(100, staleMs / 4));
    while (!abort.signal.aborted) {
      await sleep(every, abort.signal);
      if (abort.signal.aborted) return;
      await reconcileOnce(staleMs).catch((e: unknown) =>
        log.warn({ err: (e as Error).message }, 'reconciling failed; trying again later'),
      );
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

  async function beatLoop(): Promise<void> {
    while (!abort.signal.aborted) {
      await refreshBeat();
      await sleep(15_000, abort.signal);
    }
  }

  const loops = Array.from({ length: concurrency }, () => pullLoop());
  loops.push(beatLoop());
  if (options.reconcileAfterMs) loops.push(reconcileLoop(options.reconcileAfterMs));
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
      // Runs being driven stop where they stand (resumable); their handlers nak the messages. A
      // run that reaches its engine after a detach (its pipeline was still loading) is caught by
      // the next one.
      do {
        await Promise.all([...engines].map((e) => e.detach()));
        if (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
      } while (inFlight > 0);
      await stopped;
    },
  };
}

/** The server's largest message, less room for headers. */
function maxPayload(nc: NatsConnection): number {
  return (nc.info?.max_payload ?? 1 << 20) - 4096;
}

function stripCode(message: string): string {
  return message.replace(/^\[[A-Z_]+\] /, '');
}

function statusOf(e: unknown): { status?: string } {
  // A refused answer changes nothing: the run is still paused (as `flujo resume --json` says).
  if (e instanceof EngineError && e.code === ErrorCode.HUMAN_INPUT_REJECTED)
    return { status: 'paused' };
  const status = (e as EngineError | undefined)?.details as { status?: unknown } | undefined;
  return typeof status?.status === 'string' ? { status: status.status } : {};
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
