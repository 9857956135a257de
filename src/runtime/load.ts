/**
 * What a resume reads: the run's first event (its pipeline fingerprint) and, from its latest
 * snapshot on, the rest — or every event of a run that has no snapshot yet.
 */
import { EngineError, ErrorCode } from '../errors.js';
import { decodeRecord, type LedgerEvent } from '../events/envelope.js';
import type { LedgerStore } from '../ports.js';

export interface LoadedRun {
  readonly first: LedgerEvent | undefined;
  /** The latest snapshot, if any, with the fold and summary it holds. */
  readonly snapshot?: {
    uptoSeq: number;
    fold: Record<string, unknown>;
    summary: Record<string, unknown>;
  };
  /** With a snapshot: the events after its summary; without: every event. */
  readonly events: LedgerEvent[];
}

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
  const windowStart = Math.max(1, headSeq - 2 * snapshotEvery + 1);
  const tail = snapshotEvery > 0 ? await ledger.read(runId, { fromSeq: windowStart }) : [];
  const snapRow = [...tail].reverse().find((r) => r.type === 'SnapshotTaken');
  if (!snapRow) {
    // A short run fits in the window just read: decode it instead of reading it again.
    const rows = snapshotEvery > 0 && windowStart === 1 ? tail : await ledger.read(runId);
    const events = rows.map((r) => decodeRecord(runId, r.seq, r.body));
    return { first: events[0], events };
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
  };
  const [firstRow] = await ledger.read(runId, { fromSeq: 1, limit: 1 });
  const from = st.summaryUpto + 1;
  const rows =
    from >= windowStart
      ? tail.filter((r) => r.seq >= from)
      : await ledger.read(runId, { fromSeq: from });
  return {
    first: firstRow ? decodeRecord(runId, firstRow.seq, firstRow.body) : undefined,
    snapshot: { uptoSeq: snap.data.uptoSeq, fold: st.fold, summary: st.summary },
    events: rows.map((r) => decodeRecord(runId, r.seq, r.body)),
  };
}
