/**
 * A run's events as an async iterable: what is recorded so far, then each new event as it is
 * committed, until the run ends (or, on request, rests on a person). Events come from the ledger
 * only, so a watcher sees exactly what a resume or an auditor would, in seq order, never an event
 * that might still be rolled back. Appends made by this engine wake the watcher at once; appends
 * of other processes are found by polling.
 */
import { EngineError, ErrorCode } from '../errors.js';
import { terminalTypes } from '../events/catalogue.js';
import { decodeRecord, type LedgerEvent } from '../events/envelope.js';
import type { LedgerStore } from '../ports.js';

export interface WatchOptions {
  /** Yield only events after this seq (default 0: from the run's first event). */
  readonly afterSeq?: number;
  /** Ends the iteration (without an error) when aborted. */
  readonly signal?: AbortSignal;
  /** End at a pause too (RunPaused and the snapshot its append may close with), not only when the run has ended. */
  readonly untilRest?: boolean;
  /** How often to look for events appended by other processes, in ms (default 200). */
  readonly pollMs?: number;
  /**
   * Wait for a run that is not in the ledger yet (one a worker has yet to start) instead of
   * failing with RUN_NOT_FOUND. A run this engine is starting is always waited for.
   */
  readonly waitForStart?: boolean;
}

const PAGE = 500;

/**
 * Per-run change counters of the runs being watched: a watcher that saw no change since it began
 * its last read may sleep until the next one. Runs nobody watches cost nothing.
 */
export class RunChanges {
  private readonly watched = new Map<
    string,
    { watchers: number; version: number; waiters: Set<() => void> }
  >();

  /** Starts tracking a run for one more watcher; the returned function stops it. */
  watch(runId: string): () => void {
    let w = this.watched.get(runId);
    if (!w) this.watched.set(runId, (w = { watchers: 0, version: 0, waiters: new Set() }));
    w.watchers += 1;
    const entry = w;
    return () => {
      entry.watchers -= 1;
      if (entry.watchers === 0 && this.watched.get(runId) === entry) this.watched.delete(runId);
    };
  }

  version(runId: string): number {
    return this.watched.get(runId)?.version ?? 0;
  }

  /** Called after each commit of a run made in this process. */
  changed(runId: string): void {
    const w = this.watched.get(runId);
    if (!w) return;
    w.version += 1;
    const waiting = [...w.waiters];
    w.waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Resolves on the run's next change, after `ms`, or when `signal` aborts. */
  wait(runId: string, ms: number, signal?: AbortSignal): Promise<void> {
    const w = this.watched.get(runId);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        w?.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      w?.waiters.add(done);
    });
  }
}

export async function* watchRun(
  ledger: LedgerStore,
  changes: RunChanges,
  runId: string,
  options: WatchOptions = {},
  starting: (runId: string) => boolean = () => false,
): AsyncGenerator<LedgerEvent, void, undefined> {
  const { signal, untilRest = false } = options;
  const pollMs = options.pollMs ?? 200;
  if (!Number.isFinite(pollMs) || pollMs <= 0)
    throw new EngineError(ErrorCode.USAGE, `watch ${runId}: pollMs must be a positive number`);
  let after = options.afterSeq ?? 0;
  const unwatch = changes.watch(runId);
  try {
    while (!(await ledger.head(runId))) {
      if (!options.waitForStart && !starting(runId))
        throw new EngineError(ErrorCode.RUN_NOT_FOUND, `no run ${runId} in the ledger`);
      if (signal?.aborted) return;
      await changes.wait(runId, pollMs, signal);
    }
    // At a pause: the run rests there unless something follows it. A pause that a later resume
    // superseded (events after it other than the pause's own closing snapshot) is not a rest.
    let resting = false;
    while (!signal?.aborted) {
      const seen = changes.version(runId);
      const rows = await ledger.read(runId, { fromSeq: after + 1, limit: PAGE });
      for (const row of rows) {
        if (resting && row.type !== 'SnapshotTaken') resting = false;
        const event = decodeRecord(runId, row.seq, row.body);
        after = row.seq;
        yield event;
        if (terminalTypes.has(event.type)) return;
        if (untilRest && event.type === 'RunPaused') resting = true;
        if (signal?.aborted) return;
      }
      // The last pause recorded, with nothing after it: the run rests on a person now.
      if (resting && rows.length < PAGE) return;
      // A commit during the read (or a full page) means there may be more already.
      if (rows.length === PAGE || changes.version(runId) !== seen) continue;
      await changes.wait(runId, pollMs, signal);
    }
  } finally {
    unwatch();
  }
}
