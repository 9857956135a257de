/**
 * The projections' output vocabulary: row changes, not rows. Each store turns a change into one
 * prepared statement (an upsert or an update of one row), so an append touches only the rows its
 * events name and never reads the run back. The memory read models apply the same changes to
 * maps, so every store agrees on every column.
 *
 * Some changes look up a row of another projection (a cost needs the step's model and name and
 * the run's pipeline; a pause shows its HITL message). Within one event the changes are ordered
 * runs, steps, hitl, costs, and a projection only looks at rows written by earlier events or by
 * earlier projections of the same event, so folding one projection alone gives the same rows.
 */

/** Bump a version when its fold or table changes: stores rebuild that projection on open. */
export const PROJECTION_VERSIONS = {
  // 2: no head columns; the read side joins the ledger's run_heads (ADR 64)
  runs: 2,
  // 2: steps still running when their run fails or is cancelled end with it (ADR 46);
  // 3: `model` is the agent's model id the call was made with, not the name a reply reports;
  // 4: steps a run left unfinished are `cancelled` (STEP_ABANDONED), also in completed runs (ADR 78);
  // 5: `calls` (1 once an outcome is recorded), and a charge alone gives the attempt its call day
  // (ADR 128), so `costs({ runId })` counts a charged call with no reply;
  // 6: the call day is the day the call was requested (AgentCallRequested), set once (ADR 145)
  steps: 6,
  hitl: 3, // 2: withdrawn when their branch is left (ADR 45); 3: and when their run ends (ADR 46)
  // 2: counted under the model id the call was made with, replies and failures alike;
  // 3: every charge of a call on the day it was requested, its step row's call day (ADR 145)
  costs: 3,
} as const;

export type ProjectionName = keyof typeof PROJECTION_VERSIONS;
export const PROJECTION_NAMES = Object.keys(PROJECTION_VERSIONS) as ProjectionName[];

/** The projections whose version in `projection_versions` (its rows) is not this Flujo's. */
export function staleProjections(
  rows: readonly { name: string; version: number | string }[],
): { name: ProjectionName; recorded: number | undefined }[] {
  const have = new Map(rows.map((r) => [r.name, Number(r.version)]));
  return PROJECTION_NAMES.filter((n) => have.get(n) !== PROJECTION_VERSIONS[n]).map((name) => ({
    name,
    recorded: have.get(name),
  }));
}

interface Base {
  readonly runId: string;
}

export type RunChange = Base & { readonly p: 'runs' } & (
    | {
        readonly op: 'start';
        readonly pipeline: string;
        readonly fingerprint: string;
        readonly at: number;
        readonly inputPreview: string;
      }
    /**
     * The chain head after the batch: once per batch, from its last record. The memory read
     * models keep it; the SQL stores read the ledger's head row instead (ADR 64).
     */
    | { readonly op: 'head'; readonly seq: number; readonly hash: string; readonly at: number }
    | { readonly op: 'usage'; readonly cost: number; readonly tin: number; readonly tout: number }
    /** Paused at `path`: the message is the HITL request's at that path. */
    | { readonly op: 'paused'; readonly path: string }
    | { readonly op: 'running' }
    | {
        readonly op: 'end';
        readonly status: 'completed' | 'failed' | 'cancelled';
        readonly at: number;
        readonly outputPreview: string | null;
        readonly errorCode: string | null;
        readonly errorMessage: string | null;
      }
  );

/**
 * The run ended: its steps still running end with it — `failed` with the run's error where they
 * have none, `cancelled` when it was cancelled, and `cancelled` with STEP_ABANDONED when it
 * completed (a run recorded before StepAbandoned, ADR 78). Nothing names them: the ledger records
 * the run's end, and what was running then is what the rows say (ADR 46).
 */
export type StepsEndChange = Base & {
  readonly p: 'steps';
  readonly op: 'runEnded';
  readonly status: 'failed' | 'cancelled';
  readonly at: number;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
};

/** The run ended: the questions it still waited on are withdrawn (ADR 46). */
export type HitlEndChange = Base & { readonly p: 'hitl'; readonly op: 'runEnded' };

export type StepChange = StepsEndChange | StepPathChange;

export type StepPathChange = Base & { readonly p: 'steps'; readonly path: string } & (
    | {
        readonly op: 'scheduled';
        readonly name: string;
        readonly kind: string;
        readonly seq: number;
        readonly at: number;
      }
    /**
     * An agent call attempt starts: attempt 1 fills the scheduled row, later ones add a row.
     * `day` (UTC) is the attempt's call day, kept from its first request (ADR 145).
     */
    | {
        readonly op: 'called';
        readonly attempt: number;
        readonly seq: number;
        readonly at: number;
        readonly day: string;
        readonly model: string | null;
        readonly inputPreview: string;
      }
    | {
        readonly op: 'replied';
        readonly attempt: number;
        readonly at: number;
        /** UTC day of the reply: the call day of an attempt with no request recorded. */
        readonly day: string;
        readonly tin: number;
        readonly tout: number;
        readonly cost: number;
        readonly latencyMs: number;
      }
    | {
        readonly op: 'callFailed';
        readonly attempt: number;
        readonly at: number;
        readonly day: string;
        readonly tin: number;
        readonly tout: number;
        readonly cost: number;
        readonly errorCode: string;
        readonly errorMessage: string;
      }
    | { readonly op: 'retried'; readonly attempt: number }
    /** An attempt whose usage is unknown, charged its reservation (ADR 55); `day` as `replied`. */
    | {
        readonly op: 'charged';
        readonly attempt: number;
        readonly cost: number;
        readonly day: string;
      }
    /** The step (its latest attempt) completed. */
    | { readonly op: 'completed'; readonly at: number; readonly outputPreview: string }
    /** Left unfinished when an enclosing step ended (StepAbandoned, ADR 78): its latest attempt. */
    | {
        readonly op: 'abandoned';
        readonly at: number;
        readonly errorCode: string;
        readonly errorMessage: string;
      }
    | {
        readonly op: 'failed';
        /** The attempt when the event names it, else the latest. */
        readonly attempt: number | null;
        readonly at: number;
        readonly errorCode: string;
        readonly errorMessage: string;
      }
  );

export type HitlChange = HitlEndChange | HitlPathChange;

export type HitlPathChange = Base & { readonly p: 'hitl'; readonly path: string } & (
    | {
        readonly op: 'requested';
        readonly seq: number;
        readonly at: number;
        readonly message: string;
        /** Canonical JSON. */
        readonly schema: string;
      }
    | {
        readonly op: 'answered';
        readonly at: number;
        /** Canonical JSON. */
        readonly answer: string;
        readonly by: string | null;
      }
    | { readonly op: 'withdrawn' }
  );

/**
 * One agent call's spend, counted under its step's model, step name, the run's pipeline and its
 * call day: the step row's (the UTC day the call was requested), so a reply, a failure and every
 * later charge of one call (a cancel's, a resume's) land on one day, the one `costs({ runId })`
 * reads (ADR 145). Calls of code (fn:, skill:) have no model and are not counted.
 */
export type CostChange = Base & {
  readonly p: 'costs';
  readonly op: 'call';
  readonly path: string;
  readonly attempt: number;
  /** 1 for a call's outcome; 0 for a charge on an attempt already counted (BudgetReconciled). */
  readonly calls: 0 | 1;
  /** The event's UTC day: used only when the attempt has no call day (none recorded). */
  readonly day: string;
  readonly tin: number;
  readonly tout: number;
  readonly cost: number;
};

export type Change = RunChange | StepChange | HitlChange | CostChange;
