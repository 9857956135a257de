/**
 * What a resume reads: the run's first event (its pipeline fingerprint) and, from its latest
 * snapshot on, the rest — or every event of a run that has no snapshot yet.
 */
import { EngineError, ErrorCode } from '../errors.js';
import { decodeRecord, type LedgerEvent } from '../events/envelope.js';
import type { LedgerStore } from '../ports.js';
import type { StoredRecord } from '../events/envelope.js';

export interface LoadedRun {
  /** The pipeline fingerprint the run started with (RunStarted), when it has one. */
  readonly fingerprint: string | undefined;
  /** The latest snapshot, if any, with the fold and summary it holds. */
  readonly snapshot?: {
    uptoSeq: number;
    fold: Record<string, unknown>;
    summary: Record<string, unknown>;
  };
  /** With a snapshot: the events after its summary; without: every event. */
  readonly events: LedgerEvent[];
  /** Bytes of the events after the latest snapshot (all of them without one). */
  readonly bytesSinceSnapshot: number;
}

/** How many of the last events are read first, looking for a snapshot. */
const NEAR = 4;

const bytesAfter = (rows: readonly StoredRecord[], seq: number) =>
  rows.reduce((n, r) => (r.seq > seq ? n + r.body.length : n), 0);

/**
 * Snapshots are at most `snapshotEvery` events apart, so the latest one is within the last
 * 2 × snapshotEvery events: that window is read first, and a short run is all in it.
 */
export async function loadForResume(
  ledger: LedgerStore,
  runId: string,
  headSeq: number,
  snapshotEvery: number,
): Promise<LoadedRun> {
  // A run resumed from a pause usually ends with the snapshot its pause append closed with:
  // look at the last few events first, and at the whole window only when that finds none.
  const nearStart = Math.max(1, headSeq - NEAR + 1);
  const near = snapshotEvery > 0 ? await ledger.read(runId, { fromSeq: nearStart }) : [];
  const nearSnap = near.findLast((r) => r.type === 'SnapshotTaken');
  const windowStart = nearSnap ? nearStart : Math.max(1, headSeq - 2 * snapshotEvery + 1);
  const tail =
    nearSnap || snapshotEvery <= 0 || windowStart === nearStart
      ? near
      : await ledger.read(runId, { fromSeq: windowStart });
  const snapRow = nearSnap ?? tail.findLast((r) => r.type === 'SnapshotTaken');
  if (!snapRow) {
    // A short run fits in the window just read: decode it instead of reading it again.
    const rows = snapshotEvery > 0 && windowStart === 1 ? tail : await ledger.read(runId);
    const events = rows.map((r) => decodeRecord(runId, r.seq, r.body));
    return { fingerprint: startedWith(events[0]), events, bytesSinceSnapshot: bytesAfter(rows, 0) };
  }
  const snap = decodeRecord(runId, snapRow.seq, snapRow.body);
  if (snap.type !== 'SnapshotTaken')
    throw new EngineError(
      ErrorCode.LEDGER_DECODE,
      `run ${runId} seq ${snapRow.seq} is not a snapshot`,
    );
  const st = snap.data.state as {
    fold: Record<string, unknown>;
    summary: Record<string, unknown>;
    summaryUpto: number;
    fingerprint?: unknown;
  };
  // Snapshots carry the run's fingerprint; older ones do not, and then RunStarted is read.
  let fingerprint = typeof st.fingerprint === 'string' ? st.fingerprint : undefined;
  if (fingerprint === undefined) {
    const [firstRow] =
      windowStart === 1 ? tail : await ledger.read(runId, { fromSeq: 1, limit: 1 });
    fingerprint = firstRow
      ? startedWith(decodeRecord(runId, firstRow.seq, firstRow.body))
      : undefined;
  }
  const from = st.summaryUpto + 1;
  const rows =
    from >= windowStart
      ? tail.filter((r) => r.seq >= from)
      : await ledger.read(runId, { fromSeq: from });
  return {
    fingerprint,
    snapshot: { uptoSeq: snap.data.uptoSeq, fold: st.fold, summary: st.summary },
    events: rows.map((r) => decodeRecord(runId, r.seq, r.body)),
    bytesSinceSnapshot: bytesAfter(tail, snapRow.seq),
  };
}

const startedWith = (e: LedgerEvent | undefined) =>
  e?.type === 'RunStarted' ? e.data.pipeline.fingerprint : undefined;
