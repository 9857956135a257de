/**
 * What a publish JetStream took for a duplicate (the same `Nats-Msg-Id` within its window) waits
 * for, so that it reports the run as it stands, as the command would without `--fleet` (QA: a
 * duplicate start of a run that had completed said `queued`):
 *
 * - the earlier message (`seq`) is still in the work queue, queued or in a worker's hands: its
 *   outcome;
 * - another message of the run is (an answer, a start handed back): the next outcome published
 *   for the run;
 * - none is: the run is at rest, since a message leaves the queue only once its run is (or it is
 *   refused). The same work is asked again under a fresh id: a start of a recorded run reports it
 *   as `flujo run --run-id` does (its result once it ended, the question once it paused), a
 *   cancel as a worker's cancel does, and neither records anything for a run at rest. An answer
 *   is never sent again (it would answer the run's next question): nothing to wait for.
 *
 * A worker removes a message from the queue before it publishes the outcome (release.ts), and the
 * caller subscribed to the outcomes before publishing, so no outcome falls between the looks.
 */
import type { JetStreamManager } from '@nats-io/jetstream';

import { queuedFor, type FleetNames, type WorkKind } from '../adapters/nats/work.js';

/** The stream seq whose outcome to wait for, any of the run's, ask again, or nothing. */
export type DuplicateAwaits = number | 'any' | 'ask' | 'nothing';

export async function duplicateAwaits(
  jsm: JetStreamManager,
  names: FleetNames,
  kind: WorkKind,
  runId: string,
  seq: number,
): Promise<DuplicateAwaits> {
  // A look that fails is taken for "still there": waiting is safe, asking again may not be.
  const earlier = await jsm.streams.getMessage(names.stream, { seq }).catch(() => undefined);
  if (earlier !== null) return seq;
  if ((await queuedFor(jsm, names, runId).catch(() => 1)) > 0) return 'any';
  return kind === 'resume' ? 'nothing' : 'ask';
}
