/**
 * The SQLite ledger (better-sqlite3, WAL). An append is one `BEGIN IMMEDIATE` transaction, or one
 * savepoint of a transaction shared with other runs' appends queued at the same time (group
 * commit, ./sqliteGroupCommit.ts, ADR 54): move the head if it is still the one the batch was
 * sealed against, insert the events, apply inline projections. Writers in other processes queue
 * on SQLite's write lock (busy_timeout) and then lose cleanly with LedgerConflictError. Opening
 * the file, read-write or read-only, is ./sqliteOpen.ts.
 */
import type Database from 'better-sqlite3';

import {
  EngineError,
  ErrorCode,
  LedgerConflictError,
  LedgerStoreError,
  isEngineError,
} from '../../errors.js';
import type { EventType, NewEvent } from '../../events/catalogue.js';
import type { SealedRecord, StoredRecord } from '../../events/envelope.js';
import type {
  AppendRequest,
  AppendResult,
  LedgerStore,
  ListRunsOptions,
  ReadOptions,
  RunHead,
  SubscribeOptions,
} from '../../ports.js';
import {
  Nudge,
  assertAppendable,
  pollSubscribe,
  prefixEnd,
  prepareAppend,
  type PreparedAppend,
} from './common.js';
import { damagedSqliteError, orDamaged } from './sqliteDamage.js';
import { openSqliteDatabase, openSqliteReadOnly } from './sqliteOpen.js';
import { readOrphans } from './sqliteOrphans.js';

export { openSqliteDatabase } from './sqliteOpen.js';
import { readSql } from './sqliteSchema.js';
import {
  createGroupCommitter,
  type GroupCommitOptions,
  type GroupCommitStats,
} from './sqliteGroupCommit.js';
import {
  createCheckpointer,
  type BackgroundCheckpointOptions,
  type CheckpointStats,
} from './sqliteCheckpointer.js';

export type SqliteSynchronous = 'FULL' | 'NORMAL';

/**
 * Runs inside the append transaction; projections write their tables here. `head` is the run's
 * head row as this append left it; `events` are the request's events the records were sealed
 * from, in order (read while the append is pending, as its bodies were when sealed).
 */
export type SqliteInlineProjection = (
  db: Database.Database,
  records: readonly SealedRecord[],
  head: RunHead,
  events: readonly NewEvent[],
) => void;

export interface SqliteLedgerOptions {
  readonly path: string;
  /** FULL (default) survives power loss; NORMAL may lose the last commits on power loss, never corrupts. */
  readonly synchronous?: SqliteSynchronous;
  readonly busyTimeoutMs?: number;
  /**
   * Read only (`lens verify`, `lens export`; ADR 83): the file must exist and is not changed — no
   * migration, no journal mode, no checkpoint; appends are refused (./sqliteReadOnly.ts).
   */
  readonly readOnly?: boolean;
  /** Read only, read from a copy in memory: called before SQLite copies the file's bytes (ADR 113). */
  readonly beforeCopy?: () => void;
  readonly projections?: readonly SqliteInlineProjection[];
  /**
   * Where WAL checkpoints run (ADR 37): `background` moves them to a worker thread once the
   * ledger has committed a few hundred times; `inline` leaves them to SQLite, inside the commit
   * that fills the WAL. An object tunes the background checkpointer (tests, benches). Default:
   * `background` with synchronous NORMAL, `inline` with FULL.
   */
  readonly checkpoint?: 'background' | 'inline' | BackgroundCheckpointOptions;
  /**
   * Group commit (ADR 54, default on): while several runs are in flight, their appends made in
   * one turn of the event loop share one transaction (one fsync with FULL), each in its own
   * savepoint with its own checks and result; a run alone commits inside `append()`. Off: every
   * append is its own transaction. An object tunes it (tests).
   */
  readonly groupCommit?: boolean | GroupCommitOptions;
}

export interface SqliteLedger extends LedgerStore {
  readonly db: Database.Database;
  /** What the background checkpointer has done (null: checkpoints are SQLite's, inline). */
  checkpoints(): CheckpointStats | null;
  /** Transactions and appends committed through group commit (null: group commit is off). */
  groupCommits(): GroupCommitStats | null;
  /** Read from a copy in memory (ADR 94): whether the file changed since the copy was taken. */
  readonly copyOutdated?: () => boolean;
}

interface HeadRow {
  run_no: number;
  run_id: string;
  seq: number;
  hash: Buffer;
  epoch: number;
  terminal: number;
  created_at: number;
  updated_at: number;
}
interface EventRow {
  pos: number;
  run_id: string;
  seq: number;
  type: string;
  at: number;
  prev: Buffer;
  hash: Buffer;
  body: Buffer;
}

const toHead = (r: HeadRow): RunHead => ({
  runId: r.run_id,
  seq: r.seq,
  hash: r.hash,
  epoch: r.epoch,
  terminal: r.terminal === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});
type RawEventRow = [number, string, number, string, number, Buffer, Buffer, Buffer];
const fromRaw = (r: RawEventRow): StoredRecord => ({
  runId: r[1],
  seq: r[2],
  type: r[3] as EventType,
  at: r[4],
  prev: r[5],
  hash: r[6],
  body: r[7],
  pos: String(r[0]),
});
const toRecord = (r: EventRow): StoredRecord => ({
  runId: r.run_id,
  seq: r.seq,
  type: r.type as EventType,
  at: r.at,
  prev: r.prev,
  hash: r.hash,
  body: r.body,
  pos: String(r.pos),
});

function storeError(path: string, op: string, e: unknown): unknown {
  if (isEngineError(e)) return e;
  const code = (e as { code?: string }).code ?? '';
  const damaged = damagedSqliteError(path, `appending to run ${op}`, e);
  if (damaged) return damaged;
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    // The head check passed but a row exists: another writer's events are there.
    return new LedgerConflictError(op, -1, null, e);
  }
  return new LedgerStoreError(
    `SQLite ledger ${op} failed (${code || 'error'}): ${(e as Error).message}`,
    e,
    code === 'SQLITE_BUSY',
  );
}

export function createSqliteLedger(options: SqliteLedgerOptions): SqliteLedger {
  const ro = options.readOnly
    ? openSqliteReadOnly(options.path, options.busyTimeoutMs, options.beforeCopy)
    : null;
  const db = ro ? ro.db : openSqliteDatabase(options.path, options);
  const projections = options.projections ?? [];
  const nudge = new Nudge();
  // Background by default only with NORMAL: with FULL every commit already syncs its WAL frames,
  // and a worker's fsyncs then compete with the writer's for the disk (ADR 37).
  const checkpoint =
    options.checkpoint ?? ((options.synchronous ?? 'FULL') === 'NORMAL' ? 'background' : 'inline');
  const checkpointer =
    checkpoint === 'inline' || options.path === ':memory:' || ro
      ? null
      : createCheckpointer(
          db,
          options.synchronous ?? 'FULL',
          typeof checkpoint === 'object' ? checkpoint : {},
        );

  // A damaged page met by a read names the file and what to do (./sqliteDamage.ts).
  const damaged = <T>(doing: string, read: () => T): T => {
    try {
      return read();
    } catch (e) {
      throw orDamaged(options.path, doing, e);
    }
  };
  // A read-only open reads the file in the tables of its own schema version (ADR 83).
  const sql = readSql(ro?.version);
  const selectHead = db.prepare<[string], HeadRow>('SELECT * FROM run_heads WHERE run_id = ?');
  // Prepared on the first append: a read-only open of an older schema has no event_log.
  let insertStatement: Database.Statement | undefined;
  const insertEvent = () =>
    (insertStatement ??= db.prepare(
      'INSERT INTO event_log (run_no, seq, type, at, prev, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ));
  // The head moves only if it is still the one the batch was sealed against, with the rules of
  // assertAppendable; when nothing changes, the head is read to name the refusal. Both return the
  // row as moved: its run number (the key of its events) and the head projections are given.
  const startHead = db.prepare<unknown[], HeadRow>(
    `INSERT INTO run_heads (run_id, seq, hash, epoch, terminal, created_at, updated_at)
     VALUES (?, ?, ?, coalesce(?, 0), ?, ?, ?) ON CONFLICT (run_id) DO NOTHING RETURNING *`,
  );
  const moveHead = db.prepare<unknown[], HeadRow>(
    `UPDATE run_heads SET seq = ?, hash = ?, epoch = coalesce(?, epoch), terminal = ?, updated_at = ?
      WHERE run_id = ? AND seq = ? AND hash = ? AND terminal = 0
        AND (? IS NULL OR epoch = ?) AND (? IS NULL OR epoch < ?)
     RETURNING *`,
  );
  // Raw rows (arrays) skip building an object per row: reads are the verifier's hot path.
  const selectEvents = db
    .prepare<[string, number, number], RawEventRow>(sql.selectEvents)
    .raw(true);
  const selectAll = db.prepare<[number, number], EventRow>(sql.selectAfterPos);

  const unrecorded = (): string[] => {
    const runs = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'")
      .get();
    if (!runs) return [];
    return db
      .prepare<[], { run_id: string }>(
        `SELECT run_id FROM runs WHERE run_id NOT IN (SELECT run_id FROM run_heads) ORDER BY run_id`,
      )
      .all()
      .map((r) => r.run_id);
  };

  const appendTx = db.transaction((req: AppendRequest, prepared: PreparedAppend) => {
    const h = prepared.head;
    const terminal = prepared.terminal ? 1 : 0;
    const moved =
      req.expected.seq === 0
        ? req.epoch === undefined || req.epoch === 0
          ? startHead.get(req.runId, h.seq, h.hash, prepared.claimEpoch, terminal, req.at, req.at)
          : undefined
        : moveHead.get(
            h.seq,
            h.hash,
            prepared.claimEpoch,
            terminal,
            req.at,
            req.runId,
            req.expected.seq,
            req.expected.hash,
            req.epoch ?? null,
            req.epoch ?? null,
            prepared.claimEpoch,
            prepared.claimEpoch,
          );
    if (moved === undefined) {
      const row = selectHead.get(req.runId);
      assertAppendable(req, prepared, row ? toHead(row) : null);
      throw new LedgerConflictError(req.runId, req.expected.seq, row?.seq ?? 0);
    }
    const insert = insertEvent();
    for (const r of prepared.records) {
      insert.run(moved.run_no, r.seq, r.type, r.at, r.prev, r.hash, r.body);
    }
    if (projections.length) {
      const head = toHead(moved);
      for (const project of projections) project(db, prepared.records, head, req.events);
    }
  });

  const afterCommit = () => {
    checkpointer?.afterCommit();
    nudge.notify();
  };
  const grouped =
    options.groupCommit === false || ro
      ? null
      : createGroupCommitter(
          db,
          appendTx,
          (op, e) => storeError(options.path, op, e),
          afterCommit,
          typeof options.groupCommit === 'object' ? options.groupCommit : {},
        );

  return {
    kind: 'sqlite',
    db,
    ...(ro?.outdated ? { copyOutdated: ro.outdated } : {}),

    append(req: AppendRequest): Promise<AppendResult> {
      if (ro) {
        return Promise.reject(
          new EngineError(
            ErrorCode.USAGE,
            `append to ${req.runId}: the SQLite ledger ${options.path} was opened read-only`,
          ),
        );
      }
      let prepared: PreparedAppend;
      try {
        prepared = prepareAppend(req);
      } catch (e) {
        return Promise.reject(e);
      }
      if (grouped) return grouped.append(req, prepared);
      try {
        appendTx.immediate(req, prepared);
      } catch (e) {
        return Promise.reject(storeError(options.path, req.runId, e));
      }
      afterCommit();
      return Promise.resolve({ records: prepared.records, head: prepared.head });
    },

    async head(runId: string) {
      const row = damaged(`reading the head of run ${runId}`, () => selectHead.get(runId));
      return row ? toHead(row) : null;
    },

    async read(runId: string, opts: ReadOptions = {}) {
      const from = opts.fromSeq ?? 1;
      return damaged(`reading run ${runId}'s events from seq ${from}`, () =>
        selectEvents.all(runId, from, opts.limit ?? -1),
      ).map(fromRaw);
    },

    async listRuns(opts: ListRunsOptions = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (opts.prefix) {
        // The ids that start with the prefix are the range [prefix, prefixEnd) exactly (BINARY
        // collation); with no end a prefix no run has read every row after it.
        const end = prefixEnd(opts.prefix);
        where.push(end === undefined ? 'run_id >= ?' : 'run_id >= ? AND run_id < ?');
        params.push(opts.prefix, ...(end === undefined ? [] : [end]));
      }
      if (opts.afterRunId) {
        where.push('run_id > ?');
        params.push(opts.afterRunId);
      }
      const sql = `SELECT * FROM run_heads ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY run_id LIMIT ?`;
      return damaged('listing runs', () =>
        db.prepare<unknown[], HeadRow>(sql).all(...params, opts.limit ?? -1),
      ).map(toHead);
    },

    async readAll(after?: string, limit = 1000) {
      return damaged('reading events in commit order', () =>
        selectAll.all(after === undefined ? 0 : Number(after), limit),
      ).map(toRecord);
    },

    async orphans(prefix?: string) {
      const rows = damaged('looking for events whose head row is gone', () =>
        readOrphans(db, sql, prefix),
      );
      return rows.map((r) => ({ events: r.events, firstSeq: r.first_seq, firstBody: r.body }));
    },

    async unrecordedRuns() {
      return damaged('looking for read-model runs the ledger does not hold', () => unrecorded());
    },

    subscribe(opts?: SubscribeOptions) {
      return pollSubscribe((after, limit) => this.readAll(after, limit), nudge, opts);
    },

    checkpoints: () => checkpointer?.stats() ?? null,
    groupCommits: () => grouped?.stats() ?? null,

    async close() {
      // At once, not after an await: a copy in memory being replaced is closed before the next
      // copy is taken (ADR 113). A read-only open has no queued appends and no checkpointer.
      if (ro) return ro.close();
      // Appends queued but not yet flushed are committed (or refused) before the connection goes.
      if (db.open) grouped?.flush();
      // The worker's connection closes first, so that this one is the last and SQLite
      // checkpoints the WAL and removes it.
      await checkpointer?.close();
      if (db.open) db.close();
    },
  };
}
