/**
 * The read side of the ledger: rows the projections keep (runs, steps, costs, hitl) and the
 * queries lens, TaskClient and the web lens make. Every store answers these from tables written
 * inline with each append (SQLite, Postgres) or from a fold of its events (memory). Money is
 * integer micro-dollars, times integer epoch milliseconds, as in the ledger.
 */

export type RunStatusRow = 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

export interface RunRow {
  readonly runId: string;
  readonly pipeline: string;
  readonly fingerprint: string;
  readonly status: RunStatusRow;
  readonly startedAt: number;
  /** When the run completed, failed or was cancelled. */
  readonly endedAt: number | null;
  readonly updatedAt: number;
  readonly durationMs: number | null;
  readonly costMicros: number;
  readonly tokensIn: number;
  readonly tokensOut: number;
  /** Canonical JSON, cut to a bounded length. */
  readonly inputPreview: string;
  readonly outputPreview: string | null;
  readonly pauseMessage: string | null;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly headSeq: number;
  /** Hex BLAKE3 chain head. */
  readonly headHash: string;
  /**
   * Set when the row outlived the ledger's record of the run, found by one index look per row
   * (ADR 130): `unrecorded`, the ledger holds no head row of it; `no_start`, no `RunStarted` at
   * seq 1 (removed, or every event). The row is then what the read models kept until a rebuild;
   * `flujo lens verify RUN` names the damage. Other damage is not looked for here.
   */
  readonly damaged?: RunDamage;
}

export type RunDamage = 'unrecorded' | 'no_start';

export interface StepRow {
  readonly runId: string;
  readonly path: string;
  readonly attempt: number;
  readonly name: string;
  readonly kind: string;
  /** `cancelled`: still running when its run was cancelled (a failed run fails them: ADR 46). */
  readonly status: 'running' | 'completed' | 'failed' | 'cancelled';
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly latencyMs: number | null;
  readonly model: string | null;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly costMicros: number;
  readonly retries: number;
  readonly inputPreview: string | null;
  readonly outputPreview: string | null;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
}

export type CostDimension = 'model' | 'pipeline' | 'step' | 'day';

export interface CostRow {
  /** The model id, pipeline name, step name or UTC day (YYYY-MM-DD). */
  readonly key: string;
  readonly calls: number;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly costMicros: number;
}

export interface HitlRow {
  readonly runId: string;
  readonly path: string;
  readonly step: string;
  readonly message: string;
  readonly inputSchema: unknown;
  /** `withdrawn`: the run stopped waiting for it unanswered (its branch was left, or it ended). */
  readonly status: 'pending' | 'answered' | 'withdrawn';
  readonly requestedAt: number;
  readonly answer: unknown;
  readonly answeredBy: string | null;
  readonly answeredAt: number | null;
}

export interface RunQuery {
  readonly status?: RunStatusRow;
  /** Exact pipeline name. */
  readonly pipeline?: string;
  /** Runs started at or after this epoch ms. */
  readonly since?: number;
  /** Run ids starting with this. */
  readonly prefix?: string;
  readonly limit?: number;
  readonly offset?: number;
}

export interface ReadModels {
  /** Newest first. */
  listRuns(query?: RunQuery): Promise<RunRow[]>;
  countByStatus(
    query?: Omit<RunQuery, 'status' | 'limit' | 'offset'>,
  ): Promise<Record<RunStatusRow, number>>;
  getRun(runId: string): Promise<RunRow | null>;
  /** In the order they were scheduled. */
  steps(runId: string): Promise<StepRow[]>;
  costs(query: {
    readonly by: CostDimension;
    readonly runId?: string;
    readonly since?: number;
  }): Promise<CostRow[]>;
  hitl(query?: {
    readonly status?: 'pending' | 'answered' | 'withdrawn';
    readonly runId?: string;
  }): Promise<HitlRow[]>;
  /** Watermarks and other small state for clients (TaskClient.setSystemState). */
  getSystemState(key: string): Promise<unknown>;
  setSystemState(key: string, value: unknown): Promise<void>;
}
