/**
 * A resumed run's state in memory, from what loadForResume read (load.ts): the latest snapshot's
 * fold with the events after it folded on, or, without a snapshot, a refold of every event; and
 * the run's summary to match.
 */
import { refold, refoldFrom, restoreFold, type FoldState } from '../actors/fold.js';
import type { RunMachine } from '../actors/machine.js';
import type { NewEvent } from '../events/catalogue.js';
import type { LoadedRun } from './load.js';
import { pictureOf, type SnapshotChain } from './snapshot.js';
import { RunSummary } from './summary.js';

export function withEvents(summary: RunSummary, events: readonly NewEvent[]): RunSummary {
  for (const e of events) summary.apply(e);
  return summary;
}

export function restoreRun(
  machine: RunMachine,
  runId: string,
  loaded: LoadedRun,
): { state: FoldState; summary: RunSummary; chain: SnapshotChain | null } {
  let state: FoldState;
  let summary: RunSummary;
  let chain: SnapshotChain | null = null;
  if (loaded.snapshot) {
    // Pick up where the snapshot left off; replay (not resume) is what refolds from zero.
    const snap = loaded.snapshot;
    state = restoreFold(machine, runId, snap.fold);
    // The next snapshot's context changes are taken against the context this one holds.
    chain = { ...snap.chain, context: pictureOf(state.snapshot.context as object) };
    refoldFrom(
      machine,
      state,
      loaded.events.filter((e) => e.seq > snap.uptoSeq),
    );
    summary = RunSummary.fromChain(runId, snap.summaries);
    for (const e of loaded.events) summary.apply(e);
  } else {
    state = refold(machine, loaded.events);
    summary = withEvents(new RunSummary(runId), loaded.events);
  }
  return { state, summary, chain };
}
