/**
 * Group commit for the SQLite ledger (ADR 54). Appends of different runs that are ready at the same
 * time share one `BEGIN IMMEDIATE … COMMIT`, so one commit's system calls and, with
 * `synchronous=FULL`, one fsync. Each append keeps its own semantics: it runs inside its own
 * SAVEPOINT (better-sqlite3 nests a transaction function called inside a transaction that way), so
 * a stale head, a fence, a throwing projection or a constraint failure rolls back that append
 * alone and rejects it alone, while the others of the group commit. Every promise of the group is
 * settled only after COMMIT has returned: nothing can act on an append before it is durable.
 *
 * What "ready at the same time" means: better-sqlite3 is synchronous, so nothing can enqueue while
 * a transaction runs; appends can share one only if some wait. An append made while no other run
 * in flight (neither ended nor paused) has appended within TOGETHER_MS is committed at once,
 * inside `append()`, exactly as without group commit: a run alone, or runs one after another,
 * never wait. Otherwise the append is queued and the queue is committed on the next turn of the
 * event loop (`setImmediate`): by then every run whose step finished in this turn (function steps,
 * whose drivers continue together in the microtasks after one flush settles them, and agents'
 * replies read in the same poll phase) has queued its append. A microtask would not do: Node
 * drains the microtasks after each I/O callback, so runs woken by separate callbacks would still
 * commit one by one.
 *
 * A group of one is exactly the single append of before (no savepoint). If the group's
 * transaction itself fails (its COMMIT, or an error SQLite answers by rolling back the whole
 * transaction), nothing of it was written, and every append that had not failed on its own is
 * tried again alone, so that one append's failure never becomes another's. If BEGIN fails (the
 * write lock stayed busy past busy_timeout), every append of the group fails with that error, as
 * each would have alone.
 */
import type Database from 'better-sqlite3';

import type { AppendRequest, AppendResult } from '../../ports.js';
import type { PreparedAppend } from './common.js';

export interface GroupCommitStats {
  /** Append transactions committed (a group of one included). */
  readonly transactions: number;
  /** Appends committed. */
  readonly appends: number;
  /** Appends committed in a transaction shared with at least one other append. */
  readonly grouped: number;
  /** The most appends one transaction has committed. */
  readonly largest: number;
  /** Groups whose shared transaction failed; their appends were tried again alone. */
  readonly fellBack: number;
}

interface Pending {
  readonly req: AppendRequest;
  readonly prepared: PreparedAppend;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

export interface GroupCommitOptions {
  /**
   * How recent another run's append must be for an append to wait for the next turn of the event
   * loop instead of committing at once (ms, default 10). Tests widen it to make grouping certain.
   */
  readonly togetherMs?: number;
}

export interface GroupCommitter {
  /** Queues an append; resolves once the transaction holding it has committed. */
  append(req: AppendRequest, prepared: PreparedAppend): Promise<AppendResult>;
  /** Runs what is queued now (close() calls it before the connection closes). */
  flush(): void;
  stats(): GroupCommitStats;
}

const resultOf = (p: Pending): AppendResult => ({
  records: p.prepared.records,
  head: p.prepared.head,
});

/**
 * Runs are taken to be in flight together when an append comes at most this long after one of
 * another run that has neither ended nor paused. Runs one after another never are: the one before
 * has ended (or paused) when the next appends.
 */
const TOGETHER_MS = 10;
/** Runs remembered as in flight; more means some stopped without ending, and all are forgotten. */
const MAX_OPEN = 4096;

const pauses = (p: PreparedAppend): boolean => p.records.some((r) => r.type === 'RunPaused');

/** Thrown inside the group when SQLite rolled back the whole transaction under an append. */
class GroupLost extends Error {}

/**
 * `appendTx` is the ledger's append transaction function: called outside a transaction it
 * begins and commits one, called inside one it runs in a savepoint. `toError` maps a failure to
 * the typed error the caller sees; `afterCommit` runs after each committed transaction.
 */
export function createGroupCommitter(
  db: Database.Database,
  appendTx: Database.Transaction<(req: AppendRequest, prepared: PreparedAppend) => void>,
  toError: (runId: string, e: unknown) => unknown,
  afterCommit: () => void,
  options: GroupCommitOptions = {},
): GroupCommitter {
  const togetherMs = options.togetherMs ?? TOGETHER_MS;
  let queue: Pending[] = [];
  let scheduled = false;
  // Runs whose last append neither ended nor paused them, and the last two of them to append.
  const open = new Set<string>();
  let aRun = '';
  let aAt = -Infinity;
  let bRun = '';
  let bAt = -Infinity;
  /** Notes an append of `runId`; true when another run in flight appended just before it. */
  const accompanied = (runId: string, rests: boolean): boolean => {
    const now = performance.now();
    const near = (run: string, at: number) =>
      run !== runId && now - at <= togetherMs && open.has(run);
    const together = near(aRun, aAt) || near(bRun, bAt);
    if (rests) {
      open.delete(runId);
    } else {
      if (!open.has(runId)) {
        if (open.size >= MAX_OPEN) open.clear(); // runs that stopped without ending or pausing
        open.add(runId);
      }
      if (aRun !== runId) {
        bRun = aRun;
        bAt = aAt;
        aRun = runId;
      }
      aAt = now;
    }
    return together;
  };
  const counts = { transactions: 0, appends: 0, grouped: 0, largest: 0, fellBack: 0 };

  const committed = (n: number) => {
    counts.transactions += 1;
    counts.appends += n;
    if (n > 1) counts.grouped += n;
    if (n > counts.largest) counts.largest = n;
    afterCommit();
  };

  /** One append in its own transaction: the ledger's append as it was before group commit. */
  const alone = (p: Pending) => {
    try {
      appendTx.immediate(p.req, p.prepared);
    } catch (e) {
      p.reject(toError(p.req.runId, e));
      return;
    }
    committed(1);
    p.resolve(resultOf(p));
  };

  // Each append in a savepoint; its failure is kept, not thrown, unless SQLite has rolled back
  // the whole transaction (then nothing of the group stands, and the group is given up).
  let began = false;
  const groupTx = db.transaction((batch: readonly Pending[], failed: Map<number, unknown>) => {
    began = true;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i] as Pending;
      try {
        appendTx(p.req, p.prepared);
      } catch (e) {
        failed.set(i, e);
        if (!db.inTransaction) throw new GroupLost();
      }
    }
  });

  const group = (batch: Pending[]) => {
    const failed = new Map<number, unknown>();
    began = false;
    try {
      groupTx.immediate(batch, failed);
    } catch (e) {
      if (!began) {
        // BEGIN IMMEDIATE failed (the write lock stayed busy): as each append would have alone.
        for (const p of batch) p.reject(toError(p.req.runId, e));
        return;
      }
      // COMMIT failed, or an append's error rolled back the whole transaction: nothing of the
      // group was written. What failed on its own stays failed; the rest is tried alone.
      counts.fellBack += 1;
      batch.forEach((p, i) => {
        if (failed.has(i)) p.reject(toError(p.req.runId, failed.get(i)));
        else alone(p);
      });
      return;
    }
    if (failed.size < batch.length) committed(batch.length - failed.size);
    batch.forEach((p, i) => {
      if (failed.has(i)) p.reject(toError(p.req.runId, failed.get(i)));
      else p.resolve(resultOf(p));
    });
  };

  const flush = () => {
    scheduled = false;
    const batch = queue;
    if (batch.length === 0) return;
    queue = [];
    if (batch.length === 1) alone(batch[0] as Pending);
    else group(batch);
  };

  return {
    append(req, prepared) {
      const together = accompanied(req.runId, prepared.terminal || pauses(prepared));
      if (!together && queue.length === 0) {
        // Alone: committed now, inside append(), as it always was. Nothing waits for a flush.
        try {
          appendTx.immediate(req, prepared);
        } catch (e) {
          return Promise.reject(toError(req.runId, e));
        }
        committed(1);
        return Promise.resolve({ records: prepared.records, head: prepared.head });
      }
      // Queued behind others (never overtaking them), or with other runs in flight: the next turn
      // of the event loop commits every append queued by then.
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ req, prepared, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    flush,
    stats: () => ({ ...counts }),
  };
}
