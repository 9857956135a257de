/**
 * A child process for the background checkpoint tests: appends batches of 1..25 events to RUN in
 * the SQLite ledger at PATH (synchronous=NORMAL, the background checkpointer started after 8
 * commits and resetting the WAL every 100 frames), printing "batch B SEQ BACKGROUND ONWRITER"
 * after each commit, until killed. With a third argument N, it stops after N batches and returns
 * without closing the ledger: the process must still exit by itself.
 *   usage: checkpointChild PATH RUN [N]
 */
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../src/events/chain.js';
import { floodBatch, floodResume } from './flood.js';

const [path, runId, stopAfter] = process.argv.slice(2);
const last = stopAfter === undefined ? Infinity : Number(stopAfter);
if (!path || !runId) throw new Error('usage: checkpointChild PATH RUN');
await initFastHash();
const store = createSqliteLedger({
  path,
  synchronous: 'NORMAL',
  checkpoint: { startAfter: 8, every: 4, resetFrames: 100 },
});
let { head, batch } = await floodResume(store, runId);
while (batch < last) {
  head = (
    await store.append({
      runId,
      expected: head,
      at: 1_764_000_000_000 + batch,
      events: floodBatch(batch),
    })
  ).head;
  const s = store.checkpoints();
  process.stdout.write(`batch ${batch} ${head.seq} ${s?.background ?? 0} ${s?.onWriter ?? 0}\n`);
  batch += 1;
}
