/**
 * A run's result, read off its events: status, output, cost, tokens, steps, pause and error.
 * (The projections issue replaces this scan with read models; the shape stays.)
 */
import type { ErrorInfo, NewEvent } from '../events/catalogue.js';
import type { RunStatus } from '../actors/fold.js';

export interface StepSummary {
  readonly path: string;
  readonly name: string;
  readonly kind: string;
  readonly status: 'running' | 'completed' | 'failed';
  readonly output?: unknown;
  readonly costMicros: number;
  readonly attempts: number;
}

export interface RunResult {
  readonly runId: string;
  readonly status: RunStatus;
  readonly output?: unknown;
  readonly costMicros: number;
  readonly tokens: { readonly input: number; readonly output: number };
  readonly steps: readonly StepSummary[];
  readonly pause?: {
    readonly path: string;
    readonly step: string;
    readonly message: string;
    readonly inputSchema: unknown;
  };
  readonly error?: ErrorInfo;
  readonly events: number;
}

type SummaryEvent = NewEvent;

/**
 * A run's result, folded event by event: the driver feeds it what it records, so finishing a run
 * never re-reads the ledger; resume seeds it with the events it has already decoded.
 */
export class RunSummary {
  private readonly steps = new Map<
    string,
    {
      path: string;
      name: string;
      kind: string;
      status: StepSummary['status'];
      output?: unknown;
      costMicros: number;
      attempts: number;
    }
  >();
  private readonly asks = new Map<string, { message: string; inputSchema: unknown }>();
  private status: RunStatus = 'running';
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
    switch (e.type) {
      case 'StepScheduled':
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
      case 'StepCompleted': {
        const st = steps.get(e.data.path);
        if (st) Object.assign(st, { status: 'completed', output: e.data.output });
        break;
      }
      case 'StepFailed': {
        const st = steps.get(e.data.path);
        if (st) st.status = 'failed';
        break;
      }
      case 'HumanInputRequested':
        this.asks.set(e.data.path, { message: e.data.message, inputSchema: e.data.inputSchema });
        break;
      case 'HumanInputReceived':
        this.asks.delete(e.data.path);
        this.status = 'running';
        break;
      case 'RunPaused':
        this.status = 'paused';
        break;
      case 'RunCompleted':
        this.status = 'completed';
        this.output = e.data.output;
        break;
      case 'RunFailed':
        this.status = 'failed';
        this.error = e.data.error;
        break;
      case 'RunCancelled':
        this.status = 'cancelled';
        break;
      default:
        break;
    }
  }

  /** The summary as plain data, for a SnapshotTaken event. */
  toJSON(): Record<string, unknown> {
    return {
      steps: [...this.steps.values()],
      asks: [...this.asks.entries()],
      status: this.status,
      ...(this.output !== undefined ? { output: this.output } : {}),
      ...(this.error ? { error: this.error } : {}),
      cost: this.cost,
      tokens: { ...this.tokens },
      events: this.events,
    };
  }

  static fromJSON(runId: string, data: Record<string, unknown>): RunSummary {
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
    const s = new RunSummary(runId);
    for (const st of d.steps) s.steps.set(st.path, { ...st });
    for (const [k, v] of d.asks) s.asks.set(k, v);
    s.status = d.status;
    s.output = d.output;
    s.error = d.error;
    s.cost = d.cost;
    s.tokens.input = d.tokens.input;
    s.tokens.output = d.tokens.output;
    s.events = d.events;
    return s;
  }

  result(): RunResult {
    const status = this.status;
    const pending = status === 'paused' ? [...this.asks.entries()][0] : undefined;
    return {
      runId: this.runId,
      status,
      ...(status === 'completed' ? { output: this.output } : {}),
      costMicros: this.cost,
      tokens: { ...this.tokens },
      steps: [...this.steps.values()].filter((st) => st.kind === 'step' || st.kind === 'hitl'),
      ...(pending
        ? {
            pause: {
              path: pending[0],
              step: this.steps.get(pending[0])?.name ?? pending[0],
              message: pending[1].message,
              inputSchema: pending[1].inputSchema,
            },
          }
        : {}),
      ...(this.error ? { error: this.error } : {}),
      events: this.events,
    };
  }
}

export function summarize(runId: string, events: readonly SummaryEvent[]): RunResult {
  const summary = new RunSummary(runId);
  for (const e of events) summary.apply(e);
  return summary.result();
}
