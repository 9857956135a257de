/**
 * The SQLite ledger's schema: its migrations, in order (`user_version` counts the ones applied),
 * and the statement that reads events in commit order. v2 (ADR 36) keys events by a per-ledger
 * run number instead of the run id, so a step's index entries go to the right edge of the B-tree
 * instead of a random leaf; `events` stays readable (and, for tamper tests and auditors'
 * experiments, updatable) as a view with the v1 columns. A new ledger is created by running every
 * migration, so the path existing ledgers take is the one every test opens. The reads are kept
 * for every version a Flujo wrote, so that a read-only open (ADR 83) reads an older file as it is.
 */
import type Database from 'better-sqlite3';

import { ConfigError, ErrorCode } from '../../errors.js';

/** The reads of the ledger, in the tables of one schema version. */
export interface ReadSql {
  /** A run's events from a seq, at most LIMIT (-1: all). */
  readonly selectEvents: string;
  /** Every event after a global position, in commit order, with its run id. */
  readonly selectAfterPos: string;
  /** Per run whose head row is gone: its event count, lowest seq and that event's body. */
  readonly selectOrphans: string;
  /**
   * selectOrphans without reading every event (ADR 139): `byRange`, of the run ids in [?, ?)
   * (v1's events hold the id); else every orphaned run, from the run numbers no head row holds
   * (v2's events hold a run number, not the id), for a file with at least one head row.
   */
  readonly selectOrphansNarrow: { readonly sql: string; readonly byRange: boolean };
  /** Head rows with no event stored under them (every event of the run was removed). */
  readonly selectEmptyRuns: string;
}

const READ_SQL: Readonly<Record<number, ReadSql>> = {
  // Before ADR 36: events keyed by run id. Only read-only opens meet it (ADR 83: an old archive
  // is verified as it is); any other open migrates it first. Its reads join run_heads as v2's
  // must: events whose head row is gone are found by selectOrphans alone (ADR 130).
  1: {
    selectEvents: `SELECT e.pos, e.run_id, e.seq, e.type, e.at, e.prev, e.hash, e.body
      FROM run_heads h JOIN events e ON e.run_id = h.run_id
     WHERE h.run_id = ? AND e.seq >= ? ORDER BY e.seq LIMIT ?`,
    selectAfterPos: `SELECT e.pos, e.run_id, e.seq, e.type, e.at, e.prev, e.hash, e.body
      FROM events e CROSS JOIN run_heads h ON h.run_id = e.run_id
     WHERE e.pos > ? ORDER BY e.pos LIMIT ?`,
    selectOrphans: `SELECT o.events, o.first_seq, e.body
      FROM (SELECT run_id, count(*) AS events, min(seq) AS first_seq FROM events
             WHERE run_id NOT IN (SELECT run_id FROM run_heads) GROUP BY run_id) o
      JOIN events e ON e.run_id = o.run_id AND e.seq = o.first_seq
     ORDER BY o.run_id`,
    selectOrphansNarrow: {
      byRange: true,
      sql: `SELECT o.events, o.first_seq, e.body
      FROM (SELECT run_id, count(*) AS events, min(seq) AS first_seq FROM events
             WHERE run_id >= ? AND run_id < ? AND run_id NOT IN (SELECT run_id FROM run_heads)
             GROUP BY run_id) o
      JOIN events e ON e.run_id = o.run_id AND e.seq = o.first_seq
     ORDER BY o.run_id`,
    },
    selectEmptyRuns: `SELECT h.run_id, h.seq FROM run_heads h
      WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.run_id = h.run_id) ORDER BY h.run_id`,
  },
  2: {
    selectEvents: `SELECT e.pos, h.run_id, e.seq, e.type, e.at, e.prev, e.hash, e.body
      FROM run_heads h JOIN event_log e ON e.run_no = h.run_no
     WHERE h.run_id = ? AND e.seq >= ? ORDER BY e.seq LIMIT ?`,
    // The outer loop is forced onto event_log so that the LIMIT stops the scan.
    selectAfterPos: `SELECT e.pos, h.run_id, e.seq, e.type, e.at, e.prev, e.hash, e.body
      FROM event_log e CROSS JOIN run_heads h ON h.run_no = e.run_no
     WHERE e.pos > ? ORDER BY e.pos LIMIT ?`,
    // A deleted head row hides its run's events from the `events` view, so they are looked for
    // in event_log itself.
    selectOrphans: `SELECT o.events, o.first_seq, e.body
      FROM (SELECT run_no, count(*) AS events, min(seq) AS first_seq FROM event_log
             WHERE run_no NOT IN (SELECT run_no FROM run_heads) GROUP BY run_no) o
      JOIN event_log e ON e.run_no = o.run_no AND e.seq = o.first_seq
     ORDER BY o.run_no`,
    // Run numbers are the head rows' integer keys: one no head row holds lies below the first,
    // above the last (text and blobs sort above numbers) or in a gap after one with no next. Each
    // such range is one range of event_log's index; the gaps cost a probe per head row.
    // ./sqliteOrphans.ts reads a file without head rows whole instead.
    selectOrphansNarrow: {
      byRange: false,
      sql: `WITH gaps(lo, hi) AS (
             SELECT a.run_no, (SELECT min(b.run_no) FROM run_heads b WHERE b.run_no > a.run_no)
               FROM run_heads a
              WHERE NOT EXISTS (SELECT 1 FROM run_heads b WHERE b.run_no = a.run_no + 1)),
           free(run_no, seq) AS (
             SELECT l.run_no, l.seq FROM gaps g CROSS JOIN event_log l
              WHERE l.run_no > g.lo AND l.run_no < g.hi
             UNION ALL
             SELECT run_no, seq FROM event_log WHERE run_no < (SELECT min(run_no) FROM run_heads)
             UNION ALL
             SELECT run_no, seq FROM event_log WHERE run_no > (SELECT max(run_no) FROM run_heads))
      SELECT o.events, o.first_seq, e.body
        FROM (SELECT run_no, count(*) AS events, min(seq) AS first_seq FROM free GROUP BY run_no) o
        JOIN event_log e ON e.run_no = o.run_no AND e.seq = o.first_seq
       ORDER BY o.run_no`,
    },
    selectEmptyRuns: `SELECT h.run_id, h.seq FROM run_heads h
      WHERE NOT EXISTS (SELECT 1 FROM event_log e WHERE e.run_no = h.run_no) ORDER BY h.run_id`,
  },
};

const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  (db) =>
    db.exec(`CREATE TABLE events (
       pos    INTEGER PRIMARY KEY,
       run_id TEXT    NOT NULL,
       seq    INTEGER NOT NULL,
       type   TEXT    NOT NULL,
       at     INTEGER NOT NULL,
       prev   BLOB    NOT NULL,
       hash   BLOB    NOT NULL,
       body   BLOB    NOT NULL,
       UNIQUE (run_id, seq)
     );
     CREATE TABLE run_heads (
       run_id     TEXT PRIMARY KEY,
       seq        INTEGER NOT NULL,
       hash       BLOB    NOT NULL,
       epoch      INTEGER NOT NULL,
       terminal   INTEGER NOT NULL,
       created_at INTEGER NOT NULL,
       updated_at INTEGER NOT NULL
     ) WITHOUT ROWID;`),
  (db) => {
    const orphan = db
      .prepare<[], { run_id: string }>(
        'SELECT run_id FROM events WHERE run_id NOT IN (SELECT run_id FROM run_heads) LIMIT 1',
      )
      .get();
    if (orphan) {
      throw new ConfigError(
        ErrorCode.CONFIG_STATE_URI,
        `${db.name}: run ${orphan.run_id} has events but no head row, so the ledger cannot be moved to schema v2 without losing them; nothing was changed. Check it with a Flujo older than this one (flujo lens verify) or restore a backup.`,
        { path: db.name, run_id: orphan.run_id },
      );
    }
    db.exec(`CREATE TABLE run_heads_v2 (
       run_no     INTEGER PRIMARY KEY AUTOINCREMENT,
       run_id     TEXT    NOT NULL UNIQUE,
       seq        INTEGER NOT NULL,
       hash       BLOB    NOT NULL,
       epoch      INTEGER NOT NULL,
       terminal   INTEGER NOT NULL,
       created_at INTEGER NOT NULL,
       updated_at INTEGER NOT NULL
     );
     INSERT INTO run_heads_v2 (run_id, seq, hash, epoch, terminal, created_at, updated_at)
       SELECT run_id, seq, hash, epoch, terminal, created_at, updated_at
         FROM run_heads ORDER BY created_at, run_id;
     CREATE TABLE event_log (
       pos    INTEGER PRIMARY KEY,
       run_no INTEGER NOT NULL,
       seq    INTEGER NOT NULL,
       type   TEXT    NOT NULL,
       at     INTEGER NOT NULL,
       prev   BLOB    NOT NULL,
       hash   BLOB    NOT NULL,
       body   BLOB    NOT NULL,
       UNIQUE (run_no, seq)
     );
     INSERT INTO event_log (pos, run_no, seq, type, at, prev, hash, body)
       SELECT e.pos, h.run_no, e.seq, e.type, e.at, e.prev, e.hash, e.body
         FROM events e JOIN run_heads_v2 h ON h.run_id = e.run_id ORDER BY e.pos;
     DROP TABLE events;
     DROP TABLE run_heads;
     ALTER TABLE run_heads_v2 RENAME TO run_heads;
     CREATE VIEW events (pos, run_id, seq, type, at, prev, hash, body) AS
       SELECT e.pos, h.run_id, e.seq, e.type, e.at, e.prev, e.hash, e.body
         FROM event_log e JOIN run_heads h ON h.run_no = e.run_no;
     CREATE TRIGGER events_update INSTEAD OF UPDATE ON events BEGIN
       UPDATE event_log SET seq = NEW.seq, type = NEW.type, at = NEW.at, prev = NEW.prev,
                            hash = NEW.hash, body = NEW.body
        WHERE pos = OLD.pos;
     END;
     CREATE TRIGGER events_delete INSTEAD OF DELETE ON events BEGIN
       DELETE FROM event_log WHERE pos = OLD.pos;
     END;`);
  },
];

/** The schema version (`user_version`) this Flujo reads and writes. */
export const LEDGER_SCHEMA_VERSION = MIGRATIONS.length;

/** The reads for a ledger at `version` (one this Flujo knows: 1 to LEDGER_SCHEMA_VERSION). */
export function readSql(version: number = LEDGER_SCHEMA_VERSION): ReadSql {
  const sql = READ_SQL[version];
  if (!sql) throw new Error(`no reads for SQLite ledger schema v${version}`);
  return sql;
}

/** Every event after a global position, in commit order (today's schema). */
export const SELECT_AFTER_POS = readSql().selectAfterPos;

/** Head rows with no event under them (today's schema; a rebuild names them, ADR 74). */
export const SELECT_EMPTY_RUNS = readSql().selectEmptyRuns;

export function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `${db.name} has ledger schema v${version}; this Flujo knows up to v${MIGRATIONS.length}. Upgrade Flujo.`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      // Read again under the write lock: another process opening the same new file at the same
      // time (two workers starting) may have applied this migration since the read above.
      if ((db.pragma('user_version', { simple: true }) as number) > v) return;
      (MIGRATIONS[v] as (db: Database.Database) => void)(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
