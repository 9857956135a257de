/** The web lens backend over a TaskClient: reads the state, answers and cancels via the engine. */
import type { ReadModels } from '../projections/readModels.js';
import type { LedgerStore } from '../ports.js';
import type { TaskClient } from '../tasks/index.js';
import type { LensBackend } from './types.js';

export function taskBackend(
  state: { readonly ledger: LedgerStore; readonly readModels: ReadModels },
  tasks: TaskClient,
  onBackgroundError?: (runId: string, error: unknown) => void,
): LensBackend {
  return {
    ledger: state.ledger,
    readModels: state.readModels,
    resume: (runId, input, answeredBy, question) =>
      tasks.resumeTask(runId, input, {
        answeredBy,
        ...(question !== undefined ? { question } : {}),
      }),
    cancel: (runId, reason, by) => tasks.cancelTask(runId, reason, by),
    ...(onBackgroundError ? { onBackgroundError } : {}),
  };
}
