/**
 * A run's result, read off its events: status, output, cost, tokens, steps, pause and error.
 * (The projections issue replaces this scan with read models; the shape stays.)
 */
import type { ErrorInfo, NewEvent } from '../events/catalogue.js';
import type { RunStatus } from '../actors/fold.js';
import { ownCopy } from '../actors/frozen.js';
import { STEP_ABANDONED, abandonedMessage } from '../projections/fold.js';
import { PASSTHROUGH, passthroughPaths } from '../dsl/passthrough.js';

const abandoned = (message: string): ErrorInfo => ({
  code: STEP_ABANDONED,
  message,
  retryable: false,
});

export interface StepSummary {
  readonly path: string;
  readonly name: string;
  readonly kind: string;
  /**
   * A step still running when its run failed fails with it; when cancelled, `cancelled` (ADR 46).
   * A step its run left unfinished (a sibling branch failed the parallel) is `cancelled` (ADR 78).
   */
  readonly status: 'running' | 'completed' | 'failed' | 'cancelled';
  readonly output?: unknown;
  /**
   * Why a step that did not complete ended: its own StepFailed's error (HITL_NOT_PROPAGATED for a
   * hitl step that did not ask, ADR 78), STEP_ABANDONED when its run left it, or the run's error.
   */
  readonly error?: ErrorInfo;
  readonly costMicros: number;
  readonly attempts: number;
}

/** A question a paused run waits on; `path` names it to `resume({ question })`. */
export interface Question {
  readonly path: string;
  readonly step: string;
  readonly message: string;
  readonly inputSchema: unknown;
}

export interface RunResult {
  readonly runId: string;
  readonly status: RunStatus;
  readonly output?: unknown;
  readonly costMicros: number;
  readonly tokens: { readonly input: number; readonly output: number };
  readonly steps: readonly StepSummary[];
  readonly pause?: Question;
  /** Every open question when more than one is (parallel branches, map items), oldest first. */
  readonly questions?: readonly Question[];
  readonly error?: ErrorInfo;
  readonly events: number;
}

type SummaryEvent = NewEvent;

/** The events that change a step's entry (noted in the change log). */
const STEP_CHANGES: ReadonlySet<string> = new Set([
  'StepScheduled',
  'AgentCallRequested',
  'AgentResponded',
  'AgentFailed',
  'BudgetReconciled',
  'StepCompleted',
  'StepFailed',
]);

interface StepRecord {
  path: string;
  name: string;
  kind: string;
  status: StepSummary['status'];
  output?: unknown;
  error?: ErrorInfo;
  costMicros: number;
  attempts: number;
}

/**
 * A run's result, folded event by event: the driver feeds it what it records, so finishing a run
 * never re-reads the ledger; resume seeds it with the events it has already decoded.
 */
export class RunSummary {
  private readonly steps = new Map<string, StepRecord>();
  /**
   * The paths changed, in the order of their changes, with the event count of each
   * (`changeLogAt`): a snapshot's delta holds the steps changed since its base, found from the
   * end of the log rather than by going through every step (ADR 103). Older changes of a path
   * changed again are dropped now and then, so the log stays in proportion to the paths.
   */
  private changeLog: string[] = [];
  private changeLogAt: number[] = [];
  private logKept = 0;
  /** Each step's place in `steps` (the order a full summary lists them in). */
  private readonly place = new Map<string, number>();
  private readonly asks = new Map<string, { message: string; inputSchema: unknown }>();
  private status: RunStatus = 'running';
  /**
   * The question the run rests on (RunPaused's path). Runs recorded before withdrawals were
   * recorded (ADR 45) still hold asks whose branch was abandoned, so the first open ask may be
   * stale there.
   */
  private pausedAt: string | undefined;
  private output: unknown;
  private error: ErrorInfo | undefined;
  private cost = 0;
  private readonly tokens = { input: 0, output: 0 };
  private events = 0;
  readonly runId: string;

  constructor(runId: string) {
    this.runId = runId;
  }

  apply(e: SummaryEvent): void {
    this.events += 1;
    const steps = this.steps;
    if (STEP_CHANGES.has(e.type)) this.changed((e.data as { path: string }).path);
    switch (e.type) {
      case 'StepScheduled':
        this.placed(e.data.path);
        steps.set(e.data.path, {
          path: e.data.path,
          name: e.data.name,
          kind: e.data.kind,
          status: 'running',
          costMicros: 0,
          attempts: 0,
        });
        break;
      case 'AgentCallRequested': {
        const st = steps.get(e.data.path);
        if (st) st.attempts = Math.max(st.attempts, e.data.attempt);
        break;
      }
      case 'AgentResponded':
      case 'AgentFailed': {
        const c = e.data.costMicros ?? 0;
        this.cost += c;
        const st = steps.get(e.data.path);
        if (st) st.costMicros += c;
        if (e.data.usage) {
          this.tokens.input += e.data.usage.input;
          this.tokens.output += e.data.usage.output;
        }
        break;
      }
      case 'BudgetReconciled': {
        // An attempt whose usage is unknown, counted at its reservation (docs/adr/0055). Its
        // tokens are not split into input and output, so only the cost shows here.
        this.cost += e.data.costMicros;
        const st = steps.get(e.data.path);
        if (st) st.costMicros += e.data.costMicros;
        break;
      }
      case 'StepCompleted': {
        const st = steps.get(e.data.path);
        if (st) Object.assign(st, { status: 'completed', output: e.data.output });
        break;
      }
      case 'StepFailed': {
        const st = steps.get(e.data.path);
        if (st) Object.assign(st, { status: 'failed', error: e.data.error });
        break;
      }
      case 'HumanInputRequested':
        this.asks.set(e.data.path, { message: e.data.message, inputSchema: e.data.inputSchema });
        break;
      case 'HumanInputReceived':
        this.asks.delete(e.data.path);
        this.status = 'running';
        this.pausedAt = undefined;
        break;
      case 'HumanInputWithdrawn':
        this.asks.delete(e.data.path);
        break;
      case 'StepAbandoned': {
        // Left unfinished when the step enclosing it ended (ADR 78).
        const st = steps.get(e.data.path);
        if (st && st.status === 'running') {
          st.status = 'cancelled';
          st.error = abandoned(abandonedMessage(e.data.cause));
          this.changed(e.data.path);
        }
        break;
      }
      case 'RunPaused':
        this.status = 'paused';
        this.pausedAt = e.data.path;
        break;
      case 'RunCompleted':
        this.status = 'completed';
        this.output = e.data.output;
        // Runs recorded before StepAbandoned (ADR 78) can still hold steps a branch left.
        this.endRunning(
          'cancelled',
          abandoned('left unfinished: still running when the run completed'),
        );
        break;
      case 'RunFailed':
        this.status = 'failed';
        this.error = e.data.error;
        this.endRunning('failed', e.data.error);
        break;
      case 'RunCancelled':
        this.status = 'cancelled';
        this.endRunning('cancelled');
        break;
      default:
        break;
    }
  }

  /** The run ended unfinished: what still ran ends with it, and nobody is asked any more. */
  private endRunning(status: 'failed' | 'cancelled', error?: ErrorInfo): void {
    for (const [path, st] of this.steps)
      if (st.status === 'running') {
        st.status = status;
        if (error && !st.error) st.error = error;
        this.changed(path);
      }
    this.asks.clear();
  }

  /** Notes a change of `path`'s step at the current event count. */
  private changed(path: string): void {
    this.changeLog.push(path);
    this.changeLogAt.push(this.events);
    if (this.changeLog.length > 2 * this.logKept + 64) {
      // Only each path's latest change matters to a delta: keep those, in their order.
      const seen = new Set<string>();
      const log: string[] = [];
      const at: number[] = [];
      for (let i = this.changeLog.length - 1; i >= 0; i--) {
        const p = this.changeLog[i] as string;
        if (seen.has(p)) continue;
        seen.add(p);
        log.push(p);
        at.push(this.changeLogAt[i] as number);
      }
      this.changeLog = log.reverse();
      this.changeLogAt = at.reverse();
      this.logKept = log.length;
    }
  }

  /** Gives a step its place in the full list, the first time its path is seen. */
  private placed(path: string): void {
    if (!this.place.has(path)) this.place.set(path, this.place.size);
  }

  /** The steps changed after event count `since`, in the order the full list has them. */
  private changedSince(since: number): StepRecord[] {
    const paths = new Set<string>();
    for (
      let i = this.changeLogAt.length - 1;
      i >= 0 && (this.changeLogAt[i] as number) > since;
      i--
    )
      paths.add(this.changeLog[i] as string);
    const out: [number, StepRecord][] = [];
    for (const p of paths) {
      const st = this.steps.get(p);
      if (st) out.push([this.place.get(p) as number, st]);
    }
    return out.sort((a, b) => a[0] - b[0]).map(([, st]) => st);
  }

  /** A step's status so far; undefined for a path never scheduled. */
  statusOf(path: string): StepSummary['status'] | undefined {
    return this.steps.get(path)?.status;
  }

  /** Events folded in so far: the mark a later delta is taken against. */
  get eventCount(): number {
    return this.events;
  }

  /**
   * The summary as plain data, for a SnapshotTaken event. With `since` (an earlier eventCount),
   * only the steps changed after it, in the order the full list has them: a delta on the summary
   * an earlier snapshot holds (ADR 38).
   */
  toJSON(since?: number): Record<string, unknown> {
    const steps = since === undefined ? [...this.steps.values()] : this.changedSince(since);
    return {
      steps,
      asks: [...this.asks.entries()],
      status: this.status,
      ...(this.output !== undefined ? { output: this.output } : {}),
      ...(this.error ? { error: this.error } : {}),
      cost: this.cost,
      tokens: { ...this.tokens },
      events: this.events,
    };
  }

  /**
   * A summary rebuilt from a snapshot's chain, oldest first: a full summary, then the deltas
   * taken on it. A delta's steps replace or follow the ones before; everything else is its own.
   */
  static fromChain(runId: string, chain: readonly Record<string, unknown>[]): RunSummary {
    const [full, ...deltas] = chain;
    const s = RunSummary.fromJSON(runId, full as Record<string, unknown>);
    for (const d of deltas) s.takeDelta(d);
    return s;
  }

  /** Takes a snapshot's summary data: its steps replace or follow these; the rest is its own. */
  private takeDelta(data: Record<string, unknown>): void {
    const d = data as ReturnType<RunSummary['toJSON']> & {
      steps: RunSummary['steps'] extends Map<string, infer V> ? V[] : never;
      asks: [string, { message: string; inputSchema: unknown }][];
      status: RunStatus;
      output?: unknown;
      error?: ErrorInfo;
      cost: number;
      tokens: { input: number; output: number };
      events: number;
    };
    for (const st of d.steps) {
      this.placed(st.path);
      this.steps.set(st.path, { ...st });
    }
    this.asks.clear();
    for (const [k, v] of d.asks) this.asks.set(k, v);
    this.status = d.status;
    this.output = d.output;
    this.error = d.error;
    this.cost = d.cost;
    this.tokens.input = d.tokens.input;
    this.tokens.output = d.tokens.output;
    this.events = d.events;
  }

  static fromJSON(runId: string, data: Record<string, unknown>): RunSummary {
    const s = new RunSummary(runId);
    s.takeDelta(data);
    return s;
  }

  private question(path: string, ask: { message: string; inputSchema: unknown }): Question {
    return {
      path,
      step: this.steps.get(path)?.name ?? path,
      message: ask.message,
      inputSchema: ask.inputSchema,
    };
  }

  result(): RunResult {
    const status = this.status;
    const at = this.pausedAt;
    const ask = at !== undefined ? this.asks.get(at) : undefined;
    const pending =
      status !== 'paused'
        ? undefined
        : at !== undefined && ask
          ? ([at, ask] as const)
          : [...this.asks.entries()][0];
    return {
      runId: this.runId,
      status,
      // The caller's own copy: the run's values are frozen (ADR 40).
      ...(status === 'completed' ? { output: ownCopy(this.output) } : {}),
      costMicros: this.cost,
      tokens: { ...this.tokens },
      steps: listed([...this.steps.values()]),
      ...(pending ? { pause: this.question(pending[0], pending[1]) } : {}),
      ...(pending && this.asks.size > 1
        ? { questions: [...this.asks.entries()].map(([path, a]) => this.question(path, a)) }
        : {}),
      ...(this.error ? { error: this.error } : {}),
      events: this.events,
    };
  }
}

/** The leaves a result lists: steps, questions, and passthroughs (ADR 148) not named `__…`. */
function listed(all: StepRecord[]): StepRecord[] {
  const through = passthroughPaths(all);
  const own = (st: StepRecord) => through.has(st.path) && !st.name.startsWith('__');
  return all.flatMap((st) =>
    st.kind === 'step' || st.kind === 'hitl' ? [st] : own(st) ? [{ ...st, kind: PASSTHROUGH }] : [],
  );
}

export function summarize(runId: string, events: readonly SummaryEvent[]): RunResult {
  const summary = new RunSummary(runId);
  for (const e of events) summary.apply(e);
  return summary.result();
}
