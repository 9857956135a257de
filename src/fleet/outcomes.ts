/**
 * What a fleet worker does with a message whose work threw: pure decisions over the error, the
 * message and its delivery count (ADR 57). The worker (./worker.ts) carries them out.
 */
import { hasEnded } from '../actors/foldState.js';
import type { WorkMessage } from '../adapters/nats/work.js';
import { EngineError, ErrorCode, ExitCode, withoutCode } from '../errors.js';
import { runJson } from '../runtime/resultJson.js';
import type { RunResult } from '../runtime/summary.js';
import { gaveUpWords, workOut } from './answerWaits.js';
import type { DeadLetter } from './deadLetter.js';

/**
 * What becomes of a message: acked (its run is at rest), terminated (it can never succeed, or
 * `dead`: it might have, but its deliveries ran out — kept on the dead-letter stream), retried
 * after a delay, or left alone — its run was taken over by a worker that got the same message
 * again, which will ack it (an ack from here would ack that worker's delivery).
 */
export type Outcome =
  | { kind: 'ack' }
  | { kind: 'term'; reason: string; dead?: DeadLetter }
  | { kind: 'retry'; delayMs: number }
  | { kind: 'leave' };

/** An outcome and what to publish on `<ns>.results.<run>` about it, if anything. */
export interface Settled {
  readonly outcome: Outcome;
  readonly report?: Record<string, unknown>;
}

export const RETRY_MS = 2_000;
/** Retries back off (2, 4, 8 … s) up to this, so a ledger outage of minutes is ridden out. */
const MAX_RETRY_MS = 60_000;
export const retryDelay = (deliveries: number) =>
  Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** Math.max(0, Math.min(deliveries - 1, 10)));

/** How long a message tried `tries` times waited between its tries, in all (ms). */
export const waitedMs = (tries: number) => {
  let ms = 0;
  for (let d = 1; d < tries; d += 1) ms += retryDelay(d);
  return ms;
};

/** Deliveries of a resume or cancel whose run is not (yet) in the ledger before it is refused. */
const NOT_FOUND_DELIVERIES = 5;

/** Thrown when the worker stops between taking a message and starting its run. */
export class Stopping extends Error {}

/**
 * `work` (a pipeline load), given up with Stopping as soon as `signal` aborts: an import can take
 * seconds (a big import tree, a skill module that connects somewhere) and cannot be aborted, but
 * a stopping worker must hand its message back at once, not after the load.
 */
export function unlessStopped<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(new Stopping());
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** What to do with a message whose work threw (takeovers aside: see takeoverOutcome). */
export function outcomeOfError(
  m: WorkMessage,
  e: unknown,
  deliveries: number,
  lastDelivery: boolean,
): Outcome {
  if (e instanceof Stopping) return { kind: 'retry', delayMs: 0 };
  // A message that would be tried again but has no delivery left goes to the dead letters.
  const giveUp = (): Outcome => {
    const reason = `gave up after the last delivery (${deliveries}): ${String(e)}; publish the message again with a new message id once the cause is fixed`;
    const code = e instanceof EngineError ? e.code : 'INTERNAL';
    return { kind: 'term', reason, dead: { kind: m.kind, runId: m.runId, reason, code } };
  };
  // An answer that came while its run still has other work out (ADR 133): taken once the run
  // rests, so tried again as a retryable failure is; given up, it says why in the fleet's words.
  const out = workOut(m, e);
  if (out) {
    if (!lastDelivery) return { kind: 'retry', delayMs: retryDelay(deliveries) };
    const reason = `gave up after the last delivery (${deliveries}): ${ErrorCode.RUN_NOT_RESUMABLE}: ${gaveUpWords(m.runId, out, deliveries, waitedMs(deliveries))}`;
    const dead = { kind: m.kind, runId: m.runId, reason, code: ErrorCode.RUN_NOT_RESUMABLE };
    return { kind: 'term', reason, dead };
  }
  if (e instanceof EngineError) {
    if (
      e.code === ErrorCode.RUN_NOT_FOUND &&
      m.kind !== 'start' &&
      deliveries < NOT_FOUND_DELIVERIES
    )
      // The run's start may still be on its way: look again a few times, then give up.
      return lastDelivery ? giveUp() : { kind: 'retry', delayMs: RETRY_MS };
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
      // Stored bytes that do not decode, or a run not begun by its RunStarted: the ledger is
      // damaged and stays so; a retry met it again every delivery (QA: about 15 minutes).
      e.code === ErrorCode.LEDGER_DECODE ||
      e.code === ErrorCode.LEDGER_BAD_START ||
      // An input or context the ledger cannot record (ADR 40) is refused, not retried.
      e.code === ErrorCode.LEDGER_ENCODE;
    if (permanent) return { kind: 'term', reason: `${e.code}: ${withoutCode(e.message)}` };
  }
  return lastDelivery ? giveUp() : { kind: 'retry', delayMs: retryDelay(deliveries) };
}

/**
 * A message whose run another writer got to first (a conflict or a fenced append), given the run
 * as it stands now: an answer that lost is refused, the run is reported when it is at rest (the
 * message's work is done), and a run still being driven elsewhere is left to that worker.
 */
export function takeoverOutcome(
  m: WorkMessage,
  e: EngineError,
  now: RunResult | undefined,
): Settled {
  if (m.kind === 'resume' && 'input' in m.body)
    return {
      outcome: { kind: 'term', reason: `${e.code}: the answer lost a race` },
      report: {
        kind: m.kind,
        run_id: m.runId,
        ...(now ? { status: now.status } : {}),
        error: {
          code: e.code,
          message: `the run changed while this answer was being recorded (another answer or worker got there first), so it was not recorded; look at the run and answer again if it still asks (${withoutCode(e.message)})`,
        },
      },
    };
  if (now && now.status !== 'running')
    return { outcome: { kind: 'ack' }, report: { kind: m.kind, ...runJson(now) } };
  return { outcome: { kind: 'leave' } };
}

/** The run's status a refusal's report carries, when the error knows it. */
export function statusOf(e: unknown): { status?: string } {
  // A refused answer changes nothing: the run is still paused (as `flujo resume --json` says).
  if (e instanceof EngineError && e.code === ErrorCode.HUMAN_INPUT_REJECTED)
    return { status: 'paused' };
  const status = (e as EngineError | undefined)?.details as { status?: unknown } | undefined;
  return typeof status?.status === 'string' ? { status: status.status } : {};
}

/** A run as the ledger's read models have it, for settledByRun. */
export interface RunNow {
  readonly status: 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
  /** How long since its last event (ms). */
  readonly idleMs: number;
  /** A question of the run is open (asked, not answered); looked up for an answer only. */
  readonly asks?: boolean;
}

/**
 * Why a work message that has run out of deliveries is not a dead letter, given its run as the
 * ledger has it (ADR 86), or undefined when it is one. A dead letter is a message whose handling
 * failed; deliveries also run out while a healthy handling stalls (ADR 81), and then the ledger
 * shows the message's work done or in hand:
 * - the run ended (a cancel: was cancelled) — whatever the message asked is moot;
 * - the run is paused and the message is a start or a resume without an answer — at rest;
 * - the run is running, has had an event within `liveMs` (a live owner is driving it), and the
 *   message is not a cancel (a cancel of a running run was not recorded) nor an answer to a
 *   question still open (no driver takes an answer: ADR 133, it waits for the run to rest and is
 *   what failed) — its driver settles
 *   it, and if that driver goes silent the reconciler adopts the run (so `liveMs` is the
 *   reconciler's `--reconcile-after`; undefined — no reconciler, or the handling that failed was
 *   the driver — never counts a running run as in hand).
 * A run not in the ledger, a paused run the message answers, a running run asking what the
 * message answers, a quiet run: a dead letter.
 */
export function settledByRun(
  m: { readonly kind: WorkMessage['kind']; readonly answer: boolean },
  run: RunNow | undefined,
  liveMs: number | undefined,
): string | undefined {
  if (!run) return undefined;
  const ended = hasEnded(run.status);
  if (m.kind === 'cancel')
    return run.status === 'cancelled' ? 'its run was cancelled already' : undefined;
  if (ended) return `its run has ended (${run.status})`;
  if (run.status === 'paused')
    return m.answer ? undefined : 'its run is paused, at rest (the message asked nothing more)';
  if (m.answer && run.asks) return undefined;
  if (liveMs !== undefined && run.idleMs < liveMs)
    return `its run is being driven (last event ${Math.round(run.idleMs / 1000)} s ago); its driver settles it, and the reconciler adopts the run if that driver goes silent`;
  return undefined;
}

/** Whether a message carries an answer for a paused run. */
export const answers = (m: WorkMessage) => m.kind === 'resume' && 'input' in m.body;
