/** The JSON shapes of read-model rows in lens output (CONTRACTS.md § flujo lens): snake_case, dollars, ISO times. */
import type { RunRow, StepRow } from '../projections/readModels.js';
import { parseJsonText } from '../jsonText.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Previews are canonical JSON cut to a bounded length; a cut one stays a string. */
export function unpreview(text: string | null): unknown {
  if (text === null) return null;
  try {
    return parseJsonText(text);
  } catch {
    return text;
  }
}

const cutPreview = (text: string | null) =>
  text !== null && unpreview(text) === text && text.endsWith('…');

export function runJson(r: RunRow) {
  return {
    run_id: r.runId,
    pipeline: r.pipeline,
    status: r.status,
    started_at: iso(r.startedAt),
    ended_at: iso(r.endedAt),
    duration_ms: r.durationMs,
    cost_usd: r.costMicros / 1e6,
    tokens: { input: r.tokensIn, output: r.tokensOut },
    // Only on a row the ledger no longer records (ADR 130).
    ...(r.damaged ? { damaged: r.damaged } : {}),
  };
}

export function runDetailJson(r: RunRow) {
  return {
    ...runJson(r),
    fingerprint: r.fingerprint,
    updated_at: iso(r.updatedAt),
    input: unpreview(r.inputPreview),
    output: unpreview(r.outputPreview),
    ...(r.pauseMessage !== null ? { pause_message: r.pauseMessage } : {}),
    ...(r.errorCode !== null ? { error: { code: r.errorCode, message: r.errorMessage } } : {}),
    head_seq: r.headSeq,
    head_hash: r.headHash,
  };
}

export function stepJson(s: StepRow) {
  return {
    path: s.path,
    name: s.name,
    kind: s.kind,
    status: s.status,
    attempt: s.attempt,
    retries: s.retries,
    started_at: iso(s.startedAt),
    ended_at: iso(s.endedAt),
    latency_ms: s.latencyMs,
    model: s.model,
    cost_usd: s.costMicros / 1e6,
    tokens: { input: s.tokensIn, output: s.tokensOut },
    input: unpreview(s.inputPreview),
    output: unpreview(s.outputPreview),
    /** A preview cut at its bound stays text ending in `…`; --verbose reads the full value. */
    truncated: cutPreview(s.inputPreview) || cutPreview(s.outputPreview),
    ...(s.errorCode !== null ? { error: { code: s.errorCode, message: s.errorMessage } } : {}),
  };
}

interface AttemptRow {
  readonly path: string;
  readonly attempt: number;
  readonly status: string;
  readonly errorCode: string | null;
}

/**
 * How each step row ended against the rows after it: an attempt that failed and was tried again
 * is not its step's last (`final_attempt: false`) and not a failure of the step; a step whose
 * last attempt failed and whose fallback then completed it is `completed` with that attempt's
 * error and names the fallback (`rescued_by`). Neither is stored: both follow from one run's rows.
 */
export function attemptOutcomes<R extends AttemptRow>(
  rows: readonly R[],
): Map<R, { final: boolean; rescuedBy: string | null }> {
  const last = new Map<string, number>();
  for (const r of rows) last.set(r.path, Math.max(last.get(r.path) ?? 0, r.attempt));
  const out = new Map<R, { final: boolean; rescuedBy: string | null }>();
  for (const r of rows) {
    const final = r.attempt === last.get(r.path);
    const fallback = `${r.path}/fallback`;
    const rescued = final && r.status === 'completed' && r.errorCode !== null && last.has(fallback);
    out.set(r, { final, rescuedBy: rescued ? fallback : null });
  }
  return out;
}
