/**
 * Spent records (ADR 86, "the bound"): a work message JetStream stopped delivering while a worker
 * handles it, and whose work is not in the ledger yet, stays in `<NS>_WORK` for that handling to
 * settle. If that worker dies or its handling wedges, nothing else would ever look at it: the
 * consumer does not deliver it again and its ack floor does not move past it. So the worker
 * records it on `<ns>.dead.spent.<seq>.<run>` in the dead-letter stream (five tokens: not a dead
 * letter to `<ns>.dead.*.*`, nor a log record), with when it took it in hand and who it is; the
 * record is purged when the handling settles the message or takes it out of the queue. Every
 * worker sweeps the records: one older than the bound whose message is still queued and not
 * settled by its run is kept as a dead letter, as MAX_DELIVERIES ones are (same message id, so
 * workers sweeping at once store it once).
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

import { runOfToken, runToken, type FleetNames, type WorkKind } from '../adapters/nats/work.js';

export interface SpentRecord {
  /** The work message's stream sequence in `<NS>_WORK`. */
  readonly seq: number;
  readonly runId: string;
  readonly kind: WorkKind;
  /** The worker handling it (its `--name`). */
  readonly worker: string;
  /** When that worker took it in hand after its deliveries ran out (ms since the epoch). */
  readonly since: number;
}

export const spentSubject = (n: FleetNames, seq: number, runId: string) =>
  `${n.namespace}.dead.spent.${seq}.${runToken(runId)}`;

const spentFilter = (n: FleetNames, seq?: number) => `${n.namespace}.dead.spent.${seq ?? '*'}.*`;

/** Records that `rec.worker` settles message `rec.seq` by hand from `rec.since` on. */
export async function recordSpent(
  js: JetStreamClient,
  n: FleetNames,
  rec: SpentRecord,
): Promise<void> {
  await js.publish(
    spentSubject(n, rec.seq, rec.runId),
    JSON.stringify({
      seq: rec.seq,
      run_id: rec.runId,
      kind: rec.kind,
      worker: rec.worker,
      since: new Date(rec.since).toISOString(),
    }),
    { msgID: `spent:${n.stream}:${rec.seq}`, timeout: 5_000 },
  );
}

/** Removes the record of message `seq` (none is fine). */
export async function clearSpent(jsm: JetStreamManager, n: FleetNames, seq: number): Promise<void> {
  await jsm.streams.purge(n.deadStream, { filter: spentFilter(n, seq) });
}

/** Every spent record, oldest first. */
export async function listSpent(jsm: JetStreamManager, n: FleetNames): Promise<SpentRecord[]> {
  const info = await jsm.streams.info(n.deadStream, { subjects_filter: spentFilter(n) });
  const out: SpentRecord[] = [];
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const stored = await jsm.streams
      .getMessage(n.deadStream, { last_by_subj: subject })
      .catch(() => null);
    if (!stored) continue;
    const parts = subject.split('.');
    try {
      const v = stored.json<{ seq?: unknown; kind?: unknown; worker?: unknown; since?: unknown }>();
      const seq = Number(parts[3]);
      const since = Date.parse(String(v.since));
      if (!Number.isSafeInteger(seq) || !Number.isFinite(since)) continue;
      out.push({
        seq,
        runId: runOfToken(parts[4] ?? ''),
        kind: String(v.kind) as WorkKind,
        worker: typeof v.worker === 'string' ? v.worker : 'unknown',
        since,
      });
    } catch {
      // not a record of ours: leave it
    }
  }
  return out.sort((a, b) => a.since - b.since);
}
