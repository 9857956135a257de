/**
 * The Postgres ledger's schema, migrations, statement texts and row mapping. The store itself is
 * in ./postgres.ts; this file holds everything that is SQL text or SQL-shaped data.
 */
import type pg from 'pg';

import {
  ConfigError,
  EngineError,
  ErrorCode,
  LedgerConflictError,
  LedgerStoreError,
  isEngineError,
} from '../../errors.js';
import type { EventType } from '../../events/catalogue.js';
import { HASH_BYTES } from '../../events/chain.js';
import type { SealedRecord, StoredRecord } from '../../events/envelope.js';
import type { RunHead } from '../../ports.js';

export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Each entry moves the schema one version up; `search_path` is the ledger schema when it runs. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     pos    bigserial NOT NULL,
     txid   xid8      NOT NULL DEFAULT pg_current_xact_id(),
     run_id text COLLATE "C" NOT NULL,
     seq    int       NOT NULL,
     type   text      NOT NULL,
     at     bigint    NOT NULL,
     prev   bytea     NOT NULL,
     hash   bytea     NOT NULL,
     body   bytea     NOT NULL,
     CONSTRAINT events_run_seq UNIQUE (run_id, seq)
   );
   CREATE INDEX events_commit_order ON events (txid, pos);
   CREATE TABLE run_heads (
     run_id     text COLLATE "C" PRIMARY KEY,
     seq        int     NOT NULL,
     hash       bytea   NOT NULL,
     epoch      int     NOT NULL,
     terminal   boolean NOT NULL,
     created_at bigint  NOT NULL,
     updated_at bigint  NOT NULL
   ) WITH (fillfactor = 70);`,
];

export interface HeadRow {
  run_id: string;
  seq: number;
  hash: Buffer;
  epoch: number;
  terminal: boolean;
  created_at: string;
  updated_at: string;
}
export interface EventRow {
  txid: string;
  pos: string;
  run_id: string;
  seq: number;
  type: string;
  at: string;
  prev: Buffer;
  hash: Buffer;
  body: Buffer;
}
export interface AppendRow {
  epoch: number;
  created_at: string;
}

// pg returns int8 as a string; every int8 here is epoch ms or a row counter, far below 2^53.
export const toHead = (r: HeadRow): RunHead => ({
  runId: r.run_id,
  seq: r.seq,
  hash: r.hash,
  epoch: r.epoch,
  terminal: r.terminal,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});
export const toRecord = (r: EventRow): StoredRecord => ({
  runId: r.run_id,
  seq: r.seq,
  type: r.type as EventType,
  at: Number(r.at),
  prev: r.prev,
  hash: r.hash,
  body: r.body,
  pos: `${r.txid}:${r.pos}`,
});

export const POSITION = /^(\d{1,20}):(\d{1,19})$/;

/**
 * Worth retrying: SQLSTATE classes 08 (connection), 40 (rollback), 53 (resources), 57 (operator
 * intervention, e.g. a terminated backend), 58 (system); Node socket errors (ECONNRESET …); and
 * pg's own code-less errors about a lost or unobtainable connection.
 */
export function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code))
      return ['08', '40', '53', '57', '58'].includes(code.slice(0, 2));
    return /^E[A-Z]+$/.test(code);
  }
  return /connection|terminated|timeout/i.test((e as Error | undefined)?.message ?? '');
}

export function storeError(op: string, e: unknown, runId?: string, expectedSeq = -1): never {
  if (isEngineError(e)) throw e;
  const code = (e as { code?: unknown }).code;
  if (code === '23505' && runId !== undefined) {
    // The head check passed but an event row exists: another writer's events are there.
    throw new LedgerConflictError(runId, expectedSeq, null, e);
  }
  throw new LedgerStoreError(
    `Postgres ledger ${op}${runId === undefined ? '' : ` of ${runId}`} failed (${typeof code === 'string' ? code : 'error'}): ${(e as Error).message}`,
    e,
    isTransient(e),
  );
}

/** A batch's parameters: seq[], type[], offset[], body length[] and prev ‖ hash ‖ body bytes. */
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

export interface Statements {
  appendNew: string;
  appendNext: string;
  appendNewBatch: string;
  appendNextBatch: string;
  selectHead: string;
  selectEvents: string;
  selectAll: string;
}

export function statements(schema: string): Statements {
  const s = `"${schema}"`;
  /*
   * The append statement is `WITH head AS (<move the head>), ins AS (<insert the events FROM
   * head>) SELECT epoch, created_at FROM head`. The events are joined to the row `head`
   * returned, so when the head did not match nothing is inserted and no row comes back.
   *
   * Parameters: $1 run, $2 new seq, $3 new hash, $4 claim epoch or null, $5 terminal, $6 at;
   * for an existing run also $7 expected seq, $8 expected hash, $9 writer epoch or null; then
   * the events from $first: one event as (type, prev, body) — its seq and hash are the new
   * head's — or a batch as (seq[], type[], offset[], body length[], bytes). The one-event form
   * skips the arrays and unnest, about 60 µs a statement here.
   */
  const head = {
    // A new run: the primary key decides between two writers starting it.
    new: `INSERT INTO ${s}.run_heads (run_id, seq, hash, epoch, terminal, created_at, updated_at)
          VALUES ($1, $2, $3, coalesce($4::int, 0), $5, $6::bigint, $6::bigint)
          ON CONFLICT (run_id) DO NOTHING
          RETURNING epoch, created_at`,
    // assertAppendable's rules: same seq and hash, not finished, the writer's epoch is the
    // current one, a claim raises the epoch. A second writer waits for the row lock, and READ
    // COMMITTED re-checks this WHERE against the row the winner left.
    next: `UPDATE ${s}.run_heads
              SET seq = $2, hash = $3, epoch = coalesce($4::int, epoch), terminal = $5,
                  updated_at = $6::bigint
            WHERE run_id = $1 AND seq = $7 AND hash = $8 AND NOT terminal
              AND ($9::int IS NULL OR epoch = $9::int)
              AND ($4::int IS NULL OR epoch < $4::int)
           RETURNING epoch, created_at`,
  };
  const one = (first: number) =>
    `SELECT $1, $2, $${first}, $6::bigint, $${first + 1}::bytea, $3, $${first + 2}::bytea FROM head`;
  // Array text literals would hex-encode every body (and Postgres parse it back); instead the
  // batch's bytes travel as ONE binary bytea, prev ‖ hash ‖ body per event, cut back apart here.
  const batch = (first: number) =>
    `SELECT $1, e.seq, e.type, $6::bigint,
            substring($${first + 4}::bytea FROM e.off + 1 FOR ${HASH_BYTES}),
            substring($${first + 4}::bytea FROM e.off + ${HASH_BYTES + 1} FOR ${HASH_BYTES}),
            substring($${first + 4}::bytea FROM e.off + ${2 * HASH_BYTES + 1} FOR e.len)
       FROM head,
            unnest($${first}::int[], $${first + 1}::text[], $${first + 2}::int[], $${first + 3}::int[])
              AS e(seq, type, off, len)
      ORDER BY e.seq`;
  const append = (move: string, events: string) =>
    `WITH head AS (${move}),
     ins AS (INSERT INTO ${s}.events (run_id, seq, type, at, prev, hash, body) ${events})
     SELECT epoch, created_at FROM head`;
  return {
    appendNew: append(head.new, one(7)),
    appendNext: append(head.next, one(10)),
    appendNewBatch: append(head.new, batch(7)),
    appendNextBatch: append(head.next, batch(10)),
    selectHead: `SELECT run_id, seq, hash, epoch, terminal, created_at, updated_at
                   FROM ${s}.run_heads WHERE run_id = $1`,
    selectEvents: `SELECT txid, pos, run_id, seq, type, at, prev, hash, body
                     FROM ${s}.events WHERE run_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
    // Commit order. A bigserial (or xid) is allocated before its transaction commits, so rows
    // become visible out of allocation order: a reader that went past `pos` 10 while `pos` 9 was
    // still uncommitted would skip 9 forever. So rows are only handed out once every transaction
    // that could still add a row before them has finished: `txid < xmin` of the statement's
    // snapshot means that transaction is over (committed rows are visible to this very
    // snapshot), and every transaction still running or not yet begun has `txid >= xmin`, so it
    // can only add rows *after* every position returned here. Ordering by `(txid, pos)` thus
    // makes the position a stable, monotonic cursor; the price is that a long-running
    // transaction anywhere in the cluster holds back what readAll/subscribe can see.
    selectAll: `SELECT txid, pos, run_id, seq, type, at, prev, hash, body
                  FROM ${s}.events
                 WHERE (txid, pos) > ($1::xid8, $2::bigint)
                   AND txid < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY txid, pos LIMIT $3`,
  };
}

export async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      // Two processes starting on a fresh database queue here instead of racing the DDL.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `flujo.ledger.migrate:${schema}`,
      ]);
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
      await client.query(`SET LOCAL search_path TO "${schema}"`);
      const table = await client.query<{ t: string | null }>(
        `SELECT to_regclass('"${schema}".flujo_schema_migrations')::text AS t`,
      );
      if (table.rows[0]?.t == null) {
        await client.query(
          `CREATE TABLE flujo_schema_migrations (
             version    int PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
           )`,
        );
      }
      const current = await client.query<{ v: number }>(
        'SELECT coalesce(max(version), 0) AS v FROM flujo_schema_migrations',
      );
      const version = current.rows[0]?.v ?? 0;
      if (version > MIGRATIONS.length) {
        throw new ConfigError(
          ErrorCode.CONFIG_STATE_URI,
          `Postgres schema ${schema} has ledger schema v${version}; this Flujo knows up to v${MIGRATIONS.length}. Upgrade Flujo.`,
          { schema, version },
        );
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        await client.query(MIGRATIONS[v] as string);
        await client.query('INSERT INTO flujo_schema_migrations (version) VALUES ($1)', [v + 1]);
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw e;
    }
  } finally {
    client.release(broken);
  }
}
