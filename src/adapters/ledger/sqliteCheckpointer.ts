/**
 * WAL checkpoints off the commit path (ADR 37). SQLite's automatic checkpoint runs inside the
 * commit that crosses `wal_autocheckpoint` pages: that commit copies the WAL back into the
 * database and waits for two fsyncs, which stalls the run for tens of milliseconds every few hundred
 * steps. Once a ledger has committed `startAfter` times, this module turns the automatic
 * checkpoint off and runs PASSIVE checkpoints on a second connection in a worker thread. They
 * copy and sync while the engine goes on committing (a PASSIVE checkpoint never blocks a writer).
 *
 * A PASSIVE checkpoint cannot finish while commits keep arriving, and SQLite only rewinds the WAL
 * when a write starts with every frame already copied. So once the WAL holds `resetFrames`
 * frames, the next check runs one PASSIVE checkpoint on the writer's own connection, between
 * commits: it copies only the frames written since the worker's last pass, and the next commit
 * rewinds the WAL. The WAL stays bounded and the writer pays for a small tail, not the whole log.
 *
 * Main thread and worker share an Int32Array (no messages: a run of synchronous commits may never
 * yield to the event loop). Durability is SQLite's own: a checkpoint on a connection with the
 * same `synchronous` level syncs the WAL before it copies and the database after.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

import type Database from 'better-sqlite3';

export interface BackgroundCheckpointOptions {
  /** Commits on this connection before the worker starts (short-lived ledgers never start one). */
  readonly startAfter?: number;
  /** Commits between two looks at the worker. */
  readonly every?: number;
  /** WAL frames after which the writer finishes the checkpoint itself so that the WAL rewinds. */
  readonly resetFrames?: number;
  /**
   * WAL frames past which the writer waits for a busy worker before it commits again (default 4 ×
   * `resetFrames`): a checkpoint whose fsync is slow must not let the WAL grow without bound.
   */
  readonly maxFrames?: number;
  /** Tests only: the worker sleeps this long after each checkpoint, as a slow disk would. */
  readonly workerPassDelayMs?: number;
}

export interface CheckpointStats {
  /** The worker thread is running. */
  readonly running: boolean;
  /** PASSIVE checkpoints done by the worker. */
  readonly background: number;
  /** Catch-up checkpoints done on the writer's connection. */
  readonly onWriter: number;
  /** Times the writer waited for a busy worker because the WAL had passed `maxFrames`. */
  readonly stalls: number;
  /** The worker failed to start or to checkpoint; SQLite's automatic checkpoint is back on. */
  readonly failed: string | null;
}

export interface Checkpointer {
  /** Call after each committed append. */
  afterCommit(): void;
  stats(): CheckpointStats;
  /** Stops the worker and waits for its connection to close. */
  close(): Promise<void>;
}

// Int32Array slots shared with the worker.
const REQUESTED = 0; // checkpoints asked for (main increments)
const SERVED = 1; // the last request the worker has finished
const LOG = 2; // frames in the WAL at the worker's last pass
const DONE = 3; // checkpoints the worker has finished
const STOP = 4; // 1: the worker should close and exit
const FAILED = 5; // 1: the worker hit an error (message posted)
const NAP = 6; // never written: the worker's test delay waits on it

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const s = workerData.shared;
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = ' + workerData.synchronous);
  let seen = 0;
  for (;;) {
    Atomics.wait(s, ${REQUESTED}, seen);
    if (Atomics.load(s, ${STOP}) === 1) break;
    seen = Atomics.load(s, ${REQUESTED});
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    Atomics.store(s, ${LOG}, r.log);
    if (workerData.delayMs > 0) Atomics.wait(s, ${NAP}, 0, workerData.delayMs);
    Atomics.add(s, ${DONE}, 1);
    Atomics.store(s, ${SERVED}, seen);
    Atomics.notify(s, ${SERVED});
  }
} catch (e) {
  Atomics.store(s, ${FAILED}, 1);
  parentPort.postMessage(String(e && e.message || e));
} finally {
  if (db && db.open) db.close();
}
`;

const AUTOCHECKPOINT_PAGES = 1000; // SQLite's default, restored if the worker fails
const WAL_HEADER = 32;
const FRAME_HEADER = 24;
const STALL_LIMIT_MS = 10_000; // a worker silent this long is given up on

export function createCheckpointer(
  db: Database.Database,
  synchronous: 'FULL' | 'NORMAL',
  options: BackgroundCheckpointOptions = {},
): Checkpointer {
  const startAfter = options.startAfter ?? 256;
  const every = options.every ?? 64;
  const resetFrames = options.resetFrames ?? 2000;
  const maxFrames = options.maxFrames ?? 4 * resetFrames;
  const frameBytes = (db.pragma('page_size', { simple: true }) as number) + FRAME_HEADER;
  const walPath = `${db.name}-wal`;
  const shared = new Int32Array(new SharedArrayBuffer(8 * Int32Array.BYTES_PER_ELEMENT));
  let worker: Worker | null = null;
  let exited: Promise<void> | null = null;
  let commits = 0;
  let onWriter = 0;
  let stalls = 0;
  let failed: string | null = null;
  let stopped = false;

  const fail = (why: string) => {
    if (failed !== null) return;
    failed = why;
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  };

  const start = () => {
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          path: db.name,
          synchronous,
          shared,
          delayMs: options.workerPassDelayMs ?? 0,
          driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        },
      });
    } catch (e) {
      fail(`cannot start the checkpoint worker: ${(e as Error).message}`);
      return;
    }
    worker.on('message', (m: string) => fail(`the checkpoint worker failed: ${m}`));
    worker.on('error', (e: Error) => fail(`the checkpoint worker failed: ${e.message}`));
    exited = new Promise((resolve) => worker?.once('exit', () => resolve()));
    // Never keeps a process alive that forgot to close its ledger. After the listeners: adding a
    // 'message' listener refs the worker's port again.
    worker.unref();
    db.pragma('wal_autocheckpoint = 0');
    // The first commit after a rewind truncates the WAL file to this size, so the file's size
    // tells how many frames have been written since the last rewind.
    db.pragma(`journal_size_limit = ${WAL_HEADER + resetFrames * frameBytes}`);
  };

  const walFrames = () => {
    try {
      return (statSync(walPath).size - WAL_HEADER) / frameBytes;
    } catch {
      return 0; // no WAL file: nothing to checkpoint
    }
  };

  // The WAL has passed maxFrames while the worker is still on its last pass (a slow fsync): wait
  // for it, then copy the tail here so that the next commit rewinds. This is the stall SQLite's
  // own checkpoint would have put on a commit, taken only when the disk falls behind.
  const waitForWorker = () => {
    const deadline = Date.now() + STALL_LIMIT_MS;
    for (;;) {
      const served = Atomics.load(shared, SERVED);
      if (served === Atomics.load(shared, REQUESTED) || Atomics.load(shared, FAILED) === 1) break;
      const left = deadline - Date.now();
      if (left <= 0)
        return fail(`the checkpoint worker did not finish within ${STALL_LIMIT_MS} ms`);
      Atomics.wait(shared, SERVED, served, left);
    }
    stalls += 1;
    catchUp();
  };

  const catchUp = () => {
    Atomics.store(shared, LOG, 0);
    db.pragma('wal_checkpoint(PASSIVE)');
    onWriter += 1;
  };

  return {
    afterCommit() {
      commits += 1;
      if (failed !== null || commits % every !== 0) return;
      if (worker === null) {
        if (commits >= startAfter) start();
        return;
      }
      if (Atomics.load(shared, FAILED) === 1) {
        fail('the checkpoint worker failed');
        return;
      }
      // Still busy with the last request: look again after the next `every` commits, unless
      // the WAL has grown past its bound meanwhile.
      if (Atomics.load(shared, SERVED) !== Atomics.load(shared, REQUESTED)) {
        if (walFrames() > maxFrames) waitForWorker();
        return;
      }
      if (Atomics.load(shared, LOG) >= resetFrames) return catchUp();
      Atomics.add(shared, REQUESTED, 1);
      Atomics.notify(shared, REQUESTED);
    },

    stats: () => ({
      running: worker !== null && failed === null && !stopped,
      background: Atomics.load(shared, DONE),
      onWriter,
      stalls,
      failed,
    }),

    async close() {
      stopped = true;
      if (worker === null) return;
      // Unref'd, the worker would not keep the event loop alive while we wait for it, and a
      // process whose last work is this close would exit with the wait unsettled.
      worker.ref();
      Atomics.store(shared, STOP, 1);
      Atomics.add(shared, REQUESTED, 1);
      Atomics.notify(shared, REQUESTED);
      await exited;
    },
  };
}
