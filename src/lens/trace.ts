/**
 * A run's trace, built from its events alone (docs/adr/0024): one span per scheduled step, nested
 * by path (`2/body@3/0` sits under `2/body@3` if that was scheduled, else under `2`), named and
 * attributed after Flujo's trace contract v1 (`pipeline_run` root, `flujo.*` attributes, `flujo.retry`,
 * `flujo.fallback.triggered`, `flujo.paused`, `flujo.resumed`, `agent.*`, `loop.iteration` events).
 * Times are ISO strings from the events' `at`, so the tree is the same on every machine.
 */
import type { LedgerEvent } from '../events/envelope.js';
import { passthroughPaths, PASSTHROUGH } from '../dsl/passthrough.js';
import { spanVisibility, visibilityOf } from './engineSteps.js';

export type SpanStatus = 'running' | 'completed' | 'failed';

export interface SpanEvent {
  readonly name: string;
  readonly time: string;
  readonly attributes: Record<string, unknown>;
}

export interface Span {
  readonly name: string;
  readonly span_id: string;
  readonly parent_span_id: string | null;
  start_time: string;
  end_time: string | null;
  status: SpanStatus;
  readonly attributes: Record<string, unknown>;
  readonly events: SpanEvent[];
  readonly children: Span[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const usd = (micros: number) => micros / 1e6;
const ROOT = '.';

/** The span a path hangs under: its longest scheduled ancestor, else the run. */
function parentOf(path: string, spans: ReadonlyMap<string, Span>): Span | undefined {
  const segs = path.split('/');
  for (let n = segs.length - 1; n > 0; n--) {
    const span = spans.get(segs.slice(0, n).join('/'));
    if (span) return span;
  }
  return spans.get(ROOT);
}

const iterationOf = (path: string): number | undefined => {
  const m = /@(\d+)(?:\/[^@]*)?$/.exec(path);
  return m ? Number(m[1]) : undefined;
};

function close(span: Span, at: number, status: SpanStatus): void {
  span.end_time = iso(at);
  span.status = status;
  span.attributes.success = status === 'completed';
  span.attributes.latency_s = (at - Date.parse(span.start_time)) / 1000;
}

function addCost(span: Span, costMicros: number, tokens: number): void {
  const a = span.attributes;
  a['flujo.budget.actual_cost_usd'] = usd(
    Math.round(Number(a['flujo.budget.actual_cost_usd'] ?? 0) * 1e6) + costMicros,
  );
  a['flujo.budget.actual_tokens'] = Number(a['flujo.budget.actual_tokens'] ?? 0) + tokens;
}

/** Builds the span tree of one run. The root is `pipeline_run`; steps nest by path. */
export function buildTrace(events: readonly LedgerEvent[]): Span {
  const first = events[0];
  if (!first || first.type !== 'RunStarted') throw new Error('a run starts with RunStarted');
  const d = first.data;
  const root: Span = {
    name: 'pipeline_run',
    span_id: first.runId,
    parent_span_id: null,
    start_time: iso(first.at),
    end_time: null,
    status: 'running',
    attributes: {
      'flujo.run_id': first.runId,
      'flujo.pipeline.name': d.pipeline.name,
      'flujo.pipeline.version': d.pipeline.fingerprint,
      'flujo.input': d.input,
      ...(d.pipeline.source ? { 'flujo.yaml.path': d.pipeline.source } : {}),
      ...(d.budget?.costMicros !== undefined
        ? { 'flujo.budget.initial_cost_usd': usd(d.budget.costMicros) }
        : {}),
      ...(d.budget?.tokens !== undefined ? { 'flujo.budget.initial_tokens': d.budget.tokens } : {}),
      'flujo.budget.actual_cost_usd': 0,
      'flujo.budget.actual_tokens': 0,
      'flujo.run.status': 'running',
    },
    events: [],
    children: [],
  };
  const spans = new Map<string, Span>([[ROOT, root]]);
  const byId = new Map<string, Span>([[root.span_id, root]]);
  const ids = new Map<string, number>();
  const ev = (span: Span | undefined, name: string, at: number, attributes = {}) =>
    (span ?? root).events.push({ name, time: iso(at), attributes });

  for (const e of events) {
    const at = e.at;
    switch (e.type) {
      case 'StepScheduled': {
        const { path, name, kind } = e.data;
        if (path === ROOT) break;
        const parent = parentOf(path, spans) ?? root;
        const seen = (ids.get(path) ?? 0) + 1;
        ids.set(path, seen);
        const span: Span = {
          name,
          span_id: seen === 1 ? path : `${path}#${seen}`,
          parent_span_id: parent.span_id,
          start_time: iso(at),
          end_time: null,
          status: 'running',
          attributes: { 'flujo.step.id': path, 'flujo.step.type': kind },
          events: [],
          children: [],
        };
        const it = iterationOf(path);
        if (it !== undefined) span.attributes['flujo.loop.iteration'] = it;
        if (path.endsWith('/fallback')) {
          span.attributes['flujo.fallback'] = true;
          const failed = parent.attributes['flujo.last_error'];
          ev(parent, 'flujo.fallback.triggered', at, { original_error: failed ?? null });
        }
        parent.children.push(span);
        spans.set(path, span);
        byId.set(span.span_id, span);
        break;
      }
      case 'AgentCallRequested': {
        const span = spans.get(e.data.path);
        if (!span) break;
        span.attributes['flujo.attempt_number'] = e.data.attempt;
        span.attributes['flujo.agent'] = e.data.agent;
        span.attributes['flujo.prompt_hash'] = e.data.requestHash;
        if (e.data.attempt === 1) span.attributes.step_input = e.data.input;
        else {
          // A new attempt of the same step: Flujo's retry event, with why the last one failed.
          span.attributes['flujo.retries'] = e.data.attempt - 1;
          ev(span, 'flujo.retry', at, {
            reason: span.attributes['flujo.last_error'] ?? null,
            attempt: e.data.attempt,
          });
        }
        ev(span, 'agent.input', at, { attempt: e.data.attempt, input: e.data.input });
        break;
      }
      case 'AgentResponded': {
        const span = spans.get(e.data.path);
        const tokens = e.data.usage.input + e.data.usage.output;
        if (span) {
          span.attributes['flujo.model'] = e.data.model;
          ev(span, 'agent.response', at, { attempt: e.data.attempt, output: e.data.output });
          ev(span, 'agent.usage', at, {
            input_tokens: e.data.usage.input,
            output_tokens: e.data.usage.output,
            cost_usd: usd(e.data.costMicros),
            latency_ms: e.data.latencyMs,
          });
        }
        chargePath(e.data.path, e.data.costMicros, tokens);
        break;
      }
      case 'BudgetReconciled': {
        // An attempt whose usage is unknown, charged its reservation (ADR 55).
        ev(spans.get(e.data.path), 'flujo.budget.charged', at, {
          attempt: e.data.attempt,
          cost_usd: usd(e.data.costMicros),
          tokens: e.data.tokens,
        });
        chargePath(e.data.path, e.data.costMicros, 0);
        break;
      }
      case 'AgentFailed': {
        const span = spans.get(e.data.path);
        if (span) span.attributes['flujo.last_error'] = e.data.error.message;
        ev(span, 'agent.error', at, { attempt: e.data.attempt, ...e.data.error });
        if (e.data.costMicros)
          chargePath(
            e.data.path,
            e.data.costMicros,
            (e.data.usage?.input ?? 0) + (e.data.usage?.output ?? 0),
          );
        break;
      }
      case 'AgentCallRetried': {
        const span = spans.get(e.data.path);
        if (span)
          span.attributes['flujo.retries'] = Number(span.attributes['flujo.retries'] ?? 0) + 1;
        ev(span, 'flujo.retry', at, {
          reason: e.data.error.message,
          delay_seconds: e.data.delayMs / 1000,
        });
        break;
      }
      case 'TimerScheduled':
        ev(spans.get(e.data.path), 'flujo.timer', at, {
          timer_id: e.data.timerId,
          delay_seconds: e.data.delayMs / 1000,
          reason: e.data.reason,
        });
        break;
      case 'BranchSelected': {
        const span = spans.get(e.data.path);
        if (span) span.attributes['flujo.branch'] = e.data.branch;
        ev(span, 'flujo.branch.selected', at, { branch: e.data.branch });
        break;
      }
      case 'LoopIterationStarted': {
        const span = spans.get(e.data.path);
        if (span) span.attributes['flujo.loop.iterations'] = e.data.iteration;
        ev(span, 'loop.iteration', at, { iteration: e.data.iteration });
        break;
      }
      case 'HumanInputRequested': {
        const span = spans.get(e.data.path);
        ev(span, 'flujo.paused', at, { message: e.data.message });
        if (span) span.attributes['flujo.hitl.message'] = e.data.message;
        break;
      }
      case 'HumanInputReceived': {
        const span = spans.get(e.data.path);
        ev(span, 'flujo.resumed', at, { human_input: e.data.input, by: e.data.by ?? null });
        if (span) span.attributes['flujo.hitl.answered_by'] = e.data.by ?? null;
        break;
      }
      case 'RunPaused':
        root.attributes['flujo.run.status'] = 'paused';
        ev(root, 'flujo.paused', at, { path: e.data.path, reason: e.data.reason });
        break;
      case 'RunResumed':
        root.attributes['flujo.run.status'] = 'running';
        ev(root, 'flujo.resumed', at, { reason: e.data.reason });
        break;
      case 'StepCompleted': {
        const span = e.data.path === ROOT ? undefined : spans.get(e.data.path);
        if (span) close(span, at, 'completed');
        break;
      }
      case 'StepFailed': {
        const span = spans.get(e.data.path);
        if (span) {
          span.attributes['flujo.error'] = e.data.error;
          if (span !== root) close(span, at, 'failed');
        }
        break;
      }
      case 'StepAbandoned': {
        // Left unfinished when the step enclosing it ended (ADR 78).
        const span = spans.get(e.data.path);
        if (span && span !== root && span.status === 'running') {
          span.attributes['flujo.abandoned'] = e.data.cause;
          close(span, at, 'failed');
        }
        break;
      }
      case 'RunCompleted':
        root.attributes['flujo.run.status'] = 'completed';
        endOpen(at, { 'flujo.abandoned': '.' });
        root.attributes['flujo.output'] = e.data.output;
        close(root, at, 'completed');
        break;
      case 'RunFailed':
        root.attributes['flujo.run.status'] = 'failed';
        root.attributes['flujo.error'] = e.data.error;
        endOpen(at, { 'flujo.error': e.data.error });
        close(root, at, 'failed');
        break;
      case 'RunCancelled':
        root.attributes['flujo.run.status'] = 'cancelled';
        // Who cancelled and why, from the RunCancelled itself (null when it did not say).
        root.attributes['flujo.cancelled.by'] = e.data.by ?? null;
        root.attributes['flujo.cancelled.reason'] = e.data.reason ?? null;
        ev(root, 'flujo.cancelled', at, { by: e.data.by ?? null, reason: e.data.reason ?? null });
        endOpen(at, { 'flujo.cancelled': true });
        close(root, at, 'failed');
        break;
      default:
        break;
    }
  }
  // Engine-made steps are marked, not dropped: the JSON keeps every span (ADR 88).
  const seen = spanVisibility(root);
  const steps = [...byId.values()].filter((span) => span !== root);
  for (const span of steps)
    span.attributes['flujo.step.internal'] = visibilityOf(seen, span.span_id).internal;
  // A sequence with no steps is the passthrough the user wrote (ADR 148), after the marks above
  // (they read the recorded kind).
  const through = passthroughPaths(
    steps.map((span) => ({
      path: String(span.attributes['flujo.step.id']),
      kind: String(span.attributes['flujo.step.type']),
      status: span.status,
    })),
  );
  for (const span of steps)
    if (through.has(String(span.attributes['flujo.step.id'])))
      span.attributes['flujo.step.type'] = PASSTHROUGH;
  return root;

  /** The run failed or was cancelled: spans still open end with it, marked why (ADR 46). */
  function endOpen(at: number, why: Record<string, unknown>): void {
    for (const span of spans.values())
      if (span !== root && span.status === 'running') {
        for (const [k, v] of Object.entries(why)) span.attributes[k] ??= v;
        close(span, at, 'failed');
      }
  }

  /** Cost lands on the step and on every span above it, so each subtree shows its own total. */
  function chargePath(path: string, costMicros: number, tokens: number): void {
    const chain: Span[] = [];
    let span = spans.get(path);
    while (span) {
      chain.push(span);
      span = span.parent_span_id === null ? undefined : byId.get(span.parent_span_id);
    }
    if (chain.length === 0) chain.push(root);
    for (const s of chain) addCost(s, costMicros, tokens);
  }
}
