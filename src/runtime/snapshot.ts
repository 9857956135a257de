/**
 * A SnapshotTaken: the fold state after a batch and the run summary as of before it (the summary
 * takes events once they are recorded), so resume can start from it instead of refolding. The
 * summary is whole in a key snapshot and a delta on the one before in the others (ADR 38).
 */
import { foldSnapshot, type FoldState } from '../actors/fold.js';
import type { NewEvent } from '../events/catalogue.js';
import { encodeCanonical } from '../events/codec.js';
import type { RunSummary } from './summary.js';

/**
 * The latest snapshot as the next one's base: its seq, the summary's event count when it was
 * taken, `keyBytes` the size of the key snapshot its chain starts at and `chainBytes` the deltas'
 * since. A new snapshot is a delta while the deltas stay smaller than their key snapshot, so a
 * resume decodes at most about twice a full summary, and the key snapshots' sizes grow
 * geometrically, keeping the ledger's snapshots linear in the run.
 */
export interface SnapshotChain {
  readonly seq: number;
  readonly events: number;
  readonly keyBytes: number;
  readonly chainBytes: number;
}

/**
 * The snapshot closing a batch that ends at `uptoSeq`, or null when it would be larger than
 * `maxBytes` or holds a value outside the data model (then the run is simply not snapshotted),
 * with the chain as it stands after it. While the run's `chain` allows, the summary is a delta:
 * only the steps changed since the snapshot the chain ends at, which `summaryBase` names
 * (ADR 38); otherwise it is whole and the snapshot starts a new chain.
 */
export function snapshotEvent(
  state: FoldState,
  status: FoldState['status'],
  summary: RunSummary,
  summaryUpto: number,
  uptoSeq: number,
  opts: {
    readonly maxBytes: number;
    readonly fingerprint?: string;
    readonly chain: SnapshotChain | null;
  },
): { event: NewEvent; chain: SnapshotChain } | null {
  const c = opts.chain;
  const base = c !== null && c.chainBytes < c.keyBytes ? c : undefined;
  const data = {
    uptoSeq,
    state: {
      fold: { ...foldSnapshot(state), status },
      summary: summary.toJSON(base?.events),
      summaryUpto,
      ...(base ? { summaryBase: base.seq } : {}),
      ...(opts.fingerprint !== undefined ? { fingerprint: opts.fingerprint } : {}),
    },
  };
  let bytes: number;
  try {
    bytes = encodeCanonical(data).length;
  } catch {
    return null;
  }
  if (bytes > opts.maxBytes) return null;
  const at = { seq: uptoSeq + 1, events: summary.eventCount };
  const chain = base
    ? { ...at, keyBytes: base.keyBytes, chainBytes: base.chainBytes + bytes }
    : { ...at, keyBytes: bytes, chainBytes: 0 };
  return { event: { type: 'SnapshotTaken', data }, chain };
}
