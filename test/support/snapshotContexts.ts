/**
 * The machine context each SnapshotTaken of a run stands for, rebuilt as resume does: through its
 * chain of `summaryBase` links back to a snapshot holding the context whole (ADR 39).
 */
import type { LedgerEvent } from '../../src/events/envelope.js';
import { foldFromChain } from '../../src/runtime/snapshot.js';

export interface SnapshotContext {
  readonly seq: number;
  readonly uptoSeq: number;
  /** The snapshot holds context changes on an earlier one, not the whole context. */
  readonly delta: boolean;
  readonly fold: Record<string, unknown>;
  readonly context: Record<string, Record<string, unknown>>;
}

interface SnapData {
  uptoSeq: number;
  state: { fold: Record<string, unknown>; summaryBase?: number };
}

export function snapshotContexts(events: readonly LedgerEvent[]): SnapshotContext[] {
  const snaps = new Map<number, SnapData>();
  for (const e of events)
    if (e.type === 'SnapshotTaken') snaps.set(e.seq, e.data as unknown as SnapData);
  return [...snaps].map(([seq, data]) => {
    const chain: { seq: number; fold: Record<string, unknown> }[] = [];
    for (let at: number | undefined = seq; at !== undefined;) {
      const d = snaps.get(at);
      if (!d) throw new Error(`seq ${at} is not a snapshot`);
      // foldFromChain updates the whole context it starts from in place: give it a copy.
      chain.unshift({ seq: at, fold: structuredClone(d.state.fold) });
      at = d.state.summaryBase;
    }
    const fold = foldFromChain('test', chain);
    return {
      seq,
      uptoSeq: data.uptoSeq,
      delta: !('context' in data.state.fold),
      fold,
      context: fold.context as SnapshotContext['context'],
    };
  });
}
