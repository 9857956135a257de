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
 * and deletes both files, and a connection still open elsewhere keeps them. Read-only opens of one
 * file in one process share that knowledge (`inPlace`): the second finds the files the first made,
 * and only the last of them to close, not the first, has SQLite remove them (ADR 113).
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
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
  const readOnlyAdvice = `; this user may not write the file or its folder, which this command needs (the lens commands that only read need read access alone)`;
  // SQLite opens a file it may not write read-only without a word, when its -wal and -shm are
  // there already (a writer running or crashed): the first append would then fail as a store
  // error (exit 1), and a rebuild as "a bug in Flujo". Said here instead, as a missing right.
  const denied = path === ':memory:' ? undefined : notWritable(path);
  if (denied)
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `cannot open the SQLite ledger at ${path}: ${denied}${readOnlyAdvice}`,
      { path, readOnly: true },
    );
  let db: Database.Database;
  const timeout = options.busyTimeoutMs ?? 5000;
  try {
    // The busy timeout from the first statement on (better-sqlite3's `timeout` sets it), so the
    // WAL switch's attempts wait as long as every later statement.
    db = new Database(path, { timeout });
    walMode(db, timeout);
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    migrate(db);
  } catch (e) {
    if (isEngineError(e)) throw e;
    // A file (or folder) this user may only read: say what needs writing and what does not.
    const readOnly = /^SQLITE_READONLY/.test(String((e as { code?: unknown }).code))
      ? readOnlyAdvice
      : '';
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `cannot open the SQLite ledger at ${path}: ${(e as Error).message}${readOnly}${damagedFileAdvice(path, e)}`,
      { path, ...(readOnly ? { readOnly: true } : {}) },
    );
  }
  return db;
}

/**
 * Switches a file to WAL. Two processes switching a new file at once both read it under a shared
 * lock and then want it exclusive: SQLite sees the deadlock and fails one at once with
 * SQLITE_BUSY, without its busy handler (seen in CI as a `flujo worker` beside a `flujo run` that
 * failed to open a new state). The statement has let its lock go by then, so the other finishes:
 * tried again until it does, within the busy timeout. A busy error that keeps coming (a lock
 * another process holds for longer) now fails after the timeout, not at once.
 */
function walMode(db: Database.Database, timeoutMs: number): void {
  const until = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if (!/^SQLITE_BUSY/.test(String((e as { code?: unknown }).code)) || Date.now() >= until)
        throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
    }
  }
}

/** Why this user may not write the file or the -wal or -shm beside it; undefined if it may. */
function notWritable(path: string): string | undefined {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      accessSync(f, constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return `${f} is not writable by this user (${code})`;
    }
  }
  return undefined;
}

export interface ReadOnlySqlite {
  readonly db: Database.Database;
  /** The file's ledger schema version: today's, or an older one read as it is (ADR 83). */
  readonly version: number;
  /**
   * Only when the file was read from a copy in memory (ADR 94): whether it has changed since (a
   * writer committed, or is running beside it with a -wal), so the copy no longer shows it all.
   */
  readonly outdated?: () => boolean;
  /** Closes the connection; removes the -wal and -shm this open made SQLite create. */
  close(): void;
}

/** What tells one state of the file from another: a commit changes its size or mtime. */
const fileStamp = (path: string): string => {
  const s = statSync(path, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${existsSync(`${path}-wal`)}`;
};

/** Reads the schema version; a damaged or foreign file fails here, at its first page. */
function probe(db: Database.Database, busyTimeoutMs: number): number {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  const version = db.pragma('user_version', { simple: true }) as number;
  db.prepare('SELECT count(*) FROM sqlite_master').get();
  return version;
}

/** SQLite could not make the -wal and -shm it needs to read a WAL database read-only. */
function needsSharedMemory(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(READONLY|CANTOPEN)/.test(code);
}

/**
 * The file read whole and opened in memory, for a WAL database that SQLite cannot read in place
 * read-only: it has no -wal (so the file holds every committed page) and no -shm, and this user
 * may not create them (a ledger shared read-only for an audit). An in-memory database cannot be in
 * WAL mode, so the copy's header (bytes 18 and 19, the read and write format versions) says
 * rollback journal; the file itself is not touched. It costs the file's size in memory while the
 * command runs.
 */
function inMemoryImage(path: string, beforeCopy?: () => void): Database.Database {
  const image = readFileSync(path);
  // A copy the caller is replacing can go now, before SQLite copies these bytes (ADR 113); only
  // for a file of this Flujo's schema, the one a caller that replaces a copy serves (stateRead.ts).
  // A file of another schema fails (a newer one here, an older one there) and leaves the caller
  // what it had.
  const version = image.length >= 64 ? image.readUInt32BE(60) : 0;
  if (version === LEDGER_SCHEMA_VERSION) beforeCopy?.();
  if (image.length >= 20 && image[18] === 2 && image[19] === 2) {
    image[18] = 1;
    image[19] = 1;
  }
  return new Database(image, { readonly: true });
}

/**
 * The read-only connections of this process reading a file in place, by the file's device and
 * inode: how many are open, and whether the -wal and -shm were missing when the first opened.
 */
const inPlace = new Map<string, { users: number; made: boolean }>();

const fileKey = (path: string): string => {
  const s = statSync(path, { bigint: true });
  return `${s.dev}:${s.ino}`;
};

/** How many files this process reads in place read-only now (for tests). */
export const inPlaceReaders = (): number => inPlace.size;

const unusable = (path: string, why: string) =>
  new ConfigError(ErrorCode.CONFIG_STATE_URI, `${why}`, { path });

/**
 * `beforeCopy`: called when the file is read into a copy in memory, once its bytes are read and
 * before SQLite copies them, so that a copy being replaced can be closed first (ADR 113). Only
 * when the header's schema version is LEDGER_SCHEMA_VERSION: an older file opens here, but the
 * caller that replaces a copy (`lens serve`) does not serve it.
 */
export function openSqliteReadOnly(
  path: string,
  busyTimeoutMs = 5000,
  beforeCopy?: () => void,
): ReadOnlySqlite {
  if (path === ':memory:' || !existsSync(path)) {
    throw unusable(
      path,
      `no SQLite ledger at ${path}; nothing was created. Check the project (--project, or run from its folder) and the state URI (--state-uri, FLUJO_STATE_URI, state_uri in flujo.toml)`,
    );
  }
  const key = fileKey(path);
  const shared = inPlace.get(key);
  // Sidecars an open of this process made are not a writer's: the first open's view holds.
  const hadSidecars = shared
    ? !shared.made
    : existsSync(`${path}-wal`) || existsSync(`${path}-shm`);
  const tidy = () => {
    if (hadSidecars || inPlace.has(key)) return;
    if (!(existsSync(`${path}-wal`) || existsSync(`${path}-shm`))) return;
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
  const cannotOpen = (e: unknown) =>
    unusable(
      path,
      `cannot open the SQLite ledger at ${path}: ${(e as Error).message}${damagedFileAdvice(path, e)}`,
    );
  let db: Database.Database | undefined;
  let version: number;
  let stamp: string | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    version = probe(db, busyTimeoutMs);
  } catch (e) {
    db?.close();
    db = undefined;
    tidy();
    // A WAL file with no -wal or -shm beside it, in a folder this user may not write: read it
    // from a copy in memory (ADR 94).
    if (hadSidecars && needsSharedMemory(e))
      // Its -wal holds commits the file does not, so a copy of the file would miss them.
      throw unusable(
        path,
        `cannot open the SQLite ledger at ${path}: ${(e as Error).message}; a -wal is beside it (its writer is running, or stopped without closing it) and this user cannot open or create its -shm there. Read a copy: the file, its -wal and -shm copied into a folder this user may write (--state-uri sqlite:///COPY), or have a user who may write the folder fold the -wal in (any command that records, or flujo lens rebuild)`,
      );
    if (hadSidecars || !needsSharedMemory(e)) throw cannotOpen(e);
    try {
      // A writer that starts while the file is read may checkpoint into it: a copy read across
      // that could mix two states, so it is taken again until the file stood still (ADR 94).
      for (let attempt = 1; ; attempt++) {
        stamp = fileStamp(path);
        db = inMemoryImage(path, attempt === 1 ? beforeCopy : undefined);
        if (fileStamp(path) === stamp) break;
        db.close();
        if (attempt === 3)
          throw new Error(
            'the file changed each time it was read into memory (a writer is running beside it); run the command again',
          );
      }
      version = probe(db, busyTimeoutMs);
    } catch (again) {
      db?.close();
      throw cannotOpen(again);
    }
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
  const taken = stamp;
  if (taken !== undefined) {
    const copy = db;
    return {
      db: copy,
      version,
      outdated: () => fileStamp(path) !== taken,
      close() {
        if (copy.open) copy.close();
      },
    };
  }
  const reader = shared ?? { users: 0, made: !hadSidecars };
  reader.users += 1;
  inPlace.set(key, reader);
  const live = db;
  let closed = false;
  return {
    db: live,
    version,
    close() {
      if (live.open) live.close();
      if (closed) return;
      closed = true;
      reader.users -= 1;
      if (reader.users === 0 && inPlace.get(key) === reader) inPlace.delete(key);
      tidy();
    },
  };
}
