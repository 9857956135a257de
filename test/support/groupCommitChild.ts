/**
 * A child process for the group commit tests (ADR 54): appends one event to each of RUNS runs at
 * once, round after round, in the SQLite ledger at PATH (synchronous=FULL, group commit on), and
 * prints "round R SEQ" once every append of round R has resolved. Modes:
 *   hold  PATH RUNS ROUNDS  after the last round's line, blocks its thread (never returns to the
 *                           event loop) until killed: whatever it printed must already be on disk.
 *   crash PATH RUNS ROUNDS  in round ROUNDS, an inline projection kills the process with SIGKILL
 *                           while it writes the append of the middle run, inside the shared
 *                           transaction, after the appends before it in the group have been written.
 */
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../src/events/chain.js';
import { emptyHead, type Head } from '../../src/events/envelope.js';

const [mode, path, runsArg, roundsArg] = process.argv.slice(2);
if ((mode !== 'hold' && mode !== 'crash') || !path) {
  throw new Error('usage: groupCommitChild hold|crash PATH RUNS ROUNDS');
}
const runs = Number(runsArg);
const rounds = Number(roundsArg);
await initFastHash();

const runIds = Array.from({ length: runs }, (_, i) => `g${i}`);
const victim = runIds[Math.floor(runs / 2)];
let round = 0;
const store = createSqliteLedger({
  path,
  synchronous: 'FULL',
  // Every append made while another run is in flight waits for the next turn of the event loop,
  // however slow the machine is between two rounds.
  groupCommit: { togetherMs: 60_000 },
  projections: [
    (_db, records) => {
      if (mode === 'crash' && round === rounds && records[0]?.runId === victim) {
        process.kill(process.pid, 'SIGKILL');
      }
    },
  ],
});

const heads = new Map<string, Head>(runIds.map((id) => [id, emptyHead(id)]));
for (round = 1; round <= rounds; round++) {
  const results = await Promise.all(
    runIds.map((runId) =>
      store.append({
        runId,
        expected: heads.get(runId) as Head,
        at: 1_764_000_000_000 + round,
        events: [
          round === 1
            ? {
                type: 'RunStarted',
                data: {
                  pipeline: { name: 'group', fingerprint: 'f'.repeat(64) },
                  input: round,
                  engine: { version: '0.1.0', flags: [] },
                },
              }
            : { type: 'StepCompleted', data: { path: `s${round}`, output: { round } } },
        ],
      }),
    ),
  );
  for (const r of results) heads.set(r.head.runId, r.head);
  process.stdout.write(`round ${round} ${results[0]?.head.seq ?? 0}\n`);
}
if (mode === 'hold') {
  // Never return to the event loop: nothing queued for later can run before the kill.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}
