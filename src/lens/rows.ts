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
