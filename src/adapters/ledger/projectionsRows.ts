/** Row mapping and run filters shared by the SQL read models (snake_case rows -> read-model types). */
import type {
  CostRow,
  HitlRow,
  RunDamage,
  RunQuery,
  RunRow,
  StepRow,
} from '../../projections/readModels.js';

export type Row = Record<string, unknown>;

// pg returns int8 as a string; every int8 here is epoch ms, a count or micro-dollars (< 2^53).
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function runRow(r: Row): RunRow {
  return {
    runId: String(r.run_id),
    pipeline: String(r.pipeline),
    fingerprint: String(r.fingerprint),
    status: r.status as RunRow['status'],
    startedAt: num(r.started_at),
    endedAt: numOrNull(r.ended_at),
    updatedAt: num(r.updated_at),
    durationMs: numOrNull(r.duration_ms),
    costMicros: num(r.cost_micros),
    tokensIn: num(r.tokens_in),
    tokensOut: num(r.tokens_out),
    inputPreview: String(r.input_preview),
    outputPreview: str(r.output_preview),
    pauseMessage: str(r.pause_message),
    errorCode: str(r.error_code),
    errorMessage: str(r.error_message),
    headSeq: num(r.head_seq),
    headHash: String(r.head_hash),
    ...(r.damaged ? { damaged: r.damaged as RunDamage } : {}),
  };
}

export function stepRow(r: Row): StepRow {
  return {
    runId: String(r.run_id),
    path: String(r.path),
    attempt: num(r.attempt),
    name: String(r.name),
    kind: String(r.kind),
    status: r.status as StepRow['status'],
    startedAt: num(r.started_at),
    endedAt: numOrNull(r.ended_at),
    latencyMs: numOrNull(r.latency_ms),
    model: str(r.model),
    tokensIn: num(r.tokens_in),
    tokensOut: num(r.tokens_out),
    costMicros: num(r.cost_micros),
    retries: num(r.retries),
    inputPreview: str(r.input_preview),
    outputPreview: str(r.output_preview),
    errorCode: str(r.error_code),
    errorMessage: str(r.error_message),
  };
}

export function costRow(r: Row): CostRow {
  return {
    key: String(r.key),
    calls: num(r.calls),
    tokensIn: num(r.tokens_in),
    tokensOut: num(r.tokens_out),
    costMicros: num(r.cost_micros),
  };
}

export function hitlRow(r: Row): HitlRow {
  return {
    runId: String(r.run_id),
    path: String(r.path),
    step: String(r.step),
    message: String(r.message),
    inputSchema: JSON.parse(String(r.input_schema)) as unknown,
    status: r.status as HitlRow['status'],
    requestedAt: num(r.requested_at),
    answer: r.answer === null ? null : (JSON.parse(String(r.answer)) as unknown),
    answeredBy: str(r.answered_by),
    answeredAt: numOrNull(r.answered_at),
  };
}

/** WHERE clauses of a run query; `?` for SQLite, `$n` for Postgres. */
export function runFilter(
  q: RunQuery,
  withStatus: boolean,
  dialect: 'sqlite' | 'postgres',
): { clauses: string[]; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => (params.push(v), dialect === 'sqlite' ? '?' : `$${params.length}`);
  if (withStatus && q.status !== undefined) clauses.push(`status = ${p(q.status)}`);
  if (q.pipeline !== undefined) clauses.push(`pipeline = ${p(q.pipeline)}`);
  if (q.since !== undefined) clauses.push(`started_at >= ${p(q.since)}`);
  if (q.prefix !== undefined) {
    // A range on the primary key, then the exact prefix test.
    const a = p(q.prefix);
    clauses.push(
      dialect === 'sqlite'
        ? `run_id >= ${a} AND substr(run_id, 1, ${p(q.prefix.length)}) = ${p(q.prefix)}`
        : `run_id >= ${a} AND left(run_id, ${p(q.prefix.length)}) = ${a}`,
    );
  }
  return { clauses, params };
}
