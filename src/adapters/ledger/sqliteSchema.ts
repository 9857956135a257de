/**
 * The SQLite ledger's schema: its migrations, in order (`user_version` counts the ones applied),
 * and the statement that reads events in commit order. v2 (ADR 36) keys events by a per-ledger
 * run number instead of the run id, so a step's index entries go to the right edge of the B-tree
 * instead of a random leaf; `events` stays readable (and, for tamper tests and auditors'
 * experiments, updatable) as a view with the v1 columns. A new ledger is created by running every
 * migration, so the path existing ledgers take is the one every test opens.
 */
import type Database from 'better-sqlite3';

import { ConfigError, ErrorCode } from '../../errors.js';

/**
 * Every event after a global position, in commit order, with its run id (the outer loop is
 * forced onto event_log so that the LIMIT stops the scan).
 */
export const SELECT_AFTER_POS = `SELECT e.pos, h.run_id, e.seq, e.type, e.at, e.prev, e.hash, e.body
   FROM event_log e CROSS JOIN run_heads h ON h.run_no = e.run_no
  WHERE e.pos > ? ORDER BY e.pos LIMIT ?`;

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
