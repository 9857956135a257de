/**
 * The Postgres ledger's schema, migrations, read statements and row mapping. The store itself is
 * in ./postgres.ts, the append statement in ./postgresAppend.ts.
 */
import type pg from 'pg';

import {
  ConfigError,
  ErrorCode,
  LedgerConflictError,
  LedgerStoreError,
  isEngineError,
} from '../../errors.js';
import type { EventType } from '../../events/catalogue.js';
import type { StoredRecord } from '../../events/envelope.js';
import type { RunHead } from '../../ports.js';
import { privilegeRefused } from './stateUri.js';

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

/** The ledger schema version (`flujo_schema_migrations`) this Flujo reads and writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

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

export function storeError(
  op: string,
  e: unknown,
  runId?: string,
  expectedSeq = -1,
  where?: string,
): never {
  if (isEngineError(e)) throw e;
  const refused = where && privilegeRefused(where, e, op === 'append' ? 'write' : 'read');
  if (refused) throw refused;
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

export interface Statements {
  selectHead: string;
  selectEvents: string;
  selectAll: string;
  /** Per run whose head row is gone: its event count, lowest seq and that event's body. */
  selectOrphans: string;
  /** selectOrphans of the run ids in [$1, $2): one range of the (run_id, seq) index. */
  selectOrphansIn: string;
  selectUnrecorded: string;
}

export function statements(schema: string): Statements {
  const s = `"${schema}"`;
  return {
    selectHead: `SELECT run_id, seq, hash, epoch, terminal, created_at, updated_at
                   FROM ${s}.run_heads WHERE run_id = $1`,
    // Reads see a run only while it has a head row (ports.ts; ADR 130): events whose head row
    // was deleted are found by selectOrphans alone, as SQLite's join to run_heads leaves them. An
    // uncorrelated EXISTS: one index probe per read, not per row.
    selectEvents: `SELECT txid, pos, run_id, seq, type, at, prev, hash, body
                     FROM ${s}.events WHERE run_id = $1 AND seq >= $2
                      AND EXISTS (SELECT 1 FROM ${s}.run_heads h WHERE h.run_id = $1)
                    ORDER BY seq LIMIT $3`,
    // Commit order. A bigserial (or xid) is allocated before its transaction commits, so rows
    // become visible out of allocation order: a reader that went past `pos` 10 while `pos` 9 was
    // still uncommitted would skip 9 forever. So rows are only handed out once every transaction
    // that could still add a row before them has finished: `txid < xmin` of the statement's
    // snapshot means that transaction is over (committed rows are visible to this very
    // snapshot), and every transaction still running or not yet begun has `txid >= xmin`, so it
    // can only add rows *after* every position returned here. Ordering by `(txid, pos)` thus
    // makes the position a stable, monotonic cursor; the price is that a long-running
    // transaction anywhere in the cluster holds back what readAll/subscribe can see. Events
    // whose head row is gone are skipped (ADR 130): a nested loop of primary-key probes.
    selectAll: `SELECT e.txid, e.pos, e.run_id, e.seq, e.type, e.at, e.prev, e.hash, e.body
                  FROM ${s}.events e
                 WHERE (e.txid, e.pos) > ($1::xid8, $2::bigint)
                   AND e.txid < pg_snapshot_xmin(pg_current_snapshot())
                   AND EXISTS (SELECT 1 FROM ${s}.run_heads h WHERE h.run_id = e.run_id)
                 ORDER BY e.txid, e.pos LIMIT $3`,
    selectOrphans: `SELECT o.events, o.first_seq, e.body
                      FROM (SELECT run_id, count(*) AS events, min(seq) AS first_seq
                              FROM ${s}.events ev
                             WHERE NOT EXISTS (SELECT 1 FROM ${s}.run_heads h WHERE h.run_id = ev.run_id)
                             GROUP BY run_id) o
                      JOIN ${s}.events e ON e.run_id = o.run_id AND e.seq = o.first_seq
                     ORDER BY o.run_id`,
    selectOrphansIn: `SELECT o.events, o.first_seq, e.body
                        FROM (SELECT run_id, count(*) AS events, min(seq) AS first_seq
                                FROM ${s}.events ev
                               WHERE ev.run_id >= $1 AND ev.run_id < $2
                                 AND NOT EXISTS (SELECT 1 FROM ${s}.run_heads h WHERE h.run_id = ev.run_id)
                               GROUP BY run_id) o
                        JOIN ${s}.events e ON e.run_id = o.run_id AND e.seq = o.first_seq
                       ORDER BY o.run_id`,
    // The runs projection may not exist yet (a ledger opened without its read side).
    selectUnrecorded: `SELECT run_id FROM ${s}.runs r
                         WHERE NOT EXISTS (SELECT 1 FROM ${s}.run_heads h WHERE h.run_id = r.run_id)
                         ORDER BY run_id`,
  };
}

/**
 * For a read-only open (`lens verify`, `lens export`; ADR 83): the schema must hold a ledger this
 * Flujo reads as it is; nothing is created or migrated. Every Postgres ledger a Flujo has written
 * is v1 (one migration since the first release), so there is no older one to read; when a v2
 * comes, its read-only open keeps v1's reads for v1 schemas, as the SQLite ledger does.
 */
export async function checkSchema(pool: pg.Pool, schema: string): Promise<void> {
  const table = await pool.query<{ t: string | null }>(
    `SELECT to_regclass('"${schema}".flujo_schema_migrations')::text AS t`,
  );
  if (table.rows[0]?.t == null) {
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `Postgres schema ${schema} holds no Flujo ledger; nothing was created. Check the state URI (its ?schema=) and the database`,
      { schema, missing: true },
    );
  }
  const current = await pool.query<{ v: number }>(
    `SELECT coalesce(max(version), 0) AS v FROM "${schema}".flujo_schema_migrations`,
  );
  const version = current.rows[0]?.v ?? 0;
  if (version < 1 || version > MIGRATIONS.length) {
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      version > MIGRATIONS.length
        ? `Postgres schema ${schema} has ledger schema v${version}; this Flujo knows up to v${MIGRATIONS.length}. Upgrade Flujo.`
        : `Postgres schema ${schema} holds no Flujo ledger (its migrations table records none); nothing was changed. Check the state URI (its ?schema=) and the database`,
      { schema, version, ...(version < 1 ? { missing: true } : {}) },
    );
  }
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

/** What `txidCounter` found: the highest stored txid and the cluster's next one (ADR 92). */
export interface TxidCounter {
  /** The highest `events.txid`, as text; null for an empty ledger. */
  readonly top: string | null;
  /** `pg_snapshot_xmax` of a fresh snapshot: every transaction that has finished is below it. */
  readonly xmax: string;
  /** Rows whose txid is at or above `xmax`: written in another cluster (a restore). */
  readonly ahead: number;
}

/**
 * One indexed look (the commit-order index, from its top): a visible row can only have been
 * written by a finished transaction, so its txid is below the snapshot's xmax — unless the rows
 * were restored from a cluster whose transaction counter was further on. Assigns no xid.
 */
export async function txidCounter(
  q: pg.Pool | pg.ClientBase,
  schema: string,
): Promise<TxidCounter> {
  const res = await q.query<{ top: string | null; xmax: string; ahead: string }>(
    `SELECT (SELECT txid FROM "${schema}".events ORDER BY txid DESC LIMIT 1)::text AS top,
            pg_snapshot_xmax(pg_current_snapshot())::text AS xmax,
            (SELECT count(*) FROM "${schema}".events
              WHERE txid >= pg_snapshot_xmax(pg_current_snapshot())) AS ahead`,
  );
  const row = res.rows[0] as { top: string | null; xmax: string; ahead: string };
  return { top: row.top, xmax: row.xmax, ahead: Number(row.ahead) };
}

/**
 * Refuses a ledger restored into a cluster whose transaction counter is behind the one that
 * wrote it (ADR 92): readers would see none of the rows ahead, and new appends would sort before
 * them. Nothing is changed; the message says how to renumber it.
 */
export async function assertTxidsBehind(
  q: pg.Pool | pg.ClientBase,
  schema: string,
  uri: string,
): Promise<void> {
  const c = await txidCounter(q, schema);
  if (c.ahead === 0) return;
  throw new ConfigError(
    ErrorCode.LEDGER_TXID_AHEAD,
    `the Postgres ledger in schema ${schema} holds ${c.ahead} events written by transaction ids up to ${c.top ?? '?'}, ` +
      `but this cluster's transaction counter is at ${c.xmax}: it was restored from another cluster (pg_dump, pg_restore) ` +
      `whose counter was further on. Readers would not see those events and new ones would sort before them, ` +
      `so the ledger was not opened for writing; nothing was changed. Stop every Flujo process using this schema, ` +
      `then run flujo lens renumber with this state URI (${uri}); see docs/ledger.md#restoring-a-postgres-ledger`,
    { schema, top: c.top, xmax: c.xmax, ahead: c.ahead },
  );
}

/**
 * A position handed to `readAll`/`subscribe` whose txid is at or above the cluster's counter was
 * handed out before a restore from another cluster or a `lens renumber`: read from, it would
 * return nothing now and skip events later. Refused; returns the highest txid known to be behind.
 */
export async function assertPositionBehind(
  pool: pg.Pool,
  schema: string,
  after: string,
  txid: string,
): Promise<bigint> {
  const res = await pool.query<{ xmax: string }>(
    'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax',
  );
  const xmax = BigInt((res.rows[0] as { xmax: string }).xmax);
  if (BigInt(txid) < xmax) return xmax - 1n;
  throw new ConfigError(
    ErrorCode.LEDGER_TXID_AHEAD,
    `${JSON.stringify(after)} is a position ahead of this cluster's transaction counter (${xmax}) in schema ${schema}: ` +
      `it was handed out before the ledger was restored from another cluster or renumbered (flujo lens renumber). ` +
      `Map it through ${schema}.flujo_position_map (docs/ledger.md#restoring-a-postgres-ledger), or read from the beginning`,
    { schema, position: after, xmax: xmax.toString() },
  );
}
