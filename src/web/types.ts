/**
 * What the web lens needs from its host: the ledger, its read models and a way to answer a
 * paused run. The CLI wires these from the project (`flujo lens serve`); tests wire them directly.
 */
import type { ReadModels } from '../projections/readModels.js';
import type { Clock, LedgerStore } from '../ports.js';

export interface LensBackend {
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  /**
   * Answers one of the run's open questions and drives it on; resolves when the run rests again.
   * A rejected answer throws EngineError HUMAN_INPUT_REJECTED (details.reasons) and leaves the
   * run paused.
   */
  resume(
    runId: string,
    input: unknown,
    answeredBy: string,
    /** The open question the answer is for (its path); the oldest when absent. */
    question?: string,
  ): Promise<{ readonly status: string }>;
  /**
   * Cancels a run that has not ended and resolves with its status after (`cancelled`, or how it
   * ended if it ended first): `TaskClient.cancelTask` or `engine.cancel`. A run this process drives
   * is stopped before RunCancelled is recorded. Without it, the server cancels through an engine
   * of its own over `ledger`, as `flujo cancel` does: a run driven elsewhere (this process
   * included) then stops at its next append.
   */
  cancel?(runId: string, reason?: string, by?: string): Promise<{ readonly status: string }>;
  /** A resume that outlived its request failed later (the run page shows it from the ledger). */
  onBackgroundError?(runId: string, error: unknown): void;
  readonly clock?: Clock;
}

export interface LensServerOptions {
  /** Default 127.0.0.1. Any other address requires `token`. */
  readonly host?: string;
  /** Default 7878; 0 picks a free port. */
  readonly port?: number;
  readonly token?: string;
  /**
   * Why the state is open read-only (ADR 94: a role or user that may only read): answers and
   * cancels are refused with 403 READ_ONLY, saying this.
   */
  readonly readOnly?: string;
}
