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
}
