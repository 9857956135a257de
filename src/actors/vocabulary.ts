/**
 * The run machine's vocabulary: its context, the events it accepts (facts from the ledger) and
 * the decisions it emits (parameterized actions the runtime turns into ledger events).
 *
 * Paths: every node has a static path (`2/body/0`); inside loops the runtime path carries the
 * iteration on the body segment (`2/body@3/0`). Templates hold `@{<loop path>}` placeholders,
 * resolved from the context's iteration counters.
 */
import type { ErrorInfo } from '../events/catalogue.js';

export interface RunMachineInput {
  readonly runId: string;
  readonly input: unknown;
  readonly context?: Readonly<Record<string, unknown>>;
  /** RunStarted's engine flags: the behaviour the run is recorded with (src/dsl/engineFlags.ts). */
  readonly flags?: readonly string[];
}

export interface RunMachineContext {
  readonly runId: string;
  /** The run's engine flags (ADR 84); absent for a run recorded with none, as before them. */
  readonly flags?: readonly string[];
  /** The run context (Flujo's PipelineContext): initial_prompt plus user fields. */
  ctx: Record<string, unknown>;
  /** Node inputs by runtime path. */
  inp: Record<string, unknown>;
  /** Node outputs by runtime path. */
  out: Record<string, unknown>;
  /** Each running parallel branch's own copy of the context, by the branch's runtime path. */
  bctx: Record<string, Record<string, unknown>>;
  /** Current attempt of each step, by runtime path. */
  att: Record<string, number>;
  /** Current iteration of each loop, by static loop path. */
  it: Record<string, number>;
  /** Chosen branch of each conditional, by runtime path. */
  sel: Record<string, string>;
  /** Why a node failed, by runtime path. */
  err: Record<string, ErrorInfo>;
}

/** Facts fed into the machine, translated from ledger events. */
export type RunMachineEvent =
  | { type: 'AGENT_RESPONDED'; path: string; attempt: number; output: unknown }
  | { type: 'AGENT_FAILED'; path: string; attempt: number; error: ErrorInfo }
  | { type: 'TIMER_FIRED'; path: string; timerId: string }
  | { type: 'HUMAN_INPUT'; path: string; input: unknown };

/** Decisions, as the runtime receives them in action params (in emission order). */
export type Decision =
  | { type: 'scheduleStep'; path: string; name: string; kind: string }
  | {
      type: 'callAgent';
      path: string;
      attempt: number;
      agent: string;
      input: unknown;
      config?: unknown;
      timeoutMs?: number;
    }
  | { type: 'scheduleTimer'; path: string; timerId: string; delayMs: number; reason: string }
  | { type: 'completeStep'; path: string; output: unknown }
  | { type: 'failStep'; path: string; error: ErrorInfo; attempt?: number }
  | { type: 'selectBranch'; path: string; branch: string }
  | { type: 'startIteration'; path: string; iteration: number }
  | { type: 'requestHuman'; path: string; message: string; inputSchema: unknown }
  | { type: 'completeRun'; output: unknown }
  | { type: 'failRun'; error: ErrorInfo };

/**
 * The machine stopped waiting for something it asked for: a state that awaited a reply, a timer
 * or a person was exited (a failing branch abandoned it, or it was answered). Not a decision and
 * never recorded — it is derived again on every refold — but the fold drops the wait from what is
 * outstanding, so resume does not re-issue an abandoned call, and the runtime aborts it.
 */
export type Release =
  | { kind: 'call'; path: string; attempt: number }
  | { kind: 'timer'; path: string; timerId: string }
  | { kind: 'human'; path: string };

export const DECISION_TYPES: ReadonlySet<Decision['type']> = new Set([
  'scheduleStep',
  'callAgent',
  'scheduleTimer',
  'completeStep',
  'failStep',
  'selectBranch',
  'startIteration',
  'requestHuman',
  'completeRun',
  'failRun',
]);

const PLACEHOLDER = /@\{([^}]*)\}/;

/** A template split into literal text and the loops whose iteration goes between them. */
const compiled = new Map<string, readonly string[]>();

function partsOf(template: string): readonly string[] {
  let parts = compiled.get(template);
  if (!parts) {
    // split() with a capture group alternates literal, loop path, literal, ...
    parts = template.split(new RegExp(PLACEHOLDER.source, 'g'));
    compiled.set(template, parts);
  }
  return parts;
}

/** Resolves a path template against the current loop iterations. */
export function runtimePath(template: string, context: RunMachineContext): string {
  if (!template.includes('@{')) return template;
  const parts = partsOf(template);
  let out = parts[0] as string;
  for (let i = 1; i < parts.length; i += 2) {
    out += `@${context.it[parts[i] as string] ?? 0}${parts[i + 1] as string}`;
  }
  return out;
}

/**
 * The error of a hitl step that does not ask (HitlNode.propagate: false): it stops everything up
 * to the nearest state machine rule `on: hitl_not_propagated`, and no failure handler takes it.
 */
export const HITL_NOT_PROPAGATED = 'HITL_NOT_PROPAGATED';

/** Whether the node at runtime path `path` failed because a hitl step inside it did not ask. */
export const stoppedUnasked = (c: RunMachineContext, path: string) =>
  c.err[path]?.code === HITL_NOT_PROPAGATED;

export function stepError(code: string, message: string, retryable = false): ErrorInfo {
  return { code, message, retryable };
}
