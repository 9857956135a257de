/**
 * Verifies runs in a store: streams each run's rows through the chain verifier together with the
 * head the store recorded in the same transactions.
 */
import { decodeEnvelope } from '../events/envelope.js';
import {
  createRunVerifier,
  VerifyReason,
  type RunVerification,
  type VerifyFailure,
} from '../events/verify.js';
import { LedgerCorruptError } from '../errors.js';
import type { LedgerStore } from '../ports.js';

const PAGE = 2000;

/** Streams the run's rows page by page through the chain verifier: memory stays bounded. */
export async function verifyStoredRun(store: LedgerStore, runId: string): Promise<RunVerification> {
  const head = await store.head(runId);
  const verifier = createRunVerifier(runId, head ?? undefined);
  let from = 1;
  for (;;) {
    const page = await store.read(runId, { fromSeq: from, limit: PAGE });
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
 * Every run the store lists, and then what it no longer lists: events whose head row was deleted
 * are hidden from every read but `orphans()`, and a removed run is a tampered ledger (ADR 6).
 */
export async function verifyWholeLedger(
  store: LedgerStore,
  onProgress?: (done: number, total: number) => void,
): Promise<LedgerVerification> {
  const ids = await allRunIds(store);
  const runs = await verifyStoredRuns(store, ids, (done) => onProgress?.(done, ids.length));
  const orphans: VerifyFailure[] =
    (await store.orphans?.())?.map((o) => {
      let runId = '(unknown run)';
      try {
        runId = decodeEnvelope('(unknown run)', o.firstSeq, o.firstBody).runId;
      } catch {
        // An undecodable body still counts as an orphan; its run stays unnamed.
      }
      return {
        runId,
        seq: o.firstSeq,
        reason: VerifyReason.orphaned,
        detail: `${o.events} stored event${o.events === 1 ? '' : 's'} from seq ${o.firstSeq} belong to a run the store no longer lists (its head row was removed)`,
      };
    }) ?? [];
  // A run removed whole (head row and events) leaves nothing in the ledger to find; a read-model
  // row derived from it still names it.
  for (const runId of (await store.unrecordedRuns?.()) ?? []) {
    if (orphans.some((o) => o.runId === runId)) continue;
    orphans.push({
      runId,
      seq: 1,
      reason: VerifyReason.unrecorded,
      detail:
        'the read models list this run but the ledger holds no head row of it (removed from the ledger, or never recorded)',
    });
  }
  return {
    ...runs,
    ok: runs.ok && orphans.length === 0,
    orphans,
  };
}
