/**
 * What a fleet worker does with a message whose handling threw (./worker.ts): a message the sweep
 * kept as a dead letter meanwhile is left; a run taken over, or a start of a run already paused,
 * is reported as it stands; otherwise the decision is outcomeOfError's (./outcomes.ts), counting
 * handlings, not deliveries, and a give-up whose run is at rest is reported, not kept (ADR 86).
 */
import type { WorkMessage } from '../adapters/nats/work.js';
import { EngineError, ErrorCode, LedgerConflictError, withoutCode } from '../errors.js';
import type { Engine } from '../runtime/engine.js';
import { questionJson, runJson } from '../runtime/resultJson.js';
import type { Question } from '../runtime/summary.js';
import { gaveUpWords, waitingWords, workOut } from './answerWaits.js';
import {
  answers,
  outcomeOfError,
  retryDelay,
  settledByRun,
  statusOf,
  takeoverOutcome,
  waitedMs,
  type Outcome,
  type Settled,
} from './outcomes.js';
import { failedBefore } from './release.js';
import { Swept, type Held } from './spent.js';
import type { WorkerLog } from './types.js';

export interface FailureDeps {
  /** An engine that reads runs (the worker's own). */
  readonly engine: Engine;
  readonly log: WorkerLog;
  readonly maxDeliver: number;
}

/**
 * The outcome of handling `m` (held as `held`, first delivered `deliveries` times) that threw
 * `e`, and what to report on `<ns>.results.<run>`; logs the decision.
 */
export async function failureOutcome(
  deps: FailureDeps,
  m: WorkMessage,
  e: unknown,
  held: Held,
  deliveries: number,
): Promise<Settled> {
  if (e instanceof Swept) {
    // Held past the bound and kept as a dead letter meanwhile (ADR 86): running it now would
    // race a retry of that dead letter. Its message is gone; nothing to settle.
    deps.log.error(
      { run_id: m.runId, kind: m.kind, seq: held.msg.seq },
      'work message kept as a dead letter while this handling held it past the bound; not run here',
    );
    return { outcome: { kind: 'leave' } };
  }
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
      const read = deps.engine.result(m.runId);
      settled = takeoverOutcome(m, e, answer ? await read.catch(() => undefined) : await read);
    } else if (startOfPaused) {
      const now = await deps.engine.result(m.runId);
      if (now.status === 'paused')
        settled = { outcome: { kind: 'ack' }, report: { kind: m.kind, ...runJson(now) } };
    }
  } catch (again) {
    deps.log.warn(
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
  let outcome: Outcome =
    settled?.outcome ?? outcomeOfError(m, e, failed, failed >= deps.maxDeliver);
  let report = settled?.report;
  // An answer refused while its run still has work out (ADR 133): tried again until it rests.
  const out = settled ? undefined : workOut(m, e);
  if (out && outcome.kind === 'term' && outcome.dead) {
    // Its tries ran out; but a run that rested since the last one takes it now: once more.
    const run = await deps.engine.result(m.runId).catch(() => undefined);
    if (run?.status === 'paused') outcome = { kind: 'retry', delayMs: 0 };
  }
  if (out && outcome.kind === 'retry')
    // Not an outcome: a note the sender's wait keeps, to say why there is none yet (release.ts).
    report = {
      kind: m.kind,
      run_id: m.runId,
      status: 'running',
      error: {
        code: ErrorCode.RUN_NOT_RESUMABLE,
        message: waitingWords(m.runId, out, {
          failed,
          maxDeliver: deps.maxDeliver,
          delayMs: outcome.delayMs,
        }),
      },
    };
  if (outcome.kind === 'term' && outcome.dead) {
    // Before keeping a dead letter: a run the ledger shows ended (or at rest, for what this
    // message asked) settles the message — the failure came after its work was done.
    const run = await deps.engine.result(m.runId).catch(() => undefined);
    const why = run
      ? settledByRun(
          { kind: m.kind, answer: answers(m) },
          { status: run.status, idleMs: 0 },
          undefined,
        )
      : undefined;
    if (run && why) {
      deps.log.warn(
        { run_id: m.runId, kind: m.kind, status: run.status, reason: why },
        'work message out of deliveries but its run is at rest; reported, not a dead letter',
      );
      outcome = { kind: 'ack' };
      report = { kind: m.kind, ...runJson(run) };
    }
  }
  const code = e instanceof EngineError ? e.code : 'INTERNAL';
  const message = !out
    ? withoutCode((e as Error).message ?? String(e))
    : outcome.kind === 'retry'
      ? (report?.error as { message: string }).message
      : gaveUpWords(m.runId, out, failed, waitedMs(failed));
  const level = outcome.kind === 'term' ? 'error' : outcome.kind === 'retry' ? 'warn' : 'info';
  deps.log[level](
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
        : out
          ? outcome.kind === 'retry'
            ? 'answer came while its run still has work out; tried again until the run pauses'
            : 'answer came while its run still has work out, and its tries ran out'
          : 'work message failed',
  );
  if (outcome.kind === 'term' && !report) {
    // An invalid blueprint's findings, as `flujo run --json` gives them under `error.errors`.
    const findings = e instanceof EngineError ? e.details.errors : undefined;
    const errors = Array.isArray(findings) ? { errors: findings as unknown[] } : {};
    // A bare resume of a paused run: the question it waits on, so the client can name it.
    const pause = e instanceof EngineError ? (e.details.pause as Question | undefined) : undefined;
    report = {
      kind: m.kind,
      run_id: m.runId,
      ...statusOf(e),
      ...(pause ? { pause: questionJson(pause) } : {}),
      error: { code, message, ...errors },
    };
  }
  return report ? { outcome, report } : { outcome };
}
