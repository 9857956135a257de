/**
 * The audit report of one run, read off its events and the chain verification: the input, every
 * step with each agent attempt (model, prompt hash = AgentCallRequested.requestHash, output,
 * cost), the human decisions (who, what, when), the budget, the chain head and whether it
 * verified. `--format json` prints this object; md and html render it (./reportRender.ts).
 */
import { ENGINE_FLAGS } from '../dsl/engineFlags.js';
import type { ErrorInfo } from '../events/catalogue.js';
import { compareKeys } from '../events/codec.js';
import type { LedgerEvent } from '../events/envelope.js';
import type { RunVerification } from '../events/verify.js';
import { HITL_NOT_PROPAGATED } from '../actors/vocabulary.js';
import { STEP_ABANDONED, abandonedMessage } from '../projections/fold.js';
import { passthroughPaths, presentedKind } from '../dsl/passthrough.js';
import { stepVisibility, type NamedStep } from './engineSteps.js';

export interface ReportAttempt {
  attempt: number;
  agent: string;
  prompt_hash: string;
  input: unknown;
  model: string | null;
  output?: unknown;
  error?: ErrorInfo;
  cost_usd: number;
  tokens: { input: number; output: number };
  latency_ms: number | null;
  at: string;
}

export interface ReportStep {
  path: string;
  name: string;
  kind: string;
  /** A step still running (or paused) when its run failed fails with it; `cancelled` (ADR 46). */
  status: 'running' | 'completed' | 'failed' | 'paused' | 'cancelled';
  started_at: string;
  ended_at: string | null;
  output?: unknown;
  error?: ErrorInfo;
  branch?: string;
  iterations?: number;
  cost_usd: number;
  attempts: ReportAttempt[];
  /** Made by the engine, not written by the user (ADR 88); md and html leave these out. */
  internal: boolean;
}

export interface ReportDecision {
  path: string;
  step: string;
  message: string;
  requested_at: string;
  status: 'pending' | 'answered' | 'withdrawn';
  answer?: unknown;
  answered_by: string | null;
  answered_at: string | null;
}

export interface ReportCancel {
  by: string | null;
  reason: string | null;
  at: string;
}

/** The `cancelled` object lens shows and reports for a RunCancelled event. */
export const cancelOf = (e: Extract<LedgerEvent, { type: 'RunCancelled' }>): ReportCancel => ({
  by: e.data.by ?? null,
  reason: e.data.reason ?? null,
  at: iso(e.at),
});

export interface AuditReport {
  format: 'flujo.audit-report';
  version: 1;
  run: {
    run_id: string;
    pipeline: string;
    fingerprint: string;
    source: string | null;
    status: 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
    started_at: string;
    ended_at: string | null;
    input: unknown;
    context?: unknown;
    output?: unknown;
    error?: ErrorInfo;
    /** Who cancelled the run, why and when, from its RunCancelled (absent: not cancelled). */
    cancelled?: ReportCancel;
  };
  budget: {
    limit_usd: number | null;
    limit_tokens: number | null;
    spent_usd: number;
    tokens: { input: number; output: number };
  };
  steps: ReportStep[];
  decisions: ReportDecision[];
  chain: {
    events: number;
    head_seq: number;
    head_hash: string;
    verified: boolean;
    failure?: { seq: number; reason: string; detail: string };
  };
}

/**
 * Each step's `internal` mark, decided over the whole run (ADR 88), and its kind as the views show
 * it: a sequence with no steps is a passthrough (ADR 148).
 */
function markInternal(steps: ReportStep[]): ReportStep[] {
  const seen = stepVisibility(steps.map(named));
  const through = passthroughPaths(steps);
  for (const s of steps) {
    s.internal = seen.get(s.path)?.internal ?? false;
    s.kind = presentedKind(s, through);
  }
  return steps;
}

/** A report step as ./engineSteps.ts sees it: failed by itself unless a hitl that did not ask. */
export const named = (s: ReportStep): NamedStep => ({
  path: s.path,
  name: s.name,
  kind: s.kind,
  failed: s.status === 'failed' && s.error?.code !== HITL_NOT_PROPAGATED,
});

const iso = (ms: number) => new Date(ms).toISOString();

type Started = Extract<LedgerEvent, { type: 'RunStarted' }>['data'];

/**
 * The context a run was started with. A run recorded with `run-input-recorded-once` (ADR 110)
 * leaves out an `initial_prompt` equal to its input: it is put back, in the place the ledger's
 * key order gives it, so the report shows what it showed for a run recording it twice.
 */
function contextGiven(s: Started): unknown {
  const context = s.context;
  if (!s.engine.flags.includes(ENGINE_FLAGS.runInputRecordedOnce)) return context;
  if (typeof context !== 'object' || context === null || Array.isArray(context)) return context;
  if (Object.hasOwn(context, 'initial_prompt')) return context;
  return Object.fromEntries(
    Object.entries({ ...context, initial_prompt: s.input }).sort(([a], [b]) => compareKeys(a, b)),
  );
}
const dollars = (micros: number) => micros / 1e6;

export function buildReport(
  events: readonly LedgerEvent[],
  verification: RunVerification,
): AuditReport {
  const first = events[0];
  if (!first || first.type !== 'RunStarted') throw new Error('a run starts with RunStarted');
  const s = first.data;
  const run: AuditReport['run'] = {
    run_id: first.runId,
    pipeline: s.pipeline.name,
    fingerprint: s.pipeline.fingerprint,
    source: s.pipeline.source ?? null,
    status: 'running',
    started_at: iso(first.at),
    ended_at: null,
    input: s.input,
    ...(s.context !== undefined ? { context: contextGiven(s) } : {}),
  };
  const steps = new Map<string, ReportStep>();
  const decisions = new Map<string, ReportDecision>();
  let spent = 0;
  const tokens = { input: 0, output: 0 };
  const attemptOf = (path: string, attempt: number) =>
    steps.get(path)?.attempts.find((a) => a.attempt === attempt);

  /** The run ended: its open questions are withdrawn, and unfinished steps end with it (ADR 46). */
  const endOpen = (
    end: { status: 'failed'; error: ErrorInfo } | { status: 'cancelled' } | null,
    at: number,
  ) => {
    for (const d of decisions.values()) if (d.status === 'pending') d.status = 'withdrawn';
    if (!end) return;
    for (const step of steps.values())
      if (step.status === 'running' || step.status === 'paused')
        Object.assign(step, {
          status: end.status,
          ended_at: iso(at),
          ...(end.status === 'failed' && !step.error ? { error: end.error } : {}),
        });
  };

  for (const e of events) {
    switch (e.type) {
      case 'StepScheduled':
        if (e.data.path === '.') break;
        steps.set(e.data.path, {
          path: e.data.path,
          name: e.data.name,
          kind: e.data.kind,
          status: 'running',
          started_at: iso(e.at),
          ended_at: null,
          cost_usd: 0,
          attempts: [],
          internal: false,
        });
        break;
      case 'AgentCallRequested':
        steps.get(e.data.path)?.attempts.push({
          attempt: e.data.attempt,
          agent: e.data.agent,
          prompt_hash: e.data.requestHash,
          input: e.data.input,
          model: null,
          cost_usd: 0,
          tokens: { input: 0, output: 0 },
          latency_ms: null,
          at: iso(e.at),
        });
        break;
      case 'AgentResponded':
      case 'AgentFailed': {
        const cost = e.data.costMicros ?? 0;
        const usage = e.data.usage ?? { input: 0, output: 0 };
        spent += cost;
        tokens.input += usage.input;
        tokens.output += usage.output;
        const step = steps.get(e.data.path);
        if (step) step.cost_usd = dollars(Math.round(step.cost_usd * 1e6) + cost);
        const a = attemptOf(e.data.path, e.data.attempt);
        if (!a) break;
        // Added: an attempt a crash lost may already carry its charged reservation (ADR 55).
        a.cost_usd = dollars(Math.round(a.cost_usd * 1e6) + cost);
        a.tokens = { input: usage.input, output: usage.output };
        if (e.type === 'AgentResponded') {
          a.model = e.data.model;
          a.output = e.data.output;
          a.latency_ms = e.data.latencyMs;
        } else a.error = e.data.error;
        break;
      }
      case 'BudgetReconciled': {
        // An attempt whose usage is unknown (a timeout, a crash), charged its reservation.
        const cost = e.data.costMicros;
        spent += cost;
        const step = steps.get(e.data.path);
        if (step) step.cost_usd = dollars(Math.round(step.cost_usd * 1e6) + cost);
        const a = attemptOf(e.data.path, e.data.attempt);
        if (a) a.cost_usd = dollars(Math.round(a.cost_usd * 1e6) + cost);
        break;
      }
      case 'BranchSelected': {
        const step = steps.get(e.data.path);
        if (step) step.branch = e.data.branch;
        break;
      }
      case 'LoopIterationStarted': {
        const step = steps.get(e.data.path);
        if (step) step.iterations = e.data.iteration;
        break;
      }
      case 'HumanInputRequested': {
        const step = steps.get(e.data.path);
        if (step) step.status = 'paused';
        decisions.set(e.data.path, {
          path: e.data.path,
          step: step?.name ?? e.data.path,
          message: e.data.message,
          requested_at: iso(e.at),
          status: 'pending',
          answered_by: null,
          answered_at: null,
        });
        break;
      }
      case 'StepAbandoned': {
        // Left unfinished when the step enclosing it ended (ADR 78).
        const step = steps.get(e.data.path);
        if (step && (step.status === 'running' || step.status === 'paused'))
          Object.assign(step, {
            status: 'cancelled',
            ended_at: iso(e.at),
            error: {
              code: STEP_ABANDONED,
              message: abandonedMessage(e.data.cause),
              retryable: false,
            },
          });
        break;
      }
      case 'HumanInputWithdrawn': {
        const d = decisions.get(e.data.path);
        if (d && d.status === 'pending') d.status = 'withdrawn';
        break;
      }
      case 'HumanInputReceived': {
        const d = decisions.get(e.data.path);
        if (d)
          Object.assign(d, {
            status: 'answered',
            answer: e.data.input,
            answered_by: e.data.by ?? null,
            answered_at: iso(e.at),
          });
        const step = steps.get(e.data.path);
        if (step) step.status = 'running';
        break;
      }
      case 'StepCompleted': {
        const step = steps.get(e.data.path);
        if (step)
          Object.assign(step, { status: 'completed', ended_at: iso(e.at), output: e.data.output });
        break;
      }
      case 'StepFailed': {
        const step = steps.get(e.data.path);
        if (step)
          Object.assign(step, { status: 'failed', ended_at: iso(e.at), error: e.data.error });
        break;
      }
      case 'RunPaused':
        run.status = 'paused';
        break;
      case 'RunResumed':
        run.status = 'running';
        break;
      case 'RunCompleted':
        Object.assign(run, { status: 'completed', ended_at: iso(e.at), output: e.data.output });
        // A run recorded before StepAbandoned can hold steps its branches left (ADR 78).
        endOpen({ status: 'cancelled' }, e.at);
        break;
      case 'RunFailed':
        Object.assign(run, { status: 'failed', ended_at: iso(e.at), error: e.data.error });
        endOpen({ status: 'failed', error: e.data.error }, e.at);
        break;
      case 'RunCancelled':
        Object.assign(run, { status: 'cancelled', ended_at: iso(e.at), cancelled: cancelOf(e) });
        endOpen({ status: 'cancelled' }, e.at);
        break;
      default:
        break;
    }
  }
  return {
    format: 'flujo.audit-report',
    version: 1,
    run,
    budget: {
      limit_usd: s.budget?.costMicros !== undefined ? dollars(s.budget.costMicros) : null,
      limit_tokens: s.budget?.tokens ?? null,
      spent_usd: dollars(spent),
      tokens,
    },
    steps: markInternal([...steps.values()]),
    decisions: [...decisions.values()],
    chain: {
      events: verification.events,
      head_seq: verification.headSeq,
      head_hash: verification.headHash,
      verified: verification.ok,
      ...(verification.failure
        ? {
            failure: {
              seq: verification.failure.seq,
              reason: verification.failure.reason,
              detail: verification.failure.detail,
            },
          }
        : {}),
    },
  };
}
