/**
 * Opening a SQLite ledger file. Read-write (every command that runs or records): the folder and
 * file are created if missing, the journal is WAL, and the schema is migrated. Read-only, for the
 * commands that vouch for what is stored (`lens verify`, `lens export`; ADR 83): no folder or file
 * is created, no schema migrated, no journal mode set, no WAL checkpointed, no read model
 * rebuilt, and the file's bytes stay as they were.
 *
 * SQLite itself creates `-wal` and `-shm` beside a WAL database when a read-only connection opens
 * it and they are missing (it needs the shared-memory index to read), and leaves them when that
 * connection closes: a read-only connection may not remove them. When neither was there before,
 * `close()` lets SQLite remove them the way it always does, by closing a plain connection that has
 * read the schema: the last connection to close checkpoints the WAL (empty: nothing was written)
 * and deletes both files, and a connection still open elsewhere keeps them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

import { ConfigError, ErrorCode, isEngineError } from '../../errors.js';
import type { SqliteSynchronous } from './sqlite.js';
import { damagedFileAdvice } from './sqliteDamage.js';
import { LEDGER_SCHEMA_VERSION, migrate } from './sqliteSchema.js';

export function openSqliteDatabase(
  path: string,
  options: { readonly synchronous?: SqliteSynchronous; readonly busyTimeoutMs?: number } = {},
): Database.Database {
  if (path !== ':memory:') {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw new ConfigError(
        ErrorCode.CONFIG_STATE_URI,
        `cannot create the folder for ${path}: ${(e as Error).message}`,
        { path },
      );
    }
  }
  let db: Database.Database;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    migrate(db);
  } catch (e) {
    if (isEngineError(e)) throw e;
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `cannot open the SQLite ledger at ${path}: ${(e as Error).message}${damagedFileAdvice(path, e)}`,
      { path },
    );
  }
  return db;
}

export interface ReadOnlySqlite {
  readonly db: Database.Database;
  /** The file's ledger schema version: today's, or an older one read as it is (ADR 83). */
  readonly version: number;
  /** Closes the connection; removes the -wal and -shm this open made SQLite create. */
  close(): void;
}

const unusable = (path: string, why: string) =>
  new ConfigError(ErrorCode.CONFIG_STATE_URI, `${why}`, { path });

export function openSqliteReadOnly(path: string, busyTimeoutMs = 5000): ReadOnlySqlite {
  if (path === ':memory:' || !existsSync(path)) {
    throw unusable(
      path,
      `no SQLite ledger at ${path}; nothing was created. Check the project (--project, or run from its folder) and the state URI (--state-uri, FLUJO_STATE_URI, state_uri in flujo.toml)`,
    );
  }
  const hadSidecars = existsSync(`${path}-wal`) || existsSync(`${path}-shm`);
  const tidy = () => {
    if (hadSidecars || !(existsSync(`${path}-wal`) || existsSync(`${path}-shm`))) return;
    try {
      const last = new Database(path, { fileMustExist: true });
      try {
        last.pragma('schema_version');
      } finally {
        last.close();
      }
    } catch {
      // Best effort: a file this process may not write keeps the -wal and -shm SQLite made.
    }
  };
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    tidy();
    throw unusable(
      path,
      `cannot open the SQLite ledger at ${path}: ${(e as Error).message}${damagedFileAdvice(path, e)}`,
    );
  }
  let version: number;
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    version = db.pragma('user_version', { simple: true }) as number;
    // A damaged or foreign file fails here, at its first page, rather than in the first read.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (e) {
    db.close();
    tidy();
    throw unusable(
      path,
      `cannot open the SQLite ledger at ${path}: ${(e as Error).message}${damagedFileAdvice(path, e)}`,
    );
  }
  // An older schema is read as it is, in its own tables (sqliteSchema.ts readSql): nothing is
  // migrated, so an archive is verified as it was written.
  if (version < 1 || version > LEDGER_SCHEMA_VERSION) {
    db.close();
    tidy();
    throw unusable(
      path,
      version > LEDGER_SCHEMA_VERSION
        ? `${path} has ledger schema v${version}; this Flujo knows up to v${LEDGER_SCHEMA_VERSION}. Upgrade Flujo`
        : `${path} holds no Flujo ledger (a SQLite file with no ledger schema); nothing was changed`,
    );
  }
  return {
    db,
    version,
    close() {
      if (db.open) db.close();
      tidy();
    },
  };
}
