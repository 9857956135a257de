/**
 * The Postgres ledger's append statement and its parameters. An append is `WITH head AS (<move
 * the head>), ins AS (<insert the events FROM head>) SELECT … FROM head`: the events are joined
 * to the row `head` returned, so when the head did not match nothing is inserted.
 *
 * The text depends on the batch's shape: a new run or an existing one; the number of events (a
 * text of its own for each size up to LISTED_MAX, the array form beyond); and whether a stale
 * head answers with no row (autocommit) or raises (in the projected append's batch, where the
 * statements behind it must not commit: docs/adr/0032).
 */
import { EngineError, ErrorCode } from '../../errors.js';
import { HASH_BYTES } from '../../events/chain.js';
import type { SealedRecord } from '../../events/envelope.js';
import type { AppendRequest } from '../../ports.js';
import type { PreparedAppend } from './common.js';

/**
 * Batches up to this size get a statement of their own (a step appends 4 events, a run's start
 * 2-3). The array form costs ~25 µs more a statement (array parsing, unnest, substring); more
 * sizes only add prepared statements per connection.
 */
export const LISTED_MAX = 8;

/** The text a strict append raises with when the head did not match. */
export const STALE_HEAD = 'flujo: the run head moved';

export interface AppendShape {
  /** A new run (expected seq 0): the head row is inserted, not moved. */
  readonly fresh: boolean;
  /** Events in the batch, or 0 for the array form. */
  readonly size: number;
  /** Raise on a stale head instead of returning no row. */
  readonly strict: boolean;
}

export function shapeOf(
  req: AppendRequest,
  prepared: PreparedAppend,
  strict: boolean,
): AppendShape {
  const n = prepared.records.length;
  return { fresh: req.expected.seq === 0, size: n <= LISTED_MAX ? n : 0, strict };
}

/** A stable per-shape suffix for the statement's name. */
export const shapeKey = (s: AppendShape): string =>
  `${s.fresh ? 'new' : 'next'}${s.size || 'n'}${s.strict ? 's' : ''}`;

/*
 * Parameters: $1 run, $2 new seq, $3 new hash, $4 claim epoch or null, $5 terminal, $6 at; for
 * an existing run $7 expected seq, $8 expected hash, $9 writer epoch or null; for a new run in
 * the listed form, $7 its genesis hash. The events follow.
 *
 * Listed form: each event's type and body, then the hash of every event but the last. Each hash
 * travels once: an event's prev is the hash before it (the first's is the genesis or expected
 * hash, the last's hash is the new head's), and its seq is counted back from the new head's.
 *
 * Array form: (seq[], type[], offset[], body length[], bytes). Array text literals would
 * hex-encode every body (and Postgres parse it back); instead the batch's bytes travel as ONE
 * binary bytea, prev ‖ hash ‖ body per event, cut back apart by offset.
 */
export function appendText(schema: string, shape: AppendShape): string {
  const s = `"${schema}"`;
  const prev0 = shape.fresh ? 7 : 8;
  // Only the listed form of a new run takes the genesis hash ($7): the array form's bytes hold it.
  const first = shape.fresh ? (shape.size ? 8 : 7) : 10;
  const move = shape.fresh
    ? // A new run: the primary key decides between two writers starting it.
      `INSERT INTO ${s}.run_heads (run_id, seq, hash, epoch, terminal, created_at, updated_at)
          VALUES ($1, $2, $3, coalesce($4::int, 0), $5, $6::bigint, $6::bigint)
          ON CONFLICT (run_id) DO NOTHING
          RETURNING epoch, created_at`
    : // assertAppendable's rules: same seq and hash, not finished, the writer's epoch is the
      // current one, a claim raises the epoch. A second writer waits for the row lock, and READ
      // COMMITTED re-checks this WHERE against the row the winner left.
      `UPDATE ${s}.run_heads
              SET seq = $2, hash = $3, epoch = coalesce($4::int, epoch), terminal = $5,
                  updated_at = $6::bigint
            WHERE run_id = $1 AND seq = $7 AND hash = $8 AND NOT terminal
              AND ($9::int IS NULL OR epoch = $9::int)
              AND ($4::int IS NULL OR epoch < $4::int)
           RETURNING epoch, created_at`;
  const events = shape.size === 0 ? arrayRows(first) : listedRows(shape.size, prev0, first);
  // Data-modifying CTEs run to completion whatever the outer query reads, and a SELECT without
  // FROM evaluates its one row: the cast of the marker fails exactly when `head` is empty. The
  // CASE is not constant, so the planner cannot fold (and raise) it ahead of time.
  const answer = shape.strict
    ? `SELECT CAST(CASE WHEN EXISTS (SELECT FROM head) THEN '0' ELSE '${STALE_HEAD}' END AS int) AS ok`
    : 'SELECT epoch, created_at FROM head';
  return `WITH head AS (${move}),
     ins AS (INSERT INTO ${s}.events (run_id, seq, type, at, prev, hash, body) ${events})
     ${answer}`;
}

function listedRows(size: number, prev0: number, first: number): string {
  if (size === 1) {
    return `SELECT $1, $2, $${first}, $6::bigint, $${prev0}::bytea, $3::bytea, $${first + 1}::bytea FROM head`;
  }
  const hash = (j: number) => (j === size - 1 ? 3 : first + 2 * size + j);
  const rows = Array.from({ length: size }, (_, j) => {
    const prev = j === 0 ? prev0 : hash(j - 1);
    const seq = j === size - 1 ? '$2::int' : `$2::int - ${size - 1 - j}`;
    return `(${seq}, $${first + 2 * j}::text, $${prev}::bytea, $${hash(j)}::bytea, $${first + 2 * j + 1}::bytea)`;
  });
  // bigserial `pos` is drawn per row as the rows come out: sorted, it ascends with seq.
  return `SELECT $1, v.seq, v.type, $6::bigint, v.prev, v.hash, v.body
       FROM head, (VALUES ${rows.join(',\n              ')}) AS v (seq, type, prev, hash, body)
      ORDER BY v.seq`;
}

function arrayRows(first: number): string {
  const bytes = `$${first + 4}::bytea`;
  return `SELECT $1, e.seq, e.type, $6::bigint,
            substring(${bytes} FROM e.off + 1 FOR ${HASH_BYTES}),
            substring(${bytes} FROM e.off + ${HASH_BYTES + 1} FOR ${HASH_BYTES}),
            substring(${bytes} FROM e.off + ${2 * HASH_BYTES + 1} FOR e.len)
       FROM head,
            unnest($${first}::int[], $${first + 1}::text[], $${first + 2}::int[], $${first + 3}::int[])
              AS e(seq, type, off, len)
      ORDER BY e.seq`;
}

/** The parameters of `appendText(shapeOf(req, prepared, …))`, in its order. */
export function appendValues(req: AppendRequest, prepared: PreparedAppend): unknown[] {
  const rs = prepared.records;
  const values: unknown[] = [
    req.runId,
    prepared.head.seq,
    prepared.head.hash,
    prepared.claimEpoch,
    prepared.terminal,
    req.at,
  ];
  if (req.expected.seq !== 0) values.push(req.expected.seq, req.expected.hash, req.epoch ?? null);
  if (rs.length > LISTED_MAX) return values.concat(batchValues(rs));
  if (req.expected.seq === 0) values.push(req.expected.hash);
  for (const r of rs) values.push(r.type, r.body);
  for (let j = 0; j < rs.length - 1; j++) values.push((rs[j] as SealedRecord).hash);
  return values;
}

/** A batch's array-form parameters: seq[], type[], offset[], body length[] and the bytes. */
export function batchValues(records: readonly SealedRecord[]): unknown[] {
  const offsets: number[] = [];
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const r of records) {
    if (r.prev.length !== HASH_BYTES || r.hash.length !== HASH_BYTES) {
      throw new EngineError(
        ErrorCode.USAGE,
        `run ${r.runId} seq ${r.seq}: hash is not ${HASH_BYTES} bytes`,
      );
    }
    offsets.push(at);
    parts.push(r.prev, r.hash, r.body);
    at += 2 * HASH_BYTES + r.body.length;
  }
  return [
    records.map((r) => r.seq),
    records.map((r) => r.type),
    offsets,
    records.map((r) => r.body.length),
    Buffer.concat(parts, at),
  ];
}

/** The strict append's refusal: the head had moved, nothing was written. */
export function isStaleHead(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return (
    err.code === '22P02' && typeof err.message === 'string' && err.message.includes(STALE_HEAD)
  );
}
