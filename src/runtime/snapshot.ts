/**
 * A SnapshotTaken: the fold state after a batch and the run summary as of before it (the summary
 * takes events once they are recorded), so resume can start from it instead of refolding. The
 * summary is whole in a key snapshot and a delta on the one before in the others (ADR 38).
 */
import { foldSnapshot, type FoldState } from '../actors/fold.js';
import type { NewEvent } from '../events/catalogue.js';
import { encodeCanonical } from '../events/codec.js';
import type { RunSummary } from './summary.js';

/** The snapshot a delta builds on: its seq and the summary's event count when it was taken. */
export interface SnapshotBase {
  readonly seq: number;
  readonly events: number;
}

/**
 * The latest snapshot as the next one's base: `keyBytes` is the size of the key snapshot its chain
 * starts at and `chainBytes` the deltas' since. A new snapshot is a delta while the deltas stay
 * smaller than their key snapshot, so a resume decodes at most about twice a full summary, and
 * the key snapshots' sizes grow geometrically, keeping the ledger's snapshots linear in the run.
 */
export interface SnapshotChain extends SnapshotBase {
  readonly keyBytes: number;
  readonly chainBytes: number;
}

/** The chain after a snapshot of `bytes` built on `base` (a key snapshot without one). */
export function chainAfter(
  base: SnapshotChain | undefined,
  at: SnapshotBase,
  bytes: number,
): SnapshotChain {
  return base
    ? { ...at, keyBytes: base.keyBytes, chainBytes: base.chainBytes + bytes }
    : { ...at, keyBytes: bytes, chainBytes: 0 };
}

/** The base for the next snapshot's delta, or undefined when it should be a key snapshot. */
export const deltaBase = (chain: SnapshotChain | null): SnapshotChain | undefined =>
  chain !== null && chain.chainBytes < chain.keyBytes ? chain : undefined;

/**
 * The snapshot closing a batch that ends at `uptoSeq`, or null when it would be larger than
 * `maxBytes` or holds a value outside the data model (then the run is simply not snapshotted).
 * With a `base`, the summary is a delta: only the steps changed since that snapshot, which
 * `summaryBase` names (ADR 38). `bytes` is the event's encoded data.
 */
export function snapshotEvent(
  state: FoldState,
  status: FoldState['status'],
  summary: RunSummary,
  summaryUpto: number,
  uptoSeq: number,
  opts: { readonly maxBytes: number; readonly fingerprint?: string; readonly base?: SnapshotBase },
): { event: NewEvent; bytes: number } | null {
  const data = {
    uptoSeq,
    state: {
      fold: { ...foldSnapshot(state), status },
      summary: summary.toJSON(opts.base?.events),
      summaryUpto,
      ...(opts.base ? { summaryBase: opts.base.seq } : {}),
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
  return { event: { type: 'SnapshotTaken', data }, bytes };
}
