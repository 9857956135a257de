/**
 * The event catalogue: every fact a run records, with the schema of its `data` and its current
 * version. Types are PascalCase past tense. Old versions are upcast on read (./upcast.ts), never
 * rewritten. Money is integer micro-dollars, time integer epoch milliseconds.
 */
import { z } from 'zod';

const int = z.number().int();
const nonNegInt = int.nonnegative();
/** A step's address in the plan, e.g. `0`, `2/branch:a/1`, `3/item:7/0`. */
const path = z.string().min(1);
const json = z.unknown();

export const ErrorInfo = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;

export const Usage = z.object({ input: nonNegInt, output: nonNegInt });
export type Usage = z.infer<typeof Usage>;

/** A structured reply that failed validation once and was asked for again (one repair). */
const Repair = z.object({
  reason: z.string(),
  errors: z.array(z.string()),
  /** The rejected reply's text, capped. */
  text: z.string().optional(),
  usage: Usage,
  costMicros: nonNegInt,
});

const Budget = z.object({ costMicros: nonNegInt.optional(), tokens: nonNegInt.optional() });

/**
 * The fleet work message that caused this event was a dead letter published again by
 * `flujo fleet dead-letters retry` (ADR 87): which one (`<NS>_DEAD:<seq>`) and who retried it
 * (self-declared, as `--by`). Kept as long as the run, unlike the dead-letter stream's record.
 */
const Retried = z.object({ deadLetter: z.string(), by: z.string() });

export const eventSchemas = {
  RunStarted: z.object({
    pipeline: z.object({
      name: z.string(),
      fingerprint: z.string(),
      /** Where the pipeline came from (a file relative to the project root), for `flujo resume`. */
      source: z.string().optional(),
    }),
    input: json,
    context: json.optional(),
    engine: z.object({ version: z.string(), flags: z.array(z.string()) }),
    budget: Budget.optional(),
    parent: z.object({ runId: z.string(), path }).optional(),
    retried: Retried.optional(),
  }),
  RunClaimed: z.object({
    worker: z.string(),
    epoch: int.positive(),
    leaseMs: nonNegInt.optional(),
  }),
  RunResumed: z.object({
    reason: z.enum(['crash', 'human', 'manual', 'timer']),
    retried: Retried.optional(),
  }),
  StepScheduled: z.object({ path, name: z.string(), kind: z.string() }),
  AgentCallRequested: z.object({
    path,
    attempt: int.positive(),
    key: z.string(),
    agent: z.string(),
    requestHash: z.string(),
    /** What the agent was given, for audit and lens. */
    input: json,
  }),
  AgentResponded: z.object({
    path,
    attempt: int.positive(),
    key: z.string(),
    output: json,
    text: z.string().optional(),
    usage: Usage,
    costMicros: nonNegInt,
    model: z.string(),
    finishReason: z.string().optional(),
    latencyMs: nonNegInt,
    /** Present when the first reply failed validation and a repair request was made. */
    repair: Repair.optional(),
    /** The provider's raw response body, when the step's config asks for it (recordRaw). */
    raw: json.optional(),
  }),
  AgentFailed: z.object({
    path,
    attempt: int.positive(),
    key: z.string(),
    error: ErrorInfo,
    usage: Usage.optional(),
    costMicros: nonNegInt.optional(),
    repair: Repair.optional(),
  }),
  BudgetReserved: z.object({
    path,
    attempt: int.positive(),
    costMicros: nonNegInt,
    tokens: nonNegInt,
  }),
  BudgetReconciled: z.object({
    path,
    attempt: int.positive(),
    costMicros: nonNegInt,
    tokens: nonNegInt,
  }),
  HumanInputRequested: z.object({ path, message: z.string(), inputSchema: json }),
  HumanInputReceived: z.object({ path, input: json, by: z.string().optional() }),
  /**
   * A marker: the run stopped waiting for this question unanswered (its branch was abandoned, a
   * sibling failed). Recorded with the fact that caused it; the machine never sees it.
   */
  HumanInputWithdrawn: z.object({ path }),
  /**
   * A marker: the step was still running when `cause`, a step enclosing it, ended (a sibling
   * branch failed the parallel, an item failed the map), so it never ends by itself: the run
   * left it unfinished (ADR 78). Recorded with the fact that caused it; the machine never sees it.
   */
  StepAbandoned: z.object({ path, cause: path }),
  BranchSelected: z.object({ path, branch: z.string() }),
  LoopIterationStarted: z.object({ path, iteration: nonNegInt }),
  /** Fires `delayMs` after the event's own `at`. */
  TimerScheduled: z.object({ path, timerId: z.string(), delayMs: nonNegInt, reason: z.string() }),
  TimerFired: z.object({ path, timerId: z.string() }),
  StepCompleted: z.object({ path, output: json }),
  StepFailed: z.object({ path, error: ErrorInfo, attempt: int.positive().optional() }),
  RunPaused: z.object({ path, reason: z.string() }),
  RunCompleted: z.object({ output: json }),
  RunFailed: z.object({ error: ErrorInfo }),
  RunCancelled: z.object({
    reason: z.string().optional(),
    by: z.string().optional(),
    retried: Retried.optional(),
  }),
  SnapshotTaken: z.object({ uptoSeq: int.positive(), state: json }),
  /** A marker: one HTTP attempt of an agent call failed retryably and will be retried after `delayMs`. */
  AgentCallRetried: z.object({
    path,
    attempt: int.positive(),
    key: z.string(),
    retry: int.positive(),
    error: ErrorInfo,
    delayMs: nonNegInt,
  }),
} as const;

export type EventType = keyof typeof eventSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventSchemas)[T]>;

/** A fact before it is recorded: the runtime builds these, the ledger seals them. */
export type NewEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];

/** The current schema version of each event type. Bump it with an upcaster in upcast.ts. */
export const currentVersion: Record<EventType, number> = Object.fromEntries(
  Object.keys(eventSchemas).map((t) => [t, 1]),
) as Record<EventType, number>;

export const terminalTypes: ReadonlySet<EventType> = new Set([
  'RunCompleted',
  'RunFailed',
  'RunCancelled',
]);

export function isEventType(t: string): t is EventType {
  return Object.prototype.hasOwnProperty.call(eventSchemas, t);
}
