/**
 * A SQLite file read from a copy in memory (a user who may only read it; ADR 94) is read again
 * when the file changes (ADR 104). `lens watch` swaps the ledger it polls (`freshLedger`);
 * `lens serve` reads through a state whose ledger and read models follow the newest copy
 * (`refreshingState`). A copy costs the file's size in memory, so the one replaced is closed:
 * at once by watch, and by serve once the calls that were reading it have returned.
 */
import type { ReadModels } from '../../projections/readModels.js';
import type { LedgerStore, SubscribeOptions } from '../../ports.js';
import { Nudge, pollSubscribe } from './common.js';
import type { State } from './state.js';

/** Whether `ledger` was read from a copy in memory (ADR 94). */
export function readFromCopy(ledger: LedgerStore): boolean {
  return typeof (ledger as { copyOutdated?: unknown }).copyOutdated === 'function';
}

/** Whether `ledger` is a copy in memory of a file that has changed since the copy was taken. */
export function copyOutdated(ledger: LedgerStore): boolean {
  return (ledger as { copyOutdated?: () => boolean }).copyOutdated?.() ?? false;
}

/**
 * The ledger to read on with: `ledger` itself, or, when it is a copy the file has moved on from,
 * the file opened again by `open`. `ledger` is closed first (closing is idempotent, so the caller
 * that opened it may close it again): the new copy is not taken beside the old one, which with
 * the bytes read would hold three times the file, and a watcher that cannot read the file again
 * fails anyway.
 */
export async function freshLedger(
  ledger: LedgerStore,
  open: () => Promise<LedgerStore>,
): Promise<LedgerStore> {
  if (!copyOutdated(ledger)) return ledger;
  await ledger.close();
  return open();
}

export interface RefreshOptions {
  /**
   * Opens the state again: a new copy, or in place when SQLite now can (a -wal is there). It
   * calls `release` once the file's bytes are read and its header is this Flujo's schema, before
   * SQLite copies them (`beforeCopy`): the state replaced is closed then if no call is reading it
   * (ADR 113).
   */
  readonly open: (release: () => void) => Promise<State>;
  /** The file is looked at, on a call, at most this often. Default 1000 ms. */
  readonly checkEveryMs?: number;
  readonly now?: () => number;
  /** A check or an open failed: the state read so far is kept and the next check tries again. */
  readonly onError?: (e: unknown) => void;
  /** A newer state is read from now on. */
  readonly onRefresh?: () => void;
}

interface Generation {
  readonly state: State;
  /** Calls reading this state that have not returned. */
  users: number;
  retired: boolean;
  closing?: Promise<void>;
}

/**
 * A state that reads from `first` until its copy is outdated, then from a fresh open of the file.
 * Each call reads one state from start to end; the state replaced is closed when no call is
 * reading it any more. Several calls of one request may read different states if a refresh falls
 * between them: the newer holds all the older did (a ledger only grows).
 */
export function refreshingState(first: State, options: RefreshOptions): State {
  const every = options.checkEveryMs ?? 1000;
  const now = options.now ?? Date.now;
  const generations = new Set<Generation>();
  const nudge = new Nudge();
  let current = generation(first);
  let lastCheck = now();
  let pending: Promise<void> | undefined;
  let closed = false;
  /** The state closed for a refresh that then failed: calls fail until a look succeeds. */
  let lost: Generation | undefined;
  let lostWhy: unknown;

  function generation(state: State): Generation {
    const g: Generation = { state, users: 0, retired: false };
    generations.add(g);
    return g;
  }
  function release(g: Generation, force = false): void {
    if (g.closing || (!force && (!g.retired || g.users > 0))) return;
    g.closing = g.state
      .close()
      .catch((e: unknown) => options.onError?.(e))
      .finally(() => generations.delete(g));
  }
  async function refresh(): Promise<void> {
    const old = current;
    // Calls that come meanwhile wait for this refresh, so when none is reading the old state it
    // can go before the new copy is taken: two copies at the peak, not three (ADR 113).
    const early = () => {
      if (old.users > 0 || closed) return;
      old.retired = true;
      release(old);
      lost = old;
    };
    try {
      const fresh = await options.open(early);
      if (closed) {
        await fresh.close();
        return;
      }
      current = generation(fresh);
      lost = undefined;
      old.retired = true;
      release(old);
      options.onRefresh?.();
      nudge.notify();
    } catch (e) {
      if (lost) lostWhy = e;
      options.onError?.(e);
    } finally {
      pending = undefined;
      lastCheck = now();
    }
  }
  function check(): Promise<void> | undefined {
    if (pending || closed || now() - lastCheck < every) return pending;
    lastCheck = now();
    try {
      if (!copyOutdated(current.state.ledger)) return undefined;
    } catch (e) {
      // The file is gone or unreadable now: keep serving what was read.
      options.onError?.(e);
      return undefined;
    }
    pending = refresh();
    return pending;
  }
  async function use<T>(read: (state: State) => Promise<T>): Promise<T> {
    await check();
    const g = current;
    if (g === lost) throw lostWhy;
    g.users++;
    try {
      return await read(g.state);
    } finally {
      g.users--;
      release(g);
    }
  }

  const { ledger: l0 } = first;
  const ledger: LedgerStore = {
    kind: l0.kind,
    append: (req) => use((s) => s.ledger.append(req)),
    head: (runId) => use((s) => s.ledger.head(runId)),
    read: (runId, o) => use((s) => s.ledger.read(runId, o)),
    listRuns: (o) => use((s) => s.ledger.listRuns(o)),
    readAll: (after, limit) => use((s) => s.ledger.readAll(after, limit)),
    // Polls through readAll, so a subscriber moves to the fresh copy with everyone else; a
    // refresh wakes it at once. Positions are the file's, the same in every copy of it.
    subscribe: (o?: SubscribeOptions) =>
      pollSubscribe((after, limit) => ledger.readAll(after, limit), nudge, o),
    ...(l0.orphans
      ? { orphans: (prefix) => use(async (s) => (await s.ledger.orphans?.(prefix)) ?? []) }
      : {}),
    ...(l0.unrecordedRuns
      ? { unrecordedRuns: () => use(async (s) => (await s.ledger.unrecordedRuns?.()) ?? []) }
      : {}),
    close: () => close(),
  };
  const readModels: ReadModels = {
    listRuns: (q) => use((s) => s.readModels.listRuns(q)),
    countByStatus: (q) => use((s) => s.readModels.countByStatus(q)),
    getRun: (runId) => use((s) => s.readModels.getRun(runId)),
    steps: (runId) => use((s) => s.readModels.steps(runId)),
    costs: (q) => use((s) => s.readModels.costs(q)),
    hitl: (q) => use((s) => s.readModels.hitl(q)),
    getSystemState: (key) => use((s) => s.readModels.getSystemState(key)),
    setSystemState: (key, value) => use((s) => s.readModels.setSystemState(key, value)),
  };
  async function close(): Promise<void> {
    closed = true;
    await pending;
    const closing: Promise<void>[] = [];
    for (const g of [...generations]) {
      release(g, true);
      if (g.closing) closing.push(g.closing);
    }
    await Promise.all(closing);
  }
  return { ledger, readModels, rebuild: (only) => use((s) => s.rebuild(only)), close };
}
