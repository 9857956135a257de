/**
 * What the engine is given and what it answers with: its options, a run's and a resume's options,
 * and a replay's result. Kept apart from engine.ts so the modules that carry out one of its
 * operations (start, cancel, replay) can name them without importing the engine.
 */
import type { AgentPort, Clock, LedgerStore } from '../ports.js';

export interface EngineOptions {
  readonly ledger: LedgerStore;
  /** Calls model agents; function steps (`fn:<name>`) run in-process without it. */
  readonly agents?: AgentPort;
  readonly clock?: Clock;
  readonly newRunId?: () => string;
  /** This process's name in RunClaimed events. */
  readonly worker?: string;
  /** Record a snapshot of the run's state every this many events, so resume need not refold from zero (default 500; 0 turns it off). */
  readonly snapshotEvery?: number;
  /**
   * At most this many agent calls of one run whose outcome is not yet recorded (default: no cap;
   * a parallel's or a map's calls all go at once). Calls past it wait in the order they were
   * decided. A crash repeats at most this many calls on resume: 1 makes it at most one (ADR 41).
   */
  readonly maxCallsInFlight?: number;
  /**
   * The largest input, context or answer a run takes, in bytes as recorded (default 8 MiB;
   * ADR 100). Larger ones, ones nested deeper than 200 levels and non-finite numbers are refused
   * with InputLimitError before anything is recorded.
   */
  readonly maxInputBytes?: number;
}

export interface RunOptions {
  readonly runId?: string;
  readonly context?: Record<string, unknown>;
  /** The pipeline's file relative to the project root, recorded so `flujo resume` can find it. */
  readonly source?: string;
  /** Run-level limits; a call that could exceed them is not made. Money in micro-dollars. */
  readonly budget?: { readonly costMicros?: number; readonly tokens?: number };
  /** The start came from a retried dead letter (ADR 87): recorded in RunStarted (or RunResumed). */
  readonly retried?: Retried;
}

/** A fleet dead letter published again (`<NS>_DEAD:<seq>`) and who did it (ADR 87). */
export interface Retried {
  readonly deadLetter: string;
  readonly by: string;
}

export interface ResumeOptions {
  /** The answer to the pending human input request. */
  readonly humanInput?: unknown;
  /** Who answered, recorded with the answer. */
  readonly answeredBy?: string;
  /**
   * Which open question the answer is for, by its path (RunResult.questions): several can be
   * open at once (parallel branches, map items). Default: the oldest.
   */
  readonly question?: string;
  /** Resume even though the pipeline's fingerprint differs from the one the run started with. */
  readonly allowChangedPlan?: boolean;
  /** The resume came from a retried dead letter (ADR 87): recorded in RunResumed. */
  readonly retried?: Retried;
}

export interface ReplayResult {
  readonly runId: string;
  readonly identical: boolean;
  readonly events: number;
  readonly output?: unknown;
  /**
   * Recorded decisions taken as recorded although today's differ in form only: a hitl message
   * recorded before ADR 40 lists an object's keys in another order (ADR 93). Absent when none.
   */
  readonly asRecorded?: readonly { readonly seq: number; readonly reason: 'message_key_order' }[];
  readonly firstDivergence?: {
    readonly seq: number;
    readonly expected: unknown;
    readonly recorded: unknown;
  };
}
