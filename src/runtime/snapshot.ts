/**
 * A SnapshotTaken: the fold state after a batch and the run summary as of before it (the summary
 * takes events once they are recorded), so resume can start from it instead of refolding.
 */
import { foldSnapshot, type FoldState } from '../actors/fold.js';
import type { NewEvent } from '../events/catalogue.js';
import { encodeCanonical } from '../events/codec.js';
import type { RunSummary } from './summary.js';

/**
 * The snapshot closing a batch that ends at `uptoSeq`, or null when it would be larger than
 * `maxBytes` or holds a value outside the data model (then the run is simply not snapshotted).
 */
export function snapshotEvent(
  state: FoldState,
  status: FoldState['status'],
  summary: RunSummary,
  summaryUpto: number,
  uptoSeq: number,
  opts: { readonly maxBytes: number; readonly fingerprint?: string },
): NewEvent | null {
  const data = {
    uptoSeq,
    state: {
      fold: { ...foldSnapshot(state), status },
      summary: summary.toJSON(),
      summaryUpto,
      ...(opts.fingerprint !== undefined ? { fingerprint: opts.fingerprint } : {}),
    },
  };
  try {
    if (encodeCanonical(data).length > opts.maxBytes) return null;
  } catch {
    return null;
  }
  return { type: 'SnapshotTaken', data };
}
