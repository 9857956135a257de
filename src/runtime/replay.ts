/**
 * Replay: refold a recorded run through its pipeline and report whether every recorded decision
 * comes out the same. Nothing is appended; a chain that does not verify is refused first.
 */
import { refold } from '../actors/fold.js';
import type { RunMachine } from '../actors/machine.js';
import { LedgerCorruptError, NondeterminismError } from '../errors.js';
import { initFastHash } from '../events/chain.js';
import { decodeRecord } from '../events/envelope.js';
import { verifyRun } from '../events/verify.js';
import type { LedgerStore } from '../ports.js';
import type { ReplayResult } from './engineTypes.js';
import { summarize } from './summary.js';

/** `machine` is asked for only once the recorded chain has verified. */
export async function replayRun(
  ledger: LedgerStore,
  runId: string,
  machine: () => RunMachine,
): Promise<ReplayResult> {
  await initFastHash();
  // What a replay vouches for is the recorded run: a chain that does not verify is refused
  // (naming its first bad seq), never refolded into 'identical'.
  const rows = await ledger.read(runId);
  const checked = verifyRun(runId, rows, (await ledger.head(runId)) ?? undefined);
  if (checked.failure) {
    const f = checked.failure;
    // An event this Flujo cannot read (a newer version): its own decode error says to upgrade.
    const bad = f.reason === 'bad_event' ? rows.find((r) => r.seq === f.seq) : undefined;
    if (bad) decodeRecord(runId, bad.seq, bad.body);
    throw new LedgerCorruptError(runId, f.seq, f.reason, f.detail, 'the run was not replayed');
  }
  const events = rows.map((r) => decodeRecord(runId, r.seq, r.body));
  let asRecorded: ReplayResult['asRecorded'];
  try {
    asRecorded = refold(machine(), events).asRecorded;
  } catch (e) {
    if (!(e instanceof NondeterminismError)) throw e;
    return {
      runId,
      identical: false,
      events: events.length,
      firstDivergence: { seq: e.seq, expected: e.expected, recorded: e.recorded },
    };
  }
  const s = summarize(runId, events);
  return {
    runId,
    identical: true,
    events: events.length,
    ...(s.status === 'completed' ? { output: s.output } : {}),
    ...(asRecorded?.length ? { asRecorded } : {}),
  };
}
