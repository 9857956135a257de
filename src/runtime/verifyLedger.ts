/**
 * Verifies runs in a store: streams each run's rows through the chain verifier together with the
 * head the store recorded in the same transactions.
 */
import { genesisHash, linkHash } from '../events/chain.js';
import { bytesEqual } from '../events/codec.js';
import {
  decodeEnvelope,
  decodeRecord,
  type LedgerEvent,
  type StoredRecord,
} from '../events/envelope.js';
import {
  createRunVerifier,
  VerifyReason,
  type RunVerification,
  type VerifyFailure,
} from '../events/verify.js';
import { LedgerCorruptError } from '../errors.js';
import type { LedgerStore, RunHead } from '../ports.js';

const PAGE = 2000;

/**
 * A read the store could not complete because the stored file is damaged (SQLite's
 * SQLITE_CORRUPT or SQLITE_NOTADB, Postgres' data_corrupted / index_corrupted): for a verify, a
 * failed run, not an unusable store.
 */
export function isDamagedRead(e: unknown): boolean {
  return damagedCause(e) !== undefined;
}

/** The store's own error in `e` or its causes that says the data is damaged. */
function damagedCause(e: unknown): Error | undefined {
  const seen = new Set<unknown>();
  for (let c: unknown = e; c && !seen.has(c); c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^(SQLITE_CORRUPT|SQLITE_NOTADB|XX001|XX002)/.test(code))
      return c as Error;
  }
  return undefined;
}

const unreadable = (runId: string, seq: number, e: unknown): RunVerification => {
  // The store's words for the damage, not the advice a command prints for the whole file.
  const why = (damagedCause(e) ?? (e as Error)).message;
  return {
    runId,
    ok: false,
    events: 0,
    headSeq: seq - 1,
    headHash: '',
    failure: {
      runId,
      seq,
      reason: VerifyReason.unreadable,
      detail:
        seq > 1
          ? `the store cannot read this run's rows from seq ${seq} on (${why})`
          : `the store cannot read this run's rows (${why})`,
    },
  };
};

/**
 * Streams the run's rows page by page through the chain verifier: memory stays bounded. A page
 * the store cannot read (a damaged file) is read again row by row, so that the failure names the
 * first seq that cannot be read and the rows before it are still checked.
 */
export async function verifyStoredRun(store: LedgerStore, runId: string): Promise<RunVerification> {
  let head: RunHead | null;
  try {
    head = await store.head(runId);
  } catch (e) {
    if (isDamagedRead(e)) return unreadable(runId, 1, e);
    throw e;
  }
  // The head and the rows are separate reads: a run still being recorded may grow in between,
  // and its rows then go past the head read first. That is the run's driver appending, not a
  // head that disagrees with its chain, when the head read again has moved on: verify again
  // against it. A head that stays behind its rows is the mismatch it looks like.
  for (let attempt = 1; ; attempt++) {
    const v = await verifyAgainst(store, runId, head);
    if (v.failure?.reason !== VerifyReason.headMismatch || !head || v.headSeq <= head.seq) return v;
    if (attempt >= GROWING_ATTEMPTS) return v;
    let now: RunHead | null;
    try {
      now = await store.head(runId);
    } catch {
      return v;
    }
    if (!now || now.seq <= head.seq) return v;
    head = now;
  }
}

/** How many times a run that keeps growing under a verify is read again before it is judged. */
const GROWING_ATTEMPTS = 5;

async function verifyAgainst(
  store: LedgerStore,
  runId: string,
  head: RunHead | null,
): Promise<RunVerification> {
  const verifier = createRunVerifier(runId, head ?? undefined);
  let from = 1;
  for (;;) {
    let page;
    try {
      page = await store.read(runId, { fromSeq: from, limit: PAGE });
    } catch (e) {
      if (!isDamagedRead(e)) throw e;
      for (let seq = from; ; seq++) {
        let rows;
        try {
          rows = await store.read(runId, { fromSeq: seq, limit: 1 });
        } catch (again) {
          if (!isDamagedRead(again)) throw again;
          return unreadable(runId, seq, again);
        }
        const row = rows[0];
        if (!row) return verifier.finish();
        const failed = verifier.push(row);
        if (failed) return failed;
        seq = row.seq;
      }
    }
    for (const row of page) {
      const failed = verifier.push(row);
      if (failed) return failed;
    }
    const last = page[page.length - 1];
    if (page.length < PAGE || !last) return verifier.finish();
    from = last.seq + 1;
  }
}

/**
 * For a command that found a run not shaped as recorded runs are (no RunStarted at seq 1, no
 * read-model row): the damage `flujo lens verify` names, as an error naming run, seq and reason —
 * or, when the chain itself verifies, a run that does not start with RunStarted.
 */
export async function corruptRun(
  store: LedgerStore,
  runId: string,
  outcome: string,
): Promise<LedgerCorruptError> {
  return (
    (await chainDamage(store, runId, outcome)) ??
    new LedgerCorruptError(runId, 1, 'bad_event', 'the run does not start with RunStarted', outcome)
  );
}

/**
 * A run's RunStarted, read alone (one row, seq 1). A run's record is what its RunStarted began
 * (ADR 74), so a command that acts on a run or presents it needs it there (ADR 124). When seq 1
 * is not stored, is another event, or (`hashed`, for the commands that record) is not the
 * chain's first row (its prev not the run's genesis, its bytes not hashing to its hash): the
 * run's first chain failure as `flujo lens verify` names it, from the whole run, read on damage
 * only. `row` is seq 1 as the caller already read it (null: not stored), saving the read. A body
 * that does not decode throws as `decodeRecord` does.
 */
export async function recordedStart(
  store: LedgerStore,
  runId: string,
  outcome: string,
  opts: { readonly hashed?: boolean; readonly row?: StoredRecord | null } = {},
): Promise<Extract<LedgerEvent, { type: 'RunStarted' }>> {
  const row =
    opts.row !== undefined ? opts.row : (await store.read(runId, { fromSeq: 1, limit: 1 }))[0];
  if (
    row?.seq === 1 &&
    (!opts.hashed ||
      (bytesEqual(row.prev, genesisHash(runId)) &&
        bytesEqual(linkHash(row.prev, row.body), row.hash)))
  ) {
    const e = decodeRecord(runId, 1, row.body);
    if (e.type === 'RunStarted') return e;
  }
  throw await corruptRun(store, runId, outcome);
}

/** The run's first chain failure as an error naming run, seq and reason; none when it verifies. */
export async function chainDamage(
  store: LedgerStore,
  runId: string,
  outcome: string,
): Promise<LedgerCorruptError | undefined> {
  const f = (await verifyStoredRun(store, runId)).failure;
  return f ? new LedgerCorruptError(runId, f.seq, f.reason, f.detail, outcome) : undefined;
}

export interface LedgerVerification {
  readonly ok: boolean;
  readonly runsChecked: number;
  readonly eventsChecked: number;
  readonly runs: RunVerification[];
  /**
   * With `verifyWholeLedger`: events of runs whose head row is gone, and runs only the read models
   * still list (each fails the ledger).
   */
  readonly orphans?: VerifyFailure[];
}

export async function verifyStoredRuns(
  store: LedgerStore,
  runIds: readonly string[],
  onProgress?: (done: number) => void,
): Promise<LedgerVerification> {
  const runs: RunVerification[] = [];
  let events = 0;
  for (const id of runIds) {
    const r = await verifyStoredRun(store, id);
    runs.push(r);
    events += r.events;
    onProgress?.(runs.length);
  }
  return { ok: runs.every((r) => r.ok), runsChecked: runs.length, eventsChecked: events, runs };
}

export async function allRunIds(store: LedgerStore): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listRuns({ limit: 1000, ...(after ? { afterRunId: after } : {}) });
    ids.push(...page.map((h) => h.runId));
    const last = page[page.length - 1];
    if (page.length < 1000 || !last) return ids;
    after = last.runId;
  }
}

/**
 * Events whose head row is gone, one failure per run (named from its lowest stored event's body):
 * hidden from every read but `orphans()` (ports.ts, ADR 130). Reads every event of the store;
 * with `runIdPrefix`, only what the store holds of the runs whose id starts with it, and names
 * only those (ADR 139).
 */
export async function orphanedRuns(
  store: LedgerStore,
  runIdPrefix?: string,
): Promise<VerifyFailure[]> {
  const found = (await store.orphans?.(runIdPrefix)) ?? [];
  return found.flatMap((o) => {
    let runId = '(unknown run)';
    try {
      runId = decodeEnvelope('(unknown run)', o.firstSeq, o.firstBody).runId;
    } catch {
      // An undecodable body still counts as an orphan; its run stays unnamed.
    }
    // A store may hand back more than the prefix names (SQLite v2: every orphaned run).
    if (runIdPrefix !== undefined && !runId.startsWith(runIdPrefix)) return [];
    return [
      {
        runId,
        seq: o.firstSeq,
        reason: VerifyReason.orphaned,
        detail: `${o.events} stored event${o.events === 1 ? '' : 's'} from seq ${o.firstSeq} belong to a run the store no longer lists (its head row was removed)`,
      },
    ];
  });
}

/** A run the read models list and the ledger holds no head row of (`lens verify --all`). */
export function unrecordedRun(runId: string): VerifyFailure {
  return {
    runId,
    seq: 1,
    reason: VerifyReason.unrecorded,
    detail:
      'the read models list this run but the ledger holds no head row of it (removed from the ledger, or never recorded)',
  };
}

/**
 * Every run the store lists, and then what it no longer lists: events whose head row was deleted
 * are hidden from every read but `orphans()`, and a removed run is a tampered ledger (ADR 6).
 */
export async function verifyWholeLedger(
  store: LedgerStore,
  onProgress?: (done: number, total: number) => void,
): Promise<LedgerVerification> {
  const ids = await allRunIds(store);
  const runs = await verifyStoredRuns(store, ids, (done) => onProgress?.(done, ids.length));
  const orphans = await orphanedRuns(store);
  // A run removed whole (head row and events) leaves nothing in the ledger to find; a read-model
  // row derived from it still names it.
  for (const runId of (await store.unrecordedRuns?.()) ?? []) {
    if (orphans.some((o) => o.runId === runId)) continue;
    orphans.push(unrecordedRun(runId));
  }
  return {
    ...runs,
    ok: runs.ok && orphans.length === 0,
    orphans,
  };
}
