/**
 * A run's result, read off its events: status, output, cost, tokens, steps, pause and error.
 * (The projections issue replaces this scan with read models; the shape stays.)
 */
import type { ErrorInfo } from '../events/catalogue.js';
import type { LedgerEvent } from '../events/envelope.js';
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

export function summarize(runId: string, events: readonly LedgerEvent[]): RunResult {
  const steps = new Map<
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
  const asks = new Map<string, { message: string; inputSchema: unknown }>();
  let status: RunStatus = 'running';
  let output: unknown;
  let error: ErrorInfo | undefined;
  let cost = 0;
  const tokens = { input: 0, output: 0 };
  for (const e of events) {
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
        const s = steps.get(e.data.path);
        if (s) s.attempts = Math.max(s.attempts, e.data.attempt);
        break;
      }
      case 'AgentResponded':
      case 'AgentFailed': {
        const c = e.data.costMicros ?? 0;
        cost += c;
        const s = steps.get(e.data.path);
        if (s) s.costMicros += c;
        if (e.data.usage) {
          tokens.input += e.data.usage.input;
          tokens.output += e.data.usage.output;
        }
        break;
      }
      case 'StepCompleted': {
        const s = steps.get(e.data.path);
        if (s) Object.assign(s, { status: 'completed', output: e.data.output });
        break;
      }
      case 'StepFailed': {
        const s = steps.get(e.data.path);
        if (s) s.status = 'failed';
        break;
      }
      case 'HumanInputRequested':
        asks.set(e.data.path, { message: e.data.message, inputSchema: e.data.inputSchema });
        break;
      case 'HumanInputReceived':
        asks.delete(e.data.path);
        status = 'running';
        break;
      case 'RunPaused':
        status = 'paused';
        break;
      case 'RunCompleted':
        status = 'completed';
        output = e.data.output;
        break;
      case 'RunFailed':
        status = 'failed';
        error = e.data.error;
        break;
      case 'RunCancelled':
        status = 'cancelled';
        break;
      default:
        break;
    }
  }
  const pending = status === 'paused' ? [...asks.entries()][0] : undefined;
  return {
    runId,
    status,
    ...(status === 'completed' ? { output } : {}),
    costMicros: cost,
    tokens,
    steps: [...steps.values()].filter((s) => s.kind === 'step' || s.kind === 'hitl'),
    ...(pending
      ? {
          pause: {
            path: pending[0],
            step: steps.get(pending[0])?.name ?? pending[0],
            message: pending[1].message,
            inputSchema: pending[1].inputSchema,
          },
        }
      : {}),
    ...(error ? { error } : {}),
    events: events.length,
  };
}
