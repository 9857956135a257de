/**
 * One attempt of one call, bounded: it settles exactly once, with the agent's reply, or as
 * TIMEOUT after the step's per-attempt timeout, or as ABORTED as soon as it is aborted — even when
 * the agent (a function step) ignores its signal, so abandoned or stopped work never holds a run.
 *
 * Settling is a plain callback, not a race of promises: an attempt is on the path of every step,
 * and a per-call AbortController, listener and Promise.race cost more than the step's own
 * bookkeeping (bench/engine). Only agents that can stop their work get a controller of their own.
 */
import { asRecordedFact } from '../actors/frozen.js';
import { DEFAULT_REPLY_DEPTH } from '../actors/replyDepths.js';
import { LedgerEncodeError } from '../errors.js';
import type { ErrorInfo, EventData, NewEvent } from '../events/catalogue.js';
import type { AgentReply } from '../ports.js';
import { redactSecrets } from '../redact.js';
import { billedFields, replyFields } from './agentReply.js';
import { longTimer, type LongTimer } from './longTimer.js';

/**
 * An error as the ledger records it. Its text is made well-formed (a lone surrogate becomes
 * U+FFFD): the ledger refuses ill-formed text, and a failure that cannot be recorded would stop
 * the run where it stands. Secrets in it are masked (src/redact.ts): the ledger keeps it forever.
 */
export function errorInfo(e: unknown, fallbackCode = 'STEP_ERROR'): ErrorInfo {
  const err = e as { code?: unknown; message?: unknown; retryable?: unknown };
  return {
    code: typeof err?.code === 'string' ? err.code.toWellFormed() : fallbackCode,
    message: redactSecrets(
      (typeof err?.message === 'string' ? err.message : String(e)).toWellFormed(),
    ),
    retryable: typeof err?.retryable === 'boolean' ? err.retryable : true,
  };
}

/** A retryable failure of an attempt that did not run to its end (ABORTED, TIMEOUT). */
export const failure = (message: string, code: string) =>
  Object.assign(new Error(message), { code, retryable: true });

export interface Settle<T> {
  reply(value: T): void;
  fail(error: unknown): void;
}

export interface Attempt {
  /** Settles the attempt as ABORTED (once) and stops the agent's work if it can be stopped. */
  abort(reason: Error): void;
}

/**
 * Starts `work` and settles `to` once. `controller` is aborted on abort and on timeout; without
 * one (a function step) the work runs on and its late result is dropped.
 */
export function startAttempt<T>(
  work: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal,
  controller: AbortController | null,
  timeoutMs: number | undefined,
  to: Settle<T>,
  onSettled: () => void,
): Attempt {
  let open = true;
  let timer: LongTimer | undefined;
  const close = (): boolean => {
    if (!open) return false;
    open = false;
    timer?.cancel();
    onSettled();
    return true;
  };
  const attempt: Attempt = {
    abort(reason) {
      if (close()) to.fail(failure(`aborted: ${String(reason.message ?? '')}`, 'ABORTED'));
      controller?.abort(reason);
    },
  };
  if (timeoutMs) {
    // Longer than one setTimeout keeps (24.8 days) too (ADR 116).
    timer = longTimer(() => {
      // Settle as a timeout first; the abort then only stops the work.
      if (close()) to.fail(failure(`attempt timed out after ${timeoutMs} ms`, 'TIMEOUT'));
      controller?.abort(new Error('timeout'));
    }, timeoutMs);
  }
  let running: Promise<T>;
  try {
    running = work(controller?.signal ?? signal);
  } catch (e) {
    running = Promise.reject(e);
  }
  running.then(
    (value) => {
      if (close()) to.reply(value);
    },
    (e: unknown) => {
      if (close()) to.fail(e);
    },
  );
  return attempt;
}

/** Who an attempt's fact is for: the call's path, attempt and idempotency key. */
interface AttemptRef {
  readonly path: string;
  readonly attempt: number;
  readonly key: string;
}

/**
 * The recorded fact of a reply, or of its failure when its output cannot be recorded (not plain
 * data): a step error the machine handles, so the run fails (or falls back) with it recorded.
 * The output is the run's own copy as the ledger will read it back (ADR 40): the agent's code
 * may keep and change the object it returned. Built field by field: conditional spreads cost more.
 */
export function respondedFact(
  ref: AttemptRef,
  reply: AgentReply,
  latencyMs: number,
  depth = DEFAULT_REPLY_DEPTH,
): NewEvent {
  // The fields beside the output, as the ledger records them (ADR 118): a port's reply that
  // cannot be recorded fails its attempt, recorded, with what it cost when that can be.
  const fields = replyFields(reply);
  // A reply that says it did not learn what it used (`usageUnknown`) says $0 and 0 tokens: when it
  // fails here its cost is left out, unknown, so it is counted at its reservation (ADR 55), as
  // its AgentResponded would have been, never released at $0 (review).
  const unknown = (reply as { usageUnknown?: unknown } | null)?.usageUnknown === true;
  if ('problem' in fields) {
    // The call was made: its cost is recorded when the reply says both cost and usage as the
    // ledger records them; otherwise it is unknown (usageUnknown), counted at its reservation.
    const billed = unknown ? {} : billedFields(reply);
    return failedFact(
      ref,
      Object.assign(new Error(`the agent port's reply cannot be recorded: ${fields.problem}`), {
        code: 'AGENT_REPLY_INVALID',
        retryable: false,
        ...(billed.usage ? { costMicros: billed.costMicros, usage: billed.usage } : {}),
      }),
    );
  }
  const checked = fields.ok;
  let output: unknown;
  try {
    // Two levels down in its record (the envelope's data, then output), and one more in the
    // StepCompleted of each map, parallel or router that gathers it (`depth`, from the step's
    // place in the plan): a reply nested too deep is refused here, where it fails the step, not
    // at a gatherer's commit, where it failed the driver and left the run running with the call
    // unanswered. Live replies only: a recorded one is folded as it is.
    // A value that holds itself is named a cycle, where it does (asRecordedFact).
    output = asRecordedFact(reply.output ?? null, 'output', depth);
  } catch (e) {
    // The call was made: what it cost is recorded with its failure, as for a rejected reply.
    return failedFact(
      ref,
      unknown
        ? notRecordable(e)
        : Object.assign(notRecordable(e), { costMicros: checked.costMicros, usage: checked.usage }),
    );
  }
  const data: EventData<'AgentResponded'> = {
    path: ref.path,
    attempt: ref.attempt,
    key: ref.key,
    output,
    usage: checked.usage,
    costMicros: checked.costMicros,
    model: checked.model,
    latencyMs,
  };
  if (checked.text !== undefined) data.text = checked.text;
  if (checked.finishReason !== undefined) data.finishReason = checked.finishReason;
  if (checked.repair) data.repair = { ...checked.repair, errors: [...checked.repair.errors] };
  if (checked.raw !== undefined) data.raw = checked.raw;
  return { type: 'AgentResponded', data };
}

/** A reply the ledger cannot record fails its attempt for good: the same code would return it again. */
function notRecordable(e: unknown): Error {
  const what =
    e instanceof LedgerEncodeError
      ? `${e.path}: ${e.reason}`
      : `reading it threw: ${e instanceof Error ? e.message : String(e)}`;
  return Object.assign(
    new Error(
      `the reply cannot be recorded: ${what}; a step's output must be plain data (JSON values, Uint8Array, bigint)`,
    ),
    { code: 'OUTPUT_NOT_RECORDABLE', retryable: false },
  );
}

/** The recorded fact of a failed attempt, with what it still cost when the error says. */
export function failedFact(ref: AttemptRef, e: unknown): NewEvent {
  return {
    type: 'AgentFailed',
    data: {
      path: ref.path,
      attempt: ref.attempt,
      key: ref.key,
      error: errorInfo(e),
      ...billedFields(e),
    },
  };
}
