/**
 * A run's outcome as one JSON object: what `flujo run --json` and `flujo resume --json` print
 * (CONTRACTS.md) and what a fleet worker publishes on `flujo.results.<run>`.
 */
import type { Question, RunResult } from './summary.js';

export type ReportStatus = RunResult['status'] | 'interrupted';

export const usd = (micros: number) => Math.round(micros) / 1e6;

export function runJson(r: RunResult, status: ReportStatus = r.status): Record<string, unknown> {
  return {
    run_id: r.runId,
    status: status === 'running' ? 'interrupted' : status,
    output: r.output ?? null,
    cost_usd: usd(r.costMicros),
    tokens: { input: r.tokens.input, output: r.tokens.output },
    steps: r.steps.map((s) => ({
      name: s.name,
      status: s.status,
      output: s.output ?? null,
      cost_usd: usd(s.costMicros),
      attempts: s.attempts,
      // Why a step that did not complete ended (ADR 78): HITL_NOT_PROPAGATED, STEP_ABANDONED, …
      ...(s.error && s.status !== 'completed'
        ? { error: { code: s.error.code, message: s.error.message } }
        : {}),
    })),
    ...(r.pause ? { pause: questionJson(r.pause) } : {}),
    ...(r.questions ? { questions: r.questions.map(questionJson) } : {}),
    ...(r.error ? { error: { code: r.error.code, message: r.error.message } } : {}),
  };
}

/** A question as `pause` and `questions` print it; `path` is what `resume --question` takes. */
export function questionJson(q: Question): Record<string, unknown> {
  return { step: q.step, path: q.path, message: q.message, input_schema: q.inputSchema };
}
