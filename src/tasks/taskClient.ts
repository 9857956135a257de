/**
 * TaskClient: runs as tasks for applications (a queue of HITL work, dashboards, schedulers) over
 * any store. Reads come from the read models; resume and cancel go through the engine, so an
 * answer is validated against the requested schema before anything is recorded (a rejected one
 * leaves the run paused) and a cancel stops a run driven in this process before it is recorded.
 */
import type { Plan } from '../dsl/ir.js';
import { EngineError, ErrorCode } from '../errors.js';
import type { ReadModels, RunRow, RunStatusRow } from '../projections/readModels.js';
import type { LedgerStore } from '../ports.js';
import type { Engine } from '../runtime/engine.js';
import type { RunResult } from '../runtime/summary.js';

export interface PendingInput {
  readonly path: string;
  readonly step: string;
  readonly message: string;
  readonly inputSchema: unknown;
  readonly requestedAt: number;
}

export interface Task extends RunRow {
  /** What the paused run waits for (its oldest open question); null unless it is paused for a person. */
  readonly pending: PendingInput | null;
  /** Every open question, oldest first (several when parallel branches or map items ask): a `path` is what `resumeTask`'s `question` takes. */
  readonly questions: readonly PendingInput[];
}

export interface TaskQuery {
  readonly status?: RunStatusRow;
  readonly pipeline?: string;
  readonly limit?: number;
  readonly offset?: number;
}

export interface TaskClientOptions {
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  readonly engine: Engine;
  /** The plan a run was started with (e.g. loaded from RunStarted.pipeline.source). */
  planFor(runId: string): Promise<Plan>;
}

export interface TaskClient {
  /** Newest first; `limit` defaults to 50. */
  listTasks(query?: TaskQuery): Promise<RunRow[]>;
  getTask(runId: string): Promise<Task | null>;
  /**
   * Answers a paused run and drives it on. Input that fails the requested schema throws
   * HUMAN_INPUT_REJECTED (details.reasons) and records nothing.
   */
  resumeTask(
    runId: string,
    input: unknown,
    opts?: { answeredBy?: string; question?: string },
  ): Promise<RunResult>;
  /** `by`: who cancels, recorded as RunCancelled.by (default: the engine's worker name). */
  cancelTask(runId: string, reason?: string, by?: string): Promise<RunResult>;
  setSystemState(key: string, value: unknown): Promise<void>;
  getSystemState(key: string): Promise<unknown>;
}

export function createTaskClient(options: TaskClientOptions): TaskClient {
  const { readModels, engine, ledger } = options;

  async function getTask(runId: string): Promise<Task | null> {
    const run = await readModels.getRun(runId);
    if (!run) return null;
    const questions: PendingInput[] =
      run.status !== 'paused'
        ? []
        : (await readModels.hitl({ runId, status: 'pending' })).map((ask) => ({
            path: ask.path,
            step: ask.step,
            message: ask.message,
            inputSchema: ask.inputSchema,
            requestedAt: ask.requestedAt,
          }));
    return { ...run, pending: questions[0] ?? null, questions };
  }

  async function existing(runId: string): Promise<RunRow> {
    const run = await readModels.getRun(runId);
    if (run) return run;
    // The ledger is the truth: a run the read models do not know yet is still not a task.
    const head = await ledger.head(runId);
    throw new EngineError(
      ErrorCode.RUN_NOT_FOUND,
      head
        ? `run ${runId} is in the ledger but not in the read models; run \`flujo lens rebuild\``
        : `no run ${runId}; list runs with listTasks() or \`flujo lens list\``,
      { details: { runId } },
    );
  }

  return {
    async listTasks(q = {}) {
      return readModels.listRuns({
        ...(q.status ? { status: q.status } : {}),
        ...(q.pipeline ? { pipeline: q.pipeline } : {}),
        limit: q.limit ?? 50,
        offset: q.offset ?? 0,
      });
    },
    getTask,
    async resumeTask(runId, input, opts = {}) {
      const run = await existing(runId);
      if (run.status !== 'paused') {
        throw new EngineError(
          ErrorCode.RUN_NOT_RESUMABLE,
          `run ${runId} is ${run.status}, not paused for input; only a paused run takes an answer`,
          { details: { runId, status: run.status } },
        );
      }
      const plan = await options.planFor(runId);
      return engine.resume(plan, runId, {
        humanInput: input,
        ...(opts.answeredBy ? { answeredBy: opts.answeredBy } : {}),
        ...(opts.question !== undefined ? { question: opts.question } : {}),
      });
    },
    async cancelTask(runId, reason, by) {
      await existing(runId);
      return engine.cancel(runId, reason, by);
    },
    setSystemState: (key, value) => readModels.setSystemState(key, value),
    getSystemState: (key) => readModels.getSystemState(key),
  };
}
