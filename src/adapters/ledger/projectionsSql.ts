/**
 * SQL text of the projections, shared by SQLite and Postgres: one statement per change kind
 * (`@name` placeholders are the change's fields; Postgres gets them rewritten to `$n`), the
 * tables of each projection per dialect, and the column lists rows are read with. Explicit CASTs
 * where Postgres cannot infer a parameter's type; SQLite reads them as affinities.
 */
import type { Change, ProjectionName } from '../../projections/changes.js';

export type Dialect = 'sqlite' | 'postgres';
type ChangeKey = Change extends infer C
  ? C extends Change
    ? `${C['p']}.${C['op']}`
    : never
  : never;

const STEP = `run_id = @runId AND path = @path`;
const STEP_COLS = `run_id, path, attempt, seq, name, kind, status, started_at, ended_at, latency_ms, model,
  tokens_in, tokens_out, cost_micros, retries, input_preview, output_preview, error_code, error_message, call_day, calls`;

/** The statement of each change kind; null: the SQL stores have nothing to write for it. */
export const CHANGE_SQL: Record<ChangeKey, string | null> = {
  'runs.start': `INSERT INTO runs (run_id, pipeline, fingerprint, status, started_at, ended_at,
      duration_ms, cost_micros, tokens_in, tokens_out, input_preview, output_preview, pause_message,
      error_code, error_message)
    VALUES (@runId, @pipeline, @fingerprint, 'running', @at, NULL, NULL, 0, 0, 0, @inputPreview,
      NULL, NULL, NULL, NULL) ON CONFLICT (run_id) DO NOTHING`,
  // The head (headSeq, headHash, updatedAt) is the ledger's own run_heads row, joined when a run
  // is read (RUN_SELECT): no write per append (ADR 64).
  'runs.head': null,
  'runs.usage': `UPDATE runs SET cost_micros = cost_micros + @cost, tokens_in = tokens_in + @tin,
      tokens_out = tokens_out + @tout WHERE run_id = @runId`,
  'runs.paused': `UPDATE runs SET status = 'paused',
      pause_message = (SELECT message FROM hitl WHERE run_id = @runId AND path = @path)
    WHERE run_id = @runId`,
  'runs.running': `UPDATE runs SET status = 'running', pause_message = NULL WHERE run_id = @runId`,
  'runs.end': `UPDATE runs SET status = CAST(@status AS TEXT), ended_at = @at,
      duration_ms = CAST(@at AS BIGINT) - started_at, output_preview = @outputPreview,
      error_code = @errorCode, error_message = @errorMessage, pause_message = NULL
    WHERE run_id = @runId`,
  'steps.scheduled': `INSERT INTO steps (${STEP_COLS})
    VALUES (@runId, @path, 1, @seq, @name, @kind, 'running', @at, NULL, NULL, NULL, 0, 0, 0, 0,
      NULL, NULL, NULL, NULL, NULL, 0) ON CONFLICT (run_id, path, attempt) DO NOTHING`,
  // The attempt's call day is its first request's, whatever charges it later (ADR 145).
  'steps.called': `INSERT INTO steps (${STEP_COLS})
    VALUES (@runId, @path, @attempt, @seq,
      coalesce((SELECT name FROM steps WHERE ${STEP} AND attempt = 1), CAST(@path AS TEXT)),
      coalesce((SELECT kind FROM steps WHERE ${STEP} AND attempt = 1), 'call'),
      'running', @at, NULL, NULL, @model, 0, 0, 0, 0, @inputPreview, NULL, NULL, NULL, @day, 0)
    ON CONFLICT (run_id, path, attempt) DO UPDATE SET model = excluded.model,
      input_preview = excluded.input_preview,
      call_day = coalesce(steps.call_day, excluded.call_day)`,
  'steps.replied': `UPDATE steps SET tokens_in = tokens_in + @tin, tokens_out = tokens_out + @tout,
      cost_micros = cost_micros + @cost, latency_ms = @latencyMs,
      call_day = coalesce(call_day, CAST(@day AS TEXT)), calls = 1
    WHERE ${STEP} AND attempt = @attempt`,
  // A call aborted after its step was abandoned keeps the step `cancelled`, with why (ADR 78).
  'steps.callFailed': `UPDATE steps SET
      status = CASE status WHEN 'cancelled' THEN status ELSE 'failed' END,
      ended_at = CASE status WHEN 'cancelled' THEN ended_at ELSE @at END,
      latency_ms = CASE status WHEN 'cancelled' THEN latency_ms
        ELSE CAST(@at AS BIGINT) - started_at END,
      error_code = CASE status WHEN 'cancelled' THEN error_code ELSE @errorCode END,
      error_message = CASE status WHEN 'cancelled' THEN error_message ELSE @errorMessage END,
      call_day = coalesce(call_day, CAST(@day AS TEXT)), calls = 1, tokens_in = tokens_in + @tin,
      tokens_out = tokens_out + @tout, cost_micros = cost_micros + @cost
    WHERE ${STEP} AND attempt = @attempt`,
  // A charge with no outcome (a cancel's, a run end's: ADR 128) counts on the call's day (ADR 145).
  'steps.charged': `UPDATE steps SET cost_micros = cost_micros + @cost,
      call_day = coalesce(call_day, CAST(@day AS TEXT))
    WHERE ${STEP} AND attempt = @attempt`,
  'steps.retried': `UPDATE steps SET retries = retries + 1 WHERE ${STEP} AND attempt = @attempt`,
  'steps.completed': `UPDATE steps SET status = 'completed', ended_at = @at,
      output_preview = @outputPreview,
      latency_ms = coalesce(latency_ms, CAST(@at AS BIGINT) - started_at)
    WHERE ${STEP} AND attempt = (SELECT max(attempt) FROM steps WHERE ${STEP})`,
  'steps.failed': `UPDATE steps SET status = 'failed', ended_at = @at, error_code = @errorCode,
      error_message = @errorMessage,
      latency_ms = coalesce(latency_ms, CAST(@at AS BIGINT) - started_at)
    WHERE ${STEP} AND attempt = coalesce(CAST(@attempt AS INTEGER),
      (SELECT max(attempt) FROM steps WHERE ${STEP}))`,
  // Left unfinished when an enclosing step ended (ADR 78).
  'steps.abandoned': `UPDATE steps SET status = 'cancelled', ended_at = @at,
      latency_ms = coalesce(latency_ms, CAST(@at AS BIGINT) - started_at),
      error_code = @errorCode, error_message = @errorMessage
    WHERE ${STEP} AND status = 'running'
      AND attempt = (SELECT max(attempt) FROM steps WHERE ${STEP})`,
  // The run ended: what still runs ends with it (ADR 46, ADR 78).
  'steps.runEnded': `UPDATE steps SET status = CAST(@status AS TEXT), ended_at = @at,
      latency_ms = coalesce(latency_ms, CAST(@at AS BIGINT) - started_at),
      error_code = coalesce(error_code, CAST(@errorCode AS TEXT)),
      error_message = coalesce(error_message, CAST(@errorMessage AS TEXT))
    WHERE run_id = @runId AND status = 'running'`,
  'hitl.requested': `INSERT INTO hitl (run_id, path, seq, step, message, input_schema, status,
      requested_at, answer, answered_by, answered_at)
    VALUES (@runId, @path, @seq,
      coalesce((SELECT name FROM steps WHERE ${STEP} AND attempt = 1), CAST(@path AS TEXT)),
      @message, @schema, 'pending', @at, NULL, NULL, NULL)
    ON CONFLICT (run_id, path) DO UPDATE SET seq = excluded.seq, step = excluded.step,
      message = excluded.message, input_schema = excluded.input_schema, status = 'pending',
      requested_at = excluded.requested_at, answer = NULL, answered_by = NULL, answered_at = NULL`,
  'hitl.answered': `UPDATE hitl SET status = 'answered', answer = @answer, answered_by = @by,
      answered_at = @at WHERE ${STEP}`,
  'hitl.withdrawn': `UPDATE hitl SET status = 'withdrawn' WHERE ${STEP} AND status = 'pending'`,
  'hitl.runEnded': `UPDATE hitl SET status = 'withdrawn' WHERE run_id = @runId AND status = 'pending'`,
  // One agent call's spend under four keys, on the call's day (its step row's, so every charge
  // of one call lands on one day: ADR 145); nothing when the step has no model (code).
  'costs.call': `WITH d (dim) AS (VALUES ('model'), ('step'), ('day'), ('pipeline'))
    INSERT INTO costs (dim, key, day, calls, tokens_in, tokens_out, cost_micros)
    SELECT d.dim, CASE d.dim WHEN 'model' THEN s.model WHEN 'step' THEN s.name
                             WHEN 'day' THEN coalesce(s.call_day, CAST(@day AS TEXT))
                             ELSE r.pipeline END,
           coalesce(s.call_day, CAST(@day AS TEXT)), CAST(@calls AS BIGINT), CAST(@tin AS BIGINT), CAST(@tout AS BIGINT), CAST(@cost AS BIGINT)
      FROM steps s CROSS JOIN d LEFT JOIN runs r ON r.run_id = s.run_id
     WHERE s.run_id = @runId AND s.path = @path AND s.attempt = @attempt AND s.model IS NOT NULL
       AND (d.dim <> 'pipeline' OR r.pipeline IS NOT NULL)
    ON CONFLICT (dim, key, day) DO UPDATE SET calls = costs.calls + excluded.calls,
      tokens_in = costs.tokens_in + excluded.tokens_in,
      tokens_out = costs.tokens_out + excluded.tokens_out,
      cost_micros = costs.cost_micros + excluded.cost_micros`,
};

/** Column types per dialect: SQLite integers/text, Postgres bigint and byte-ordered text. */
function ddl(d: Dialect): Record<ProjectionName, string> {
  const int = d === 'sqlite' ? 'INTEGER' : 'bigint';
  const key = d === 'sqlite' ? 'TEXT' : 'text COLLATE "C"';
  const txt = d === 'sqlite' ? 'TEXT' : 'text';
  const rowid = d === 'sqlite' ? ' WITHOUT ROWID' : '';
  return {
    runs: `CREATE TABLE runs (
        run_id ${key} PRIMARY KEY, pipeline ${key} NOT NULL, fingerprint ${txt} NOT NULL,
        status ${txt} NOT NULL, started_at ${int} NOT NULL, ended_at ${int},
        duration_ms ${int}, cost_micros ${int} NOT NULL, tokens_in ${int} NOT NULL,
        tokens_out ${int} NOT NULL, input_preview ${txt} NOT NULL, output_preview ${txt},
        pause_message ${txt}, error_code ${txt}, error_message ${txt})${rowid};
      CREATE INDEX runs_started ON runs (started_at, run_id);
      CREATE INDEX runs_status ON runs (status, started_at, run_id);
      CREATE INDEX runs_pipeline ON runs (pipeline, started_at, run_id);`,
    steps: `CREATE TABLE steps (
        run_id ${key} NOT NULL, path ${key} NOT NULL, attempt ${int} NOT NULL, seq ${int} NOT NULL,
        name ${key} NOT NULL, kind ${txt} NOT NULL, status ${txt} NOT NULL,
        started_at ${int} NOT NULL, ended_at ${int}, latency_ms ${int}, model ${key},
        tokens_in ${int} NOT NULL, tokens_out ${int} NOT NULL, cost_micros ${int} NOT NULL,
        retries ${int} NOT NULL, input_preview ${txt}, output_preview ${txt}, error_code ${txt},
        error_message ${txt}, call_day ${key}, calls ${int} NOT NULL,
        PRIMARY KEY (run_id, path, attempt))${rowid};`,
    hitl: `CREATE TABLE hitl (
        run_id ${key} NOT NULL, path ${key} NOT NULL, seq ${int} NOT NULL, step ${txt} NOT NULL,
        message ${txt} NOT NULL, input_schema ${txt} NOT NULL, status ${txt} NOT NULL,
        requested_at ${int} NOT NULL, answer ${txt}, answered_by ${txt}, answered_at ${int},
        PRIMARY KEY (run_id, path))${rowid};
      CREATE INDEX hitl_status ON hitl (status, requested_at);`,
    costs: `CREATE TABLE costs (
        dim ${key} NOT NULL, key ${key} NOT NULL, day ${key} NOT NULL, calls ${int} NOT NULL,
        tokens_in ${int} NOT NULL, tokens_out ${int} NOT NULL, cost_micros ${int} NOT NULL,
        PRIMARY KEY (dim, key, day))${rowid};`,
  };
}

export const PROJECTION_DDL: Record<Dialect, Record<ProjectionName, string>> = {
  sqlite: ddl('sqlite'),
  postgres: ddl('postgres'),
};

/**
 * Whether the ledger still records a listed run (ADR 130): its head row (already joined), and its
 * RunStarted at seq 1, looked up by the (run, seq) index of `events` (SQLite's v2 view over
 * event_log, or the v1 table a read-only open reads; Postgres's table). One probe per row listed,
 * no event read; the type column, not the body, as `lens show` checks it before presenting.
 */
const DAMAGED = `CASE WHEN h.run_id IS NULL THEN 'unrecorded'
      WHEN NOT EXISTS (SELECT 1 FROM events e WHERE e.run_id = r.run_id AND e.seq = 1
                          AND e.type = 'RunStarted') THEN 'no_start' END AS damaged`;

/**
 * A page of runs rows (`FROM (…) r`) with their heads from the ledger's run_heads: headSeq,
 * headHash (lower-case hex) and updatedAt (the last append's `at`, which every record of its
 * batch carries: what the fold's `head` change holds). A run whose head row was deleted outside
 * Flujo keeps the values it started with (ADR 64), and is `damaged` (DAMAGED).
 */
export const RUN_SELECT: Record<Dialect, string> = {
  sqlite: `SELECT r.*, coalesce(h.seq, 0) AS head_seq, coalesce(lower(hex(h.hash)), '') AS head_hash,
      coalesce(h.updated_at, r.started_at) AS updated_at, ${DAMAGED}`,
  postgres: `SELECT r.*, coalesce(h.seq, 0) AS head_seq, coalesce(encode(h.hash, 'hex'), '') AS head_hash,
      coalesce(h.updated_at, r.started_at) AS updated_at, ${DAMAGED}`,
};
export const RUN_JOIN = `LEFT JOIN run_heads h ON h.run_id = r.run_id`;

/** Small tables beside the projections: their versions, and client state (watermarks). */
export const META_DDL = `
  CREATE TABLE IF NOT EXISTS projection_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS system_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);`;

/**
 * Run on open, under the lock the version check takes: what changed in the tables without
 * changing their rows, so no rebuild. `steps_order` (run_id, seq, attempt) was one more page
 * written by every step; a run's steps are read by the primary key's run_id prefix and sorted,
 * and nothing else used it (ADR 63).
 */
export const TIDY_DDL = `DROP INDEX IF EXISTS steps_order;`;

/** Primary keys: the order rows are dumped and compared in. */
export const PRIMARY_KEYS: Record<ProjectionName, string> = {
  runs: 'run_id',
  steps: 'run_id, path, attempt',
  hitl: 'run_id, path',
  costs: 'dim, key, day',
};

/** `@name` -> `$n` (a repeated name reuses its number); the names in `$n` order. */
export function positional(sql: string): { text: string; names: string[] } {
  const names: string[] = [];
  const text = sql.replace(/@([a-zA-Z]+)/g, (_, n: string) => {
    let i = names.indexOf(n);
    if (i < 0) i = names.push(n) - 1;
    return `$${i + 1}`;
  });
  return { text, names };
}
